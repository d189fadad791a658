"""Control groups (config-linux.md "Control groups"): host mode, path resolution, drivers.

Stdlib only and no work at import time: `state`, `kill` and `delete` import this on their path.

Modes, from /proc/self/mountinfo (statfs magic is out of Python's reach):
- "unified": /sys/fs/cgroup is cgroup2 (driver V2Driver, cgroups/v2.py);
- "legacy": v1 hierarchies only, "hybrid": v1 hierarchies plus a cgroup2 at /sys/fs/cgroup/unified
  (both use V1Driver, cgroups/v1.py; the v2 side of a hybrid host is left alone);
- "none": no cgroup filesystem mounted.

linux.cgroupsPath (resolve()): absolute: used as is under each hierarchy; relative: relative to
the runtime's own cgroup in each hierarchy (/proc/self/cgroup), as runc; absent:
/oci-runtime/<id>. With --systemd-cgroup it is runc's `slice:prefix:name`, mapped to the path
systemd would use (`machine.slice:libpod:ID` -> /machine.slice/libpod-ID.scope); creating such
a cgroup needs systemd, which this runtime does not drive: that fails naming systemd.

The driver interface (V1Driver and V2Driver implement it; constructor `(path, root)`, where path
is the resolved cgroup path, absolute within each hierarchy, and root the cgroup mount root):
    kind: str                     "v1" or "v2"
    created: list[str]            host directories create() made, parents first
    missing() -> list[str]        the directories create() would make now, parents first: saved as
                                  `created` before create() runs, so a create killed in the middle
                                  leaves nothing `delete --force` doesn't know about
    create() -> None              mkdir the cgroup (and missing parents), recording them in `created`
    owned() -> bool               create() made the container's own cgroup directory: everything in it
                                  is the container's (else it joined an existing cgroup, which may
                                  hold processes that are not: cleanup then kills the init only)
    apply(resources: dict)        raw LinuxResources JSON; an unsupported field raises OCIError
                                  naming the field and the missing controller, before or instead
                                  of a silent skip
    add(pid: int) -> None         move pid (and with it its future children) into the cgroup
    self_join() -> dict           how a process joins without add(), which waits for the global
                                  migration lock: {"tasks": v1 `tasks` files it writes "0" into
                                  (moves only the writing thread, which skips that lock),
                                  "cgroup2": the cgroup2 directory its children are born in
                                  (clone3's CLONE_INTO_CGROUP) or None}; see intermediate.join_cgroup
    pids() -> list[int]           every process in the cgroup
    freeze(), thaw(), frozen() -> bool
    stats() -> dict               runc's `events --stats` "data" object
    oom_kills() -> int            processes the OOM killer has killed in the cgroup so far
    destroy() -> None             remove the directories in `created` (deepest first; a parent
                                  only when empty), ignoring those already gone
    to_state() -> dict            what later commands need, saved in state.json ("cgroup")
load(saved) rebuilds a driver from to_state()'s dict. V2Driver also has delegate(uid) (see
delegation_uid below).
"""
import errno
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = "/sys/fs/cgroup"
UNIFIED = "unified"  # the cgroup2 hierarchy of a hybrid host, among the v1 ones
DEFAULT_PARENT = "/oci-runtime"


def _mounts() -> list[tuple[str, str, str, str]]:
    """(mount root, mount point, fstype, super options) of every cgroup/cgroup2 mount."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, post_fields = pre.split(), post.split()
            if len(post_fields) >= 3 and post_fields[0] in ("cgroup", "cgroup2"):
                found.append((_unescape(fields[3]), _unescape(fields[4]), post_fields[0], post_fields[2]))
    return found


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mode(root: str = ROOT) -> str:
    """unified, hybrid, legacy or none (see the module docstring)."""
    mounts = _mounts()
    if any(mp == root and fs == "cgroup2" for _, mp, fs, _ in mounts):
        return "unified"
    v1 = [mp for _, mp, fs, _ in mounts if fs == "cgroup" and os.path.dirname(mp) == root]
    if not v1:
        return "none"
    unified = any(fs == "cgroup2" and os.path.dirname(mp) == root for _, mp, fs, _ in mounts)
    return "hybrid" if unified else "legacy"


def v1_hierarchies(root: str = ROOT) -> dict[str, tuple[str, str]]:
    """Each v1 controller (and `name=` hierarchy) -> (mount point, mount root); on a hybrid host
    also UNIFIED -> the cgroup2 mount, where the container gets a (controller-less) cgroup too, as
    with runc."""
    out: dict[str, tuple[str, str]] = {}
    for mroot, mp, fs, opts in _mounts():
        if fs == "cgroup2" and os.path.dirname(mp) == root:
            out.setdefault(UNIFIED, (mp, mroot))
        if fs != "cgroup" or os.path.dirname(mp) != root:
            continue
        for opt in opts.split(","):
            if opt.startswith("name=") or ("=" not in opt and opt not in ("rw", "ro") and opt in _V1_CONTROLLERS):
                out.setdefault(opt, (mp, mroot))
    return out


_V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
                   "net_cls", "net_prio", "perf_event", "rdma", "misc"}


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """/proc/<pid>/cgroup as controller -> path; the cgroup2 entry is under "" and UNIFIED."""
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else ["", UNIFIED]:
                out[c] = path
    return out


def own_dirs() -> dict[str, str]:
    """Mount point of each cgroup hierarchy -> the host directory of this process's cgroup in it
    (/proc/self/cgroup, seen through the mount's root)."""
    own = own_cgroups()
    out = {}
    for mroot, mp, fs, opts in _mounts():
        if fs == "cgroup2":
            path = own.get("")
        else:
            keys = [o for o in opts.split(",") if o.startswith("name=") or o in _V1_CONTROLLERS]
            path = next((own[k] for k in keys if k in own), None)
        if path is None:
            continue
        if mroot != "/" and (path == mroot or path.startswith(mroot + "/")):
            path = path[len(mroot):] or "/"
        elif mroot != "/":
            continue  # our cgroup is outside what this mount shows
        d = os.path.normpath(mp + "/" + path)
        if os.path.isdir(d):
            out[mp] = d
    return out


def warm_up_migration() -> "Callable[[], None]":
    """Start paying, in a child process, the wait that the container's move into its cgroup would pay;
    returns the function that reaps the child, to call before touching cgroupfs (the child holds
    cgroup_mutex while it waits).

    Moving a process between cgroups takes a global lock (cgroup_threadgroup_rwsem) whose first
    writer after a quiet spell waits for an RCU grace period: 10-25 ms on this kernel, the longest
    single wait of a `create` or `exec`. A child writing its own pid into the cgroup it is in
    already (a move to nowhere) takes the same lock: started as soon as create/exec know that they
    will move the intermediate (a user or cgroup namespace: otherwise it moves itself, without that
    lock, see intermediate.join_cgroup), it waits while the checks of the config run, and the real
    move finds the lock warm (for about one grace period after). A process, not a thread: a thread
    would have to win the GIL first. Nothing changes if it fails."""
    directory = next(iter(own_dirs().values()), None)
    pid = os.fork() if directory is not None else 0
    if pid == 0 and directory is not None:
        try:
            fd = os.open(os.path.join(directory, "cgroup.procs"), os.O_WRONLY)
            os.write(fd, str(os.getpid()).encode())
        finally:
            os._exit(0)

    def reap() -> None:
        nonlocal pid
        if pid:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # reaped by someone else: done all the same
                pass
            pid = 0  # once: the number may go to another child of ours

    return reap


def systemd_path(cgroups_path: str, container_id: str) -> str:
    """runc's `slice:prefix:name` -> the cgroup path systemd would give the unit."""
    if not cgroups_path:
        cgroups_path = f"system.slice:oci-runtime:{container_id}"
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        from ..errors import ConfigError

        raise ConfigError(f'linux.cgroupsPath: expected "slice:prefix:name" for systemd cgroups, got {cgroups_path!r}')
    slice_, prefix, name = parts
    unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return expand_slice(slice_ or "system.slice") + "/" + unit


def expand_slice(slice_: str) -> str:
    """systemd's slice nesting: `a-b-c.slice` -> /a.slice/a-b.slice/a-b-c.slice; `-.slice` is /."""
    from ..errors import ConfigError

    if not slice_.endswith(".slice") or "/" in slice_:
        raise ConfigError(f"linux.cgroupsPath: invalid systemd slice {slice_!r}")
    base = slice_[: -len(".slice")]
    if base == "-":
        return ""
    path, prefix = "", ""
    for part in base.split("-"):
        if not part:
            raise ConfigError(f"linux.cgroupsPath: invalid systemd slice {slice_!r}")
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}.slice"
    return path


def resolve(cgroups_path: str | None, container_id: str, own: str) -> str:
    """The container's cgroup path within one hierarchy; `own` is the runtime's own cgroup there."""
    if not cgroups_path:
        return os.path.normpath(f"{DEFAULT_PARENT}/{container_id}")
    if cgroups_path.startswith("/"):
        return os.path.normpath(cgroups_path)
    return os.path.normpath(os.path.join(own or "/", cgroups_path))


def new_driver(cgroups_path: str | None, container_id: str, systemd: bool = False, root: str = ROOT):
    """The driver for a new container's cgroup on this host (create() not yet called)."""
    from ..errors import OCIError

    if systemd:
        path = systemd_path(cgroups_path or "", container_id)
        running = os.path.isdir("/run/systemd/system")
        raise OCIError(f"--systemd-cgroup: cannot create the systemd unit for {path}: "
                       + ("systemd is not running on this host (no /run/systemd/system)" if not running
                          else "the systemd cgroup driver is not supported by this runtime; drop --systemd-cgroup"))
    m = mode(root)
    if m == "unified":
        from .v2 import V2Driver

        own = own_cgroups().get("", "/")
        return V2Driver(resolve(cgroups_path, container_id, own), root)
    if m == "none":
        raise OCIError(f"cgroups: no cgroup filesystem is mounted at {root}")
    from .v1 import V1Driver

    return V1Driver(cgroups_path or "", root, container_id=container_id)


def load(saved: dict):
    """A driver rebuilt from the `cgroup` entry of state.json (Driver.to_state())."""
    if saved["kind"] == "v2":
        from .v2 import V2Driver

        d = V2Driver(saved["path"], saved["root"])
    else:
        from .v1 import V1Driver

        d = V1Driver.from_state(saved)
    d.created = list(saved.get("created", []))
    return d


def frozen(saved: dict) -> bool:
    """Driver.frozen() of the cgroup saved in state.json (to_state()), without importing the driver:
    `state`, `start`, `kill` and `delete` ask it of every container (the drivers' frozen() is this)."""
    if saved["kind"] == "v2":
        return _has_line(os.path.join(saved["root"], saved["path"].lstrip("/"), "cgroup.events"), "frozen 1")
    freezer = saved["paths"].get("freezer")
    return freezer is not None and _has_line(os.path.join(freezer, "freezer.state"), "FROZEN")


def _has_line(path: str, line: str) -> bool:
    try:
        with open(path) as f:
            return line in f.read().splitlines()
    except OSError as e:  # ENODEV: the cgroup is being removed (a racing delete)
        if e.errno in (errno.ENOENT, errno.ENODEV):
            return False
        raise


def delegation_uid(spec) -> int | None:
    """The host uid to give a cgroup v2 container's cgroup to (config-linux.md "Cgroup ownership"),
    or None: only with a new cgroup namespace and /sys/fs/cgroup mounted from "cgroup" without
    "ro", and never on cgroup v1 (delegation is not safe there; the caller checks the driver)."""
    cgroupns = spec.linux.namespace("cgroup")
    if cgroupns is None or cgroupns.path:
        return None
    if not any(m.source == "cgroup" and m.destination.rstrip("/") == "/sys/fs/cgroup" and "ro" not in m.options
               for m in spec.mounts):
        return None
    uid = spec.process.user.uid
    if not spec.linux.uid_mappings:
        return uid
    for m in spec.linux.uid_mappings:  # process.user.uid is the container's: map it to the host's
        if m.container_id <= uid < m.container_id + m.size:
            return m.host_id + uid - m.container_id
    return None
