"""The cgroup v2 (unified hierarchy) driver: one directory per container under the cgroup2 mount.

Values follow runc's conversions from the v1-shaped linux.resources (opencontainers/cgroups):
cpu.shares -> cpu.weight by runc's quadratic fit in log2 space, blockIO.weight -> io.weight
linearly from [10, 1000] to [1, 10000] (io.bfq.weight takes the v1 value as is), memory.swap
(memory+swap) -> memory.swap.max = swap - limit, -1 -> "max"; pids.limit 0 is a limit of 0
(config-linux.md: 0 "SHOULD be treated as such"; runc writes 1).

A resource whose controller is not enabled for the container's cgroup is an error naming the
config field and the controller. So is a v1 setting cgroup v2 has no file for (memory.swappiness,
disableOOMKiller, kernel memory, blockIO.leafWeight, network): config-linux.md "Unified" says a
conversion that is not possible MUST be an error (runc ignores them; conformance/deviations.md).
"""
import errno
import math
import os
import _signal as signal  # the signal module builds enums at import (~3 ms); the numbers are all we need
import time

from ..errors import OCIError, describe
from . import frozen as frozen_state

MAX_UINT64 = (1 << 64) - 1
V2_CONTROLLERS = {"cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc", "dmem"}


def cpu_shares_to_weight(shares: int) -> int:
    """runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] -> [1, 10000], 1024 -> 100, 0 unset."""
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612.0 - 7.0 / 34.0))


def blkio_weight_to_io_weight(weight: int) -> int:
    """runc's ConvertBlkIOToIOWeightValue: [10, 1000] -> [1, 10000], 0 unset."""
    return 0 if weight == 0 else 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(swap: int, limit: int) -> int:
    """runc's ConvertMemorySwapToCgroupV2Value: memory.swap.max from OCI memory+swap (-1: max)."""
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0) or limit == -1:
        return swap
    if limit == 0:
        raise OCIError("linux.resources.memory.swap: unable to set swap limit without memory limit")
    if limit < 0:
        raise OCIError(f"linux.resources.memory.limit: invalid memory value {limit}")
    if swap < limit:
        raise OCIError("linux.resources.memory.swap: memory+swap limit should be >= memory limit")
    return swap - limit


def _num(value: int) -> str:
    """A limit as cgroup v2 writes it: -1 (v1's "unlimited") is "max"."""
    return "max" if value == -1 else str(value)


def _uint(text: str) -> int:
    text = text.strip()
    return MAX_UINT64 if text == "max" else int(text)


class V2Driver:
    """The cgroup of one container: `path` (e.g. "/oci-runtime/<id>") below the cgroup2 mount `root`."""

    kind = "v2"

    def __init__(self, path: str, root: str = "/sys/fs/cgroup") -> None:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise OCIError(f"linux.cgroupsPath: {path!r} is not a valid cgroup path")
        self.path = "/" + "/".join(parts)
        self.root = root.rstrip("/") or "/"
        self.dir = os.path.join(self.root, *parts)
        self.created: list[str] = []

    def to_state(self) -> dict:
        return {"kind": self.kind, "root": self.root, "path": self.path, "created": self.created}

    # -- files --------------------------------------------------------------------------------

    def _file(self, name: str, directory: str | None = None) -> str:
        return os.path.join(directory or self.dir, name)

    def _read(self, name: str, directory: str | None = None) -> str:
        with open(self._file(name, directory)) as f:
            return f.read()

    def _write(self, name: str, value: str, field: str = "", directory: str | None = None) -> None:
        path = self._file(name, directory)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            if e.filename is None:
                e.filename = path
            where = f"{field}: " if field else ""
            raise OCIError(f"{where}writing {value!r} to {describe(e)}") from e

    def controllers(self, directory: str | None = None) -> set[str]:
        """The controllers enabled for the cgroup (its cgroup.controllers)."""
        return set(self._read("cgroup.controllers", directory).split())

    # -- lifecycle ----------------------------------------------------------------------------

    def delegate(self, uid: int, delegate_file: str = "/sys/kernel/cgroup/delegate") -> None:
        """config-linux.md "Cgroup ownership": give the container's user its cgroup directory and the
        files the kernel lists as safe to delegate (cgroups(7)); those a cgroup lacks are skipped."""
        try:
            with open(delegate_file) as f:
                names = f.read().split()
        except FileNotFoundError:
            names = ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]  # the spec's fallback
        try:
            os.chown(self.dir, uid, -1)
            for name in names:
                try:
                    os.chown(os.path.join(self.dir, name), uid, -1)
                except FileNotFoundError:
                    continue
        except OSError as e:
            raise OCIError(f"linux.cgroupsPath: giving the cgroup to uid {uid}: {describe(e)}") from None

    def owned(self) -> bool:
        return self.dir in self.created

    def missing(self) -> list[str]:
        dirs, current = [], self.root
        for part in self.path.strip("/").split("/"):
            current = os.path.join(current, part)
            if dirs or not os.path.isdir(current):
                dirs.append(current)
        return dirs

    def create(self) -> None:
        """mkdir -p the cgroup, enabling in every ancestor's cgroup.subtree_control all the
        controllers it has (as runc does; what cannot be enabled shows up in apply)."""
        current = self.root
        parts = self.path.strip("/").split("/")
        try:
            for part in parts:
                wanted = sorted(self.controllers(current))
                if wanted:
                    try:
                        self._write("cgroup.subtree_control", " ".join("+" + c for c in wanted), directory=current)
                    except OCIError:
                        for c in wanted:   # one by one: enable what can be
                            try:
                                self._write("cgroup.subtree_control", "+" + c, directory=current)
                            except OCIError:
                                pass
                current = os.path.join(current, part)
                try:
                    os.mkdir(current, 0o755)
                    self.created.append(current)
                except FileExistsError:
                    pass
        except OSError as e:
            self._remove_created()
            raise OCIError(f"creating cgroup {self.dir}: {describe(e)}") from e
        except OCIError:
            self._remove_created()
            raise

    def _remove_created(self) -> None:
        for d in reversed(self.created):
            try:
                os.rmdir(d)
            except OSError:
                pass
        self.created = []

    def add(self, pid: int) -> None:
        self._write("cgroup.procs", str(pid))

    def self_join(self) -> dict:
        return {"tasks": [], "cgroup2": self.dir}

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in self._read("cgroup.procs").split()]
        except FileNotFoundError:  # not made yet (a create killed before cgroup.create): empty
            return []

    def freeze(self, timeout: float = 10.0) -> None:
        """Freeze and wait until the kernel reports the whole cgroup frozen (runc waits 10 s)."""
        self._write("cgroup.freeze", "1")
        deadline = time.monotonic() + timeout
        while not self.frozen():
            if time.monotonic() > deadline:
                raise OCIError(f"timeout of {timeout:g}s reached waiting for the cgroup {self.dir} to freeze")
            time.sleep(0.01)

    def thaw(self) -> None:
        self._write("cgroup.freeze", "0")

    def frozen(self) -> bool:
        return frozen_state(self.to_state())

    def kill(self) -> None:
        """SIGKILL every process of the cgroup and its descendants: cgroup.kill (Linux 5.14+), else
        freeze, signal each process, thaw."""
        if os.path.exists(self._file("cgroup.kill")):
            self._write("cgroup.kill", "1")
            return
        self.freeze()
        try:
            for root, _dirs, _files in os.walk(self.dir):
                for pid in self._read("cgroup.procs", root).split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        finally:
            self.thaw()

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the directories create() made, deepest first (with any sub-cgroups the container
        made inside its own); EBUSY (processes still exiting) is retried after a kill."""
        deadline = time.monotonic() + timeout
        for d in reversed(self.created):
            subdirs = [os.path.join(r, n) for r, dirs, _ in os.walk(d) for n in dirs] if d == self.dir else []
            for path in sorted(subdirs, key=lambda p: p.count("/"), reverse=True) + [d]:
                killed = False
                while True:
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as e:
                        if e.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise OCIError(f"removing cgroup {describe(e)}") from e
                        if not killed and path.startswith(self.dir):
                            try:
                                self.kill()
                            except (OCIError, OSError):
                                pass
                            killed = True
                        time.sleep(0.01)
        self.created = []

    # -- resources ----------------------------------------------------------------------------

    def apply(self, resources: dict) -> None:
        """Write linux.resources (raw JSON of config-linux.md "Control groups") to the cgroup."""
        field = "linux.resources"
        writes = []   # (field, controller or None, file, value): checked first, then written

        def want(f: str, controller: str | None, name: str, value: str) -> None:
            writes.append((f, controller, name, value))

        pids = resources.get("pids")
        if pids and pids.get("limit") is not None:
            limit = pids["limit"]
            want(f"{field}.pids.limit", "pids", "pids.max", "max" if limit < 0 else str(limit))

        memory = resources.get("memory") or {}
        self._memory(memory, f"{field}.memory", want)

        blockio = resources.get("blockIO") or {}
        self._io(blockio, f"{field}.blockIO", want)

        cpu = resources.get("cpu") or {}
        self._cpu(cpu, f"{field}.cpu", want)

        for i, limit in enumerate(resources.get("hugepageLimits") or []):
            f = f"{field}.hugepageLimits[{i}]"
            size = limit["pageSize"]
            if "/" in size or not size:
                raise OCIError(f"{f}.pageSize: {size!r} is not a page size")
            want(f, "hugetlb", f"hugetlb.{size}.max", str(limit["limit"]))
            if os.path.exists(self._file(f"hugetlb.{size}.rsvd.max")):
                want(f, "hugetlb", f"hugetlb.{size}.rsvd.max", str(limit["limit"]))

        for dev, limits in (resources.get("rdma") or {}).items():
            line = dev
            if limits.get("hcaHandles") is not None:
                line += f" hca_handle={limits['hcaHandles']}"
            if limits.get("hcaObjects") is not None:
                line += f" hca_object={limits['hcaObjects']}"
            want(f"{field}.rdma.{dev}", "rdma", "rdma.max", line)

        network = resources.get("network") or {}
        if network.get("classID") is not None or network.get("priorities"):
            raise OCIError(f"{field}.network: net_cls/net_prio do not exist in cgroup v2: it cannot be converted")

        unified = resources.get("unified") or {}
        for key in unified:
            if not key or "/" in key or key in (".", "..") or ".." in key:
                raise OCIError(f"{field}.unified: {key!r} must be a file name of the cgroup")

        available = self.controllers()
        for key in unified:   # a controller's file, unless PSI (core files named after controllers)
            controller = key.split(".", 1)[0]
            if controller in V2_CONTROLLERS and controller not in available and not key.endswith(".pressure"):
                raise OCIError(f"{field}.unified.{key}: cgroup v2 controller {controller!r} is not available "
                               f"in {self.dir} (enabled: {' '.join(sorted(available)) or 'none'})")
        for f, controller, name, _ in writes:
            if controller and controller not in available:
                raise OCIError(f"{f}: cgroup v2 controller {controller!r} is not available in {self.dir} "
                               f"(enabled: {' '.join(sorted(available)) or 'none'})")

        if memory.get("checkBeforeUpdate"):
            self._check_memory_usage(memory, f"{field}.memory")
        retry_burst = None
        for f, _, name, value in writes:
            try:
                self._write(name, value, f)
            except OCIError as e:
                # As runc: a burst larger than the current quota is EINVAL until cpu.max is set.
                cause = e.__cause__
                if not (name == "cpu.max.burst" and getattr(cause, "errno", None) == errno.EINVAL
                        and any(w[2] == "cpu.max" for w in writes)):
                    raise
                retry_burst = (name, value, f)
            if name == "cpu.max" and retry_burst:
                self._write(*retry_burst)

        if resources.get("devices") is not None:
            from . import devices_bpf  # only when there is a filter to load

            devices_bpf.apply(self.dir, resources["devices"], f"{field}.devices")

        for key, value in unified.items():
            f = f"{field}.unified.{key}"
            controller = key.split(".", 1)[0]
            if not os.path.exists(self._file(key)):
                if "." in key and controller != "cgroup" and controller not in available:
                    raise OCIError(f"{f}: cgroup v2 controller {controller!r} is not available in {self.dir} "
                                   f"(enabled: {' '.join(sorted(available)) or 'none'})")
                raise OCIError(f"{f}: {self._file(key)}: no such file or directory")
            for line in str(value).split("\n"):   # as runc: one write per line
                if line:
                    self._write(key, line, f)

    def _memory(self, memory: dict, field: str, want) -> None:
        limit = memory.get("limit") or 0
        swap = memory.get("swap") or 0
        reservation = memory.get("reservation") or 0
        if limit or swap or reservation:
            v2swap = memory_swap_to_v2(swap, limit)
            if v2swap != 0 or swap > 0:   # swap == limit: no swap at all
                if os.path.exists(self._file("memory.swap.max")) or "memory" not in self.controllers():
                    want(f"{field}.swap", "memory", "memory.swap.max", _num(v2swap))
                elif v2swap not in (-1, 0):   # no swap accounting: only "max"/0 may be skipped, as runc
                    raise OCIError(f"{field}.swap: {self._file('memory.swap.max')} does not exist "
                                   "(no swap accounting on this kernel)")
            if limit:
                want(f"{field}.limit", "memory", "memory.max", _num(limit))
            if reservation:
                want(f"{field}.reservation", "memory", "memory.low", _num(reservation))
        for key, why in (("swappiness", "memory.swappiness"), ("disableOOMKiller", "memory.oom_control"),
                         ("kernel", "kernel memory limit"), ("kernelTCP", "kernel TCP memory limit")):
            if memory.get(key) not in (None, False):
                raise OCIError(f"{field}.{key}: cgroup v2 has no {why}: it cannot be converted")

    def _check_memory_usage(self, memory: dict, field: str) -> None:
        try:
            usage = int(self._read("memory.current"))
        except (OSError, ValueError):
            return
        for key, value in (("swap", memory.get("swap") or 0), ("limit", memory.get("limit") or 0)):
            if value > 0 and value <= usage:
                raise OCIError(f"{field}.{key}: rejecting {'memory+swap' if key == 'swap' else 'memory'} "
                               f"limit {value} <= usage {usage}")

    def _cpu(self, cpu: dict, field: str, want) -> None:
        if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
            raise OCIError(f"{field}.realtimeRuntime: realtime scheduling is not supported by cgroup v2")
        if cpu.get("idle") is not None:
            want(f"{field}.idle", "cpu", "cpu.idle", str(cpu["idle"]))
        weight = cpu_shares_to_weight(cpu.get("shares") or 0)
        if weight:
            want(f"{field}.shares", "cpu", "cpu.weight", str(weight))
        quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
        if cpu.get("burst") is not None:   # before cpu.max, as runc (a lower quota may need it)
            want(f"{field}.burst", "cpu", "cpu.max.burst", str(cpu["burst"]))
        if quota or period:
            want(f"{field}.quota", "cpu", "cpu.max", f"{quota if quota > 0 else 'max'} {period or 100000}")
        if cpu.get("cpus"):
            want(f"{field}.cpus", "cpuset", "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            want(f"{field}.mems", "cpuset", "cpuset.mems", cpu["mems"])

    def _io(self, blockio: dict, field: str, want) -> None:
        bfq = os.path.exists(self._file("io.bfq.weight"))
        if blockio.get("weight"):
            if bfq:
                want(f"{field}.weight", "io", "io.bfq.weight", str(blockio["weight"]))
            else:
                want(f"{field}.weight", "io", "io.weight", str(blkio_weight_to_io_weight(blockio["weight"])))
        if blockio.get("leafWeight"):
            raise OCIError(f"{field}.leafWeight: cgroup v2 has no leaf weight: it cannot be converted")
        for i, wd in enumerate(blockio.get("weightDevice") or []):
            if wd.get("leafWeight") is not None:
                raise OCIError(f"{field}.weightDevice[{i}].leafWeight: cgroup v2 has no leaf weight: "
                               "it cannot be converted")
            if wd.get("weight") is None:
                continue
            dev = f"{wd['major']}:{wd['minor']}"
            if bfq:
                want(f"{field}.weightDevice[{i}]", "io", "io.bfq.weight", f"{dev} {wd['weight']}")
            else:
                want(f"{field}.weightDevice[{i}]", "io", "io.weight",
                     f"{dev} {blkio_weight_to_io_weight(wd['weight'])}")
        for key, op in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                        ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
            for i, td in enumerate(blockio.get(key) or []):
                want(f"{field}.{key}[{i}]", "io", "io.max", f"{td['major']}:{td['minor']} {op}={td['rate']}")

    # -- stats --------------------------------------------------------------------------------

    def _flat(self, name: str) -> dict[str, int]:
        """A flat-keyed file ("key value" lines) as a dict; {} if absent."""
        try:
            text = self._read(name)
        except FileNotFoundError:
            return {}
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = _uint(parts[1])
                except ValueError:
                    pass
        return out

    def _value(self, name: str) -> int | None:
        try:
            return _uint(self._read(name))
        except (FileNotFoundError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup (memory.events)."""
        try:
            lines = self._read("memory.events").splitlines()
        except OSError:
            return 0
        counts = dict(line.split() for line in lines if line.count(" ") == 1)
        return int(counts.get("oom_kill", 0))

    def stats(self) -> dict:
        """The cgroup's statistics shaped like the "data" of runc's `events --stats` (types.Stats),
        keeping Go's omitempty: zero values of optional fields are left out."""
        cpu_stat = self._flat("cpu.stat")
        usage = {k: v for k, v in (("total", cpu_stat.get("usage_usec", 0) * 1000),) if v}
        usage["kernel"] = cpu_stat.get("system_usec", 0) * 1000
        usage["user"] = cpu_stat.get("user_usec", 0) * 1000
        throttling = {k: v for k, v in (("periods", cpu_stat.get("nr_periods", 0)),
                                        ("throttledPeriods", cpu_stat.get("nr_throttled", 0)),
                                        ("throttledTime", cpu_stat.get("throttled_usec", 0) * 1000)) if v}
        cpu: dict = {"usage": usage}
        if throttling:
            cpu["throttling"] = throttling

        memory: dict = {}
        current = self._value("memory.current")
        if current is not None:
            raw = self._flat("memory.stat")
            limit = self._value("memory.max") or 0
            mem_usage = {"limit": limit, "usage": current, "max": self._value("memory.peak") or 0, "failcnt": 0}
            swap_current = self._value("memory.swap.current")
            swap_limit = self._value("memory.swap.max")
            swap = {"limit": 0, "usage": 0, "max": 0, "failcnt": 0}
            if swap_current is not None:   # v1 compatibility: memory+swap
                swap["usage"] = swap_current + current
                swap["limit"] = swap_limit if swap_limit in (None, MAX_UINT64) else swap_limit + limit
                swap["limit"] = swap["limit"] or 0
            if raw.get("file"):
                memory["cache"] = raw["file"]
            memory["usage"] = {k: v for k, v in mem_usage.items() if v or k in ("limit", "failcnt")}
            if any(swap.values()):
                memory["swap"] = {k: v for k, v in swap.items() if v or k in ("limit", "failcnt")}
            if raw:
                memory["raw"] = raw

        pids = {}
        pids_current = self._value("pids.current")
        if pids_current is None:
            try:
                pids_current = len(self.pids())
            except FileNotFoundError:
                pids_current = 0
        if pids_current:
            pids["current"] = pids_current
        pids_max = self._value("pids.max")
        if pids_max and pids_max != MAX_UINT64:
            pids["limit"] = pids_max

        blkio: dict = {}
        try:
            io_stat = self._read("io.stat")
        except FileNotFoundError:
            io_stat = ""
        tables = {"rbytes": ("ioServiceBytesRecursive", "Read"), "wbytes": ("ioServiceBytesRecursive", "Write"),
                  "rios": ("ioServicedRecursive", "Read"), "wios": ("ioServicedRecursive", "Write")}
        for line in io_stat.splitlines():
            dev, *items = line.split()
            major, _, minor = dev.partition(":")
            for item in items:
                key, _, value = item.partition("=")
                if key in tables:
                    table, op = tables[key]
                    entry = {k: v for k, v in (("major", int(major)), ("minor", int(minor)), ("op", op),
                                               ("value", int(value))) if v}
                    blkio.setdefault(table, []).append(entry)

        hugetlb = {}
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            names = []
        for name in sorted(names):
            parts = name.split(".")
            if len(parts) == 3 and parts[0] == "hugetlb" and parts[2] == "current":
                size = parts[1]
                usage_value = self._value(f"hugetlb.{size}.rsvd.current")
                if usage_value is None:
                    usage_value = self._value(name) or 0
                entry = {"failcnt": self._flat(f"hugetlb.{size}.events").get("max", 0)}
                if usage_value:
                    entry = {"usage": usage_value, **entry}
                hugetlb[size] = entry

        return {
            "cpu": cpu,
            "cpuset": {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
                       "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
                       "sched_load_balance": 0, "sched_relax_domain_level": 0},
            "memory": memory,
            "pids": pids,
            "blkio": blkio,
            "hugetlb": hugetlb,
            "intel_rdt": {},
            "network_interfaces": None,
        }
