"""`linux.intelRdt` (config-linux.md "IntelRdt"): the container's resctrl group, driven by the runtime process.

Like cgroups, this is host-side bookkeeping the runtime does around the container, not something applied inside it:
    ird = IntelRdt.from_config(spec.linux.intel_rdt, container_id)   # only when linux.intelRdt is set
    ird.create()        # before the init runs: checks, mkdir the CTRL_MON group and MON group, write schemata
    ird.add(pid)        # once the init pid is known: pid -> <group>/tasks (and <mon group>/tasks)
    ird.to_state()      # saved in state.json; `delete` (another process) does IntelRdt.load(saved).destroy()

The group is <resctrl>/<closID>, <resctrl> itself for closID "/", <resctrl>/<container id> without closID. The
MON group (enableMonitoring) is <group>/mon_groups/<container id>. destroy() removes the MON group and, only when
closID was not set and create() made it, the group; never a group named by closID or one that already existed.

Stdlib only (os) and no work at import time: `delete` imports this on its path.
"""
import os

from .errors import OCIError, describe

FIELD = "linux.intelRdt"
MOUNTINFO = "/proc/self/mountinfo"
# Names in the resctrl root that are not CTRL_MON groups: a closID (or container id) may not name them.
_RESERVED = frozenset({"info", "mon_groups", "mon_data"})
# Bandwidth resources hold decimal values (percent, or MBps with mba_MBps); every other one a hex bitmask.
_BANDWIDTH = frozenset({"MB", "SMBA"})


def _mkdir(path: str) -> None:
    """mkdir of a group. Kept apart (with _rmdir) because resctrl's differs from a plain directory's: the kernel
    fills a new group with its files (schemata, tasks, mon_groups/), and rmdir removes a group with them; the
    unit tests swap these two to emulate that on a fake tree."""
    os.mkdir(path, 0o755)


def _rmdir(path: str) -> None:
    os.rmdir(path)


def find_mount(mountinfo: str = MOUNTINFO) -> tuple[str, str] | None:
    """(mount point, super options) of the first resctrl mount in `mountinfo`, or None: there is one resctrl
    filesystem per host, so any of its mounts is the same tree."""
    with open(mountinfo) as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, post_fields = pre.split(), post.split()
            if len(fields) >= 5 and post_fields and post_fields[0] == "resctrl":
                return _unescape(fields[4]), post_fields[2] if len(post_fields) > 2 else ""
    return None


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _why(e: OSError) -> str:
    """The errno text alone: our messages name the path themselves."""
    return describe(OSError(e.errno, e.strerror))


class IntelRdt:
    """One container's resctrl placement. Build it with from_config() (or load() from to_state())."""

    def __init__(self, root: str, container_id: str, clos_id: str | None, lines: list[tuple[str, str]],
                 monitoring: bool, mba_mbps: bool = False) -> None:
        """lines: (JSON path, schemata line) in the order they are written; clos_id None when closID is unset."""
        self.root = root
        self.container_id = container_id
        self.clos_id = clos_id
        self.lines = lines
        self.monitoring = monitoring
        self.mba_mbps = mba_mbps  # resctrl mounted with -o mba_MBps: MB values are MBps, not rounded percentages
        name = container_id if clos_id is None else clos_id
        self.group = root if name == "/" else os.path.join(root, name)
        self.created_group = False  # create() made self.group
        self.mon_group: str | None = None  # the MON group create() made (or found named after the container)

    @classmethod
    def from_config(cls, intel_rdt: dict, container_id: str, root: str | None = None) -> "IntelRdt":
        """Check linux.intelRdt and find the resctrl mount (root None: from /proc/self/mountinfo, the runtime's
        mount namespace; a test passes a fake tree). Touches nothing."""
        if not isinstance(intel_rdt, dict):
            raise OCIError(f"{FIELD}: must be an object")
        clos_id = intel_rdt.get("closID")
        if clos_id is not None:
            if not isinstance(clos_id, str):
                raise OCIError(f"{FIELD}.closID: must be a string")
            if clos_id != "/" and not _group_name(clos_id):
                raise OCIError(f"{FIELD}.closID: {clos_id!r} is not a resctrl group name (one path component, "
                               f"not {', '.join(sorted(_RESERVED))}), nor \"/\"")
        monitoring = intel_rdt.get("enableMonitoring", False)
        if not isinstance(monitoring, bool):
            raise OCIError(f"{FIELD}.enableMonitoring: must be a boolean")
        if clos_id is None and not _group_name(container_id):
            raise OCIError(f"{FIELD}: the container id {container_id!r} cannot name a resctrl group (set closID)")
        if monitoring and not _group_name(container_id):
            raise OCIError(f"{FIELD}.enableMonitoring: the container id {container_id!r} cannot name a MON group")
        lines = _schemata_lines(intel_rdt)
        mba_mbps = False
        if root is None:
            try:
                mount = find_mount()
            except OSError as e:
                raise OCIError(f"{FIELD}: cannot read {MOUNTINFO}: {_why(e)}") from None
            if mount is None:
                raise OCIError(f"{FIELD}: no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl)")
            root, options = mount
            mba_mbps = "mba_MBps" in options.split(",")
        if not os.path.isdir(root):
            raise OCIError(f"{FIELD}: the resctrl mount point {root} is not a directory")
        return cls(root, container_id, clos_id, lines, monitoring, mba_mbps)

    # --- lifecycle -----------------------------------------------------------------------------------------

    def create(self) -> None:
        """Before the init runs: set up the group (and MON group) the init's pid will join. All checks come
        before any change; on failure what this call made is removed again, so a retry starts clean."""
        exists = os.path.isdir(self.group)
        if not exists and self.clos_id is not None and not self.lines:
            raise OCIError(f"{FIELD}.closID: the resctrl group {self.group} does not exist (without l3CacheSchema, "
                           f"memBwSchema or schemata, closID must name a pre-configured group)")
        try:
            if not exists:
                try:
                    _mkdir(self.group)
                    self.created_group = True
                except FileExistsError:
                    if not os.path.isdir(self.group):
                        raise OCIError(f"{FIELD}: {self.group} exists and is not a resctrl group") from None
                    exists = True  # made meanwhile by a container sharing the closID: compare, as below
                except OSError as e:
                    raise OCIError(f"{FIELD}: cannot create the resctrl group {self.group}: {_why(e)}"
                                   f"{self._status()}") from None
            if exists and self.lines:
                self._compare()
            if self.lines:
                self._write_schemata()
            if self.monitoring:
                self._create_mon_group()
        except BaseException:
            self._rollback()
            raise

    def add(self, pid: int) -> None:
        """Once the init pid is known: move it into the group, and into the MON group (which must follow:
        the kernel only takes a task into a MON group of the CTRL_MON group it is in)."""
        self._write_tasks(self.group, pid, FIELD)
        if self.mon_group is not None:
            self._write_tasks(self.mon_group, pid, f"{FIELD}.enableMonitoring")

    def destroy(self) -> None:
        """At delete: remove the MON group, and the group only if closID was unset and create() made it (a closID
        group is shared or managed by someone else: left as is). Idempotent; already-gone directories are fine."""
        if self.mon_group is not None:
            _remove(self.mon_group, f"{FIELD}.enableMonitoring", "MON group")
            self.mon_group = None
        if self.created_group and self.clos_id is None:
            _remove(self.group, FIELD, "resctrl group")
            self.created_group = False

    def to_state(self) -> dict:
        """JSON-able: what `delete` (another process) needs to destroy() exactly what create() made."""
        return {"root": self.root, "containerId": self.container_id, "closID": self.clos_id,
                "lines": [list(line) for line in self.lines], "monitoring": self.monitoring,
                "mbaMBps": self.mba_mbps, "group": self.group, "createdGroup": self.created_group,
                "monGroup": self.mon_group}

    @classmethod
    def load(cls, saved: dict) -> "IntelRdt":
        """The object to_state() described; reads nothing (the resctrl mount may be gone by now)."""
        ird = cls(saved["root"], saved["containerId"], saved.get("closID"),
                  [(field, line) for field, line in saved.get("lines", [])], bool(saved.get("monitoring")),
                  bool(saved.get("mbaMBps")))
        ird.group = saved.get("group", ird.group)
        ird.created_group = bool(saved.get("createdGroup"))
        ird.mon_group = saved.get("monGroup")
        return ird

    # --- steps ---------------------------------------------------------------------------------------------

    def _write_schemata(self) -> None:
        """l3CacheSchema, then memBwSchema, then each schemata element: one write() per line on one open file,
        so the kernel applies them in that order, each on its own (a later line may change what an earlier
        one set, as the spec's "written last" implies; one multi-line write would reject that as a duplicate)."""
        path = os.path.join(self.group, "schemata")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise OCIError(f"{FIELD}: cannot open {path}: {_why(e)}{self._status()}") from None
        try:
            for field, line in self.lines:
                data = (line + "\n").encode()
                try:
                    why = "short write" if os.write(fd, data) != len(data) else ""
                except OSError as e:
                    why = _why(e)
                if why:
                    raise OCIError(f"{field}: cannot write {line!r} to {path}: {why}{self._status()}")
        finally:
            os.close(fd)

    def _write_tasks(self, group: str, pid: int, field: str) -> None:
        """One pid per write, as the kernel wants it."""
        path = os.path.join(group, "tasks")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, f"{pid}\n".encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise OCIError(f"{field}: cannot add pid {pid} to {path}: {_why(e)}{self._status()}") from None

    def _create_mon_group(self) -> None:
        """<group>/mon_groups/<container id>. One already there is taken over (a container of this id that was
        never deleted left it; its tasks are gone), as runc does, and removed at delete like one we made."""
        mon = os.path.join(self.group, "mon_groups", self.container_id)
        try:
            _mkdir(mon)
        except FileExistsError:
            if not os.path.isdir(mon):
                raise OCIError(f"{FIELD}.enableMonitoring: {mon} exists and is not a MON group") from None
        except OSError as e:  # ENOSPC: no RMID left; ENOENT: no mon_groups, the host has no monitoring
            raise OCIError(f"{FIELD}.enableMonitoring: cannot create the MON group {mon}: {_why(e)}"
                           f"{self._status()}") from None
        self.mon_group = mon

    def _rollback(self) -> None:
        """Undo a failed create(): the MON group, and the group if this call made it, closID or not (left behind,
        a closID group would hold the default schemata and fail every retry's comparison)."""
        for path in (self.mon_group, self.group if self.created_group else None):
            if path is not None:
                try:
                    _rmdir(path)
                except OSError:
                    pass
        self.mon_group, self.created_group = None, False

    def _compare(self) -> None:
        """An existing group must already hold what the config asks for. "Match" means: writing the config's lines
        would leave the group's schemata unchanged. So, comparing the kernel's normalised read-back:
        - only the resources the config's lines name are compared (the kernel prints a line for every resource
          the host has: L2, L3CODE... that the config does not mention are not its business), and within a
          resource only the domains (cache ids) it names (a write leaves the other domains as they are);
        - lines apply in write order, a later line's domain overriding an earlier one's;
        - names and values are compared without surrounding whitespace (the kernel right-aligns resource names);
          domain ids as decimal numbers; cache bitmasks as hex numbers (the kernel zero-pads them to the mask's
          width: "01f" == "1f", as runc's comparison decodes and re-encodes them); bandwidth values (MB, SMBA)
          as decimal numbers, the config's rounded up to info/<resource>/bandwidth_gran as the kernel rounds on
          write (not with mba_MBps, where they are MBps, stored as given);
        - a named resource or domain that the group's schemata lacks is a mismatch.
        The first mismatch is the error, naming the field whose line asked for it."""
        path = os.path.join(self.group, "schemata")
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise OCIError(f"{FIELD}: cannot read {path}: {_why(e)}") from None
        have: dict[str, dict[str, str]] = {}
        for line in text.splitlines():
            parsed = _parse_line(line)
            if parsed is not None:
                have.setdefault(parsed[0], {}).update(parsed[1])
        want: dict[str, dict[str, tuple[str, str]]] = {}
        for field, line in self.lines:
            parsed = _parse_line(line)
            if parsed is None:
                raise OCIError(f"{field}: {line!r} is not a schemata line (<resource>:<id>=<value>;...)")
            name, domains = parsed
            want.setdefault(name, {}).update((dom, (value, field)) for dom, value in domains.items())
        for name, domains in want.items():
            for dom, (value, field) in domains.items():
                where = f"{field}: the existing resctrl group {self.group}"
                if name not in have:
                    raise OCIError(f"{where} has no {name} line in its schemata")
                if dom not in have[name]:
                    raise OCIError(f"{where} has no {name} domain {dom}")
                if self._value(name, value, True) != self._value(name, have[name][dom], False):
                    raise OCIError(f"{where} has {name}:{dom}={have[name][dom]}, the config asks for "
                                   f"{name}:{dom}={value}")

    def _value(self, name: str, value: str, rounded: bool) -> int | str:
        """A schemata value as the kernel stores it (see _compare); text it cannot parse compares as text."""
        text = value.strip().lower()
        info = os.path.join(self.root, "info", name)
        try:
            if name in _BANDWIDTH or os.path.exists(os.path.join(info, "bandwidth_gran")):
                n = int(text, 10)
                gran = 1 if self.mba_mbps and name == "MB" else _read_int(os.path.join(info, "bandwidth_gran"), 1)
                return -(-n // gran) * gran if rounded and gran > 1 else n
            return int(text, 16)
        except ValueError:
            return text

    def _status(self) -> str:
        """The kernel's explanation of the last resctrl failure (info/last_cmd_status), for error messages."""
        try:
            with open(os.path.join(self.root, "info", "last_cmd_status")) as f:
                status = " ".join(f.read().split())
        except OSError:
            return ""
        return f" (last_cmd_status: {status})" if status and status != "ok" else ""


def _group_name(name: object) -> bool:
    """A single path component naming a CTRL_MON group."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\0" not in name \
        and name not in _RESERVED


def _schemata_lines(intel_rdt: dict) -> list[tuple[str, str]]:
    """(JSON path, line) to write, in the spec's order. Empty strings are "not set", as with runc (Go's zero
    value), except memBwSchema, which MUST start with "MB:". Every line must be one line: written in one write()
    each, a newline would smuggle in a line the order rules do not account for."""
    lines = []
    l3 = intel_rdt.get("l3CacheSchema")
    if l3 is not None:
        if not isinstance(l3, str) or "\n" in l3:
            raise OCIError(f"{FIELD}.l3CacheSchema: is not a single line (a string without newlines)")
        if l3:
            lines.append((f"{FIELD}.l3CacheSchema", l3))
    mb = intel_rdt.get("memBwSchema")
    if mb is not None:
        if not isinstance(mb, str) or "\n" in mb or not mb.startswith("MB:"):
            raise OCIError(f"{FIELD}.memBwSchema: is not a single line starting with MB:")
        lines.append((f"{FIELD}.memBwSchema", mb))
    schemata = intel_rdt.get("schemata")
    if schemata is not None:
        if not isinstance(schemata, list):
            raise OCIError(f"{FIELD}.schemata: must be an array of strings")
        for i, line in enumerate(schemata):
            if not isinstance(line, str) or "\n" in line:
                raise OCIError(f"{FIELD}.schemata[{i}]: is not a single line (a string without newlines)")
            if line:
                lines.append((f"{FIELD}.schemata[{i}]", line))
    return lines


def _parse_line(line: str) -> tuple[str, dict[str, str]] | None:
    """("L3", {"0": "7f0", "1": "1f"}) for "L3:0=7f0;1=1f", blanks around parts dropped; None if not that shape."""
    name, sep, rest = line.partition(":")
    name = name.strip()
    if not sep or not name:
        return None
    domains = {}
    for token in rest.split(";"):
        if not token.strip():
            continue
        dom, eq, value = token.partition("=")
        dom, value = dom.strip(), value.strip()
        if not eq or not dom or not value:
            return None
        domains[str(int(dom)) if dom.isdigit() else dom] = value
    return name, domains


def _read_int(path: str, default: int) -> int:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return default
    return int(text) if text.isdigit() and int(text) > 0 else default


def _remove(path: str, field: str, what: str) -> None:
    try:
        _rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise OCIError(f"{field}: cannot remove the {what} {path}: {_why(e)}") from None
