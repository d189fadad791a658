"""The cgroup v1 driver: one directory per hierarchy (see cgroups/__init__.py for the interface).

Every LinuxResources field maps to a v1 file; a field whose controller (or file) this host lacks
is an OCIError naming the JSON field and the controller, never a silent skip.
"""
import errno
import os
import time

from .. import listformat
from ..errors import OCIError, describe
from . import ROOT, UNIFIED, own_cgroups, resolve, v1_hierarchies
from . import frozen as frozen_state

# runc's specconv.AllowedDevices, appended after linux.resources.devices: mknod of anything,
# null, random, full, tty, zero, urandom, /dev/pts/*, ptmx, tun
DEFAULT_DEVICE_RULES = (
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm",
    "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
)

_FREEZE_TIMEOUT = 10.0


class V1Driver:
    kind = "v1"

    def __init__(self, path: str, root: str = ROOT, container_id: str = "",
                 hierarchies: dict[str, tuple[str, str]] | None = None, own: dict[str, str] | None = None) -> None:
        """path: linux.cgroupsPath as given ("" for the default); hierarchies/own: for tests."""
        self.root = root
        self.path = path
        self.created: list[str] = []
        hierarchies = v1_hierarchies(root) if hierarchies is None else hierarchies
        own = own_cgroups() if own is None else own
        self.paths: dict[str, str] = {}  # controller -> host directory of the container's cgroup
        self.mounts: dict[str, str] = {}  # controller -> its hierarchy's mount point
        for controller, (mountpoint, mount_root) in hierarchies.items():
            self.mounts[controller] = mountpoint
            inner = resolve(path, container_id, own.get(controller, "/"))
            if not path.startswith("/") and path and mount_root != "/" and inner.startswith(mount_root):
                inner = inner[len(mount_root):] or "/"  # own cgroup is seen from the host's root
            self.paths[controller] = os.path.normpath(mountpoint + "/" + inner)

    @classmethod
    def from_state(cls, saved: dict) -> "V1Driver":
        d = cls.__new__(cls)
        d.root, d.path, d.paths, d.mounts = saved["root"], saved["path"], dict(saved["paths"]), dict(saved["mounts"])
        d.created = list(saved.get("created", []))
        return d

    def to_state(self) -> dict:
        return {"kind": self.kind, "root": self.root, "path": self.path, "paths": self.paths, "mounts": self.mounts,
                "created": self.created}

    def _dirs(self) -> list[str]:
        """Each distinct directory once (co-mounted controllers share one)."""
        return list(dict.fromkeys(self.paths.values()))

    # --- lifecycle ---------------------------------------------------------------------------

    def owned(self) -> bool:
        return all(d in self.created for d in self._dirs())

    def missing(self) -> list[str]:
        dirs: list[str] = []
        for controller, target in self.paths.items():
            d, chain = target, []
            while d != self.mounts[controller] and not os.path.isdir(d):
                chain.append(d)
                d = os.path.dirname(d)
            dirs += [d for d in reversed(chain) if d not in dirs]
        return dirs

    def create(self) -> None:
        for controller, target in self.paths.items():
            mountpoint = self.mounts[controller]
            for attempt in range(5):  # a parent another container's delete just removed: again
                missing = []
                d = target
                while d != mountpoint and not os.path.isdir(d):
                    missing.append(d)
                    d = os.path.dirname(d)
                try:
                    for d in reversed(missing):
                        try:
                            os.mkdir(d, 0o755)
                        except FileExistsError:
                            continue
                        self.created.append(d)
                    break
                except FileNotFoundError:
                    if attempt == 4:
                        raise OCIError(f"cgroups: creating {controller} cgroup {target}: a parent keeps "
                                       "disappearing") from None
                except OSError as e:
                    raise OCIError(f"cgroups: creating {controller} cgroup: {describe(e)}") from None
            if controller == "cpuset":
                self._init_cpuset(mountpoint, target)

    def _init_cpuset(self, mountpoint: str, target: str) -> None:
        """v1 refuses tasks in a cpuset with empty cpus/mems: copy the parent's, top down."""
        levels = []
        d = target
        while d != mountpoint:
            levels.append(d)
            d = os.path.dirname(d)
        for d in reversed(levels):
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read_opt(d, name).strip():
                    _write(os.path.join(d, name), _read(os.path.join(os.path.dirname(d), name)).strip(), "cpuset")

    def add(self, pid: int) -> None:
        for d in self._dirs():
            _write(os.path.join(d, "cgroup.procs"), str(pid), "cgroup.procs")

    def self_join(self) -> dict:
        unified = self.paths.get(UNIFIED)
        return {"tasks": [os.path.join(d, "tasks") for d in self._dirs() if d != unified], "cgroup2": unified}

    def pids(self) -> list[int]:
        d = self.paths.get("pids") or self.paths.get("freezer") or next(iter(self.paths.values()), None)
        if d is None:
            return []
        try:
            return [int(p) for p in _read(os.path.join(d, "cgroup.procs")).split()]
        except FileNotFoundError:
            return []

    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def _freezer(self, want: str) -> None:
        d = self.paths.get("freezer")
        if d is None:
            raise OCIError("cgroups: the freezer controller is not mounted on this host")
        path = os.path.join(d, "freezer.state")
        deadline = time.monotonic() + _FREEZE_TIMEOUT
        while True:
            _write(path, want, "freezer")
            if _read(path).strip() == want:
                return
            if time.monotonic() > deadline:
                raise OCIError(f"cgroups: {path} did not reach {want} within {_FREEZE_TIMEOUT:.0f}s")
            time.sleep(0.001)

    def frozen(self) -> bool:
        return frozen_state(self.to_state())

    def destroy(self) -> None:
        leaves = set(self.paths.values())
        for d in reversed(self.created):
            for attempt in range(100):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    break
                except OSError as e:
                    if d not in leaves and e.errno in (errno.EBUSY, errno.ENOTEMPTY, errno.EEXIST):
                        break  # a parent that holds another container's cgroup now: it stays
                    if e.errno == errno.EBUSY and attempt < 99:  # tasks still exiting
                        time.sleep(0.01)
                        continue
                    raise OCIError(f"cgroups: removing {d}: {describe(e)}") from None
                break
        if not self.path:  # the default parent is shared by this runtime's containers: the last one out
            for parent in {os.path.dirname(leaf) for leaf in leaves} - set(self.created):  # those: tried above
                try:
                    os.rmdir(parent)
                except OSError:
                    pass  # still holds other containers (or was never ours to make)

    # --- resources ---------------------------------------------------------------------------

    def apply(self, resources: dict, devices: bool = True) -> None:
        """Write linux.resources; devices=False leaves the device rules alone (`update`)."""
        r = resources or {}
        if r.get("unified"):
            raise OCIError("linux.resources.unified: needs cgroup v2, this host runs cgroup v1")
        if devices and "devices" in r:
            self._devices(r["devices"] or [])
        if r.get("memory"):
            self._memory(r["memory"])
        if r.get("cpu"):
            self._cpu(r["cpu"])
        limit = (r.get("pids") or {}).get("limit")
        if limit is not None:  # 0 is a limit (config-linux.md; runc 1.1 took it for "max")
            self._set("pids", "pids.max", str(limit) if limit >= 0 else "max", "pids.limit")
        if r.get("blockIO"):
            self._blkio(r["blockIO"])
        if r.get("hugepageLimits"):
            for i, h in enumerate(r["hugepageLimits"]):
                self._set("hugetlb", f"hugetlb.{h['pageSize']}.limit_in_bytes", str(h["limit"]),
                          f"hugepageLimits[{i}]")
        net = r.get("network") or {}
        if net.get("classID") is not None:
            self._set("net_cls", "net_cls.classid", str(net["classID"]), "network.classID")
        for i, p in enumerate(net.get("priorities") or []):
            self._set("net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}", f"network.priorities[{i}]")
        for dev, limits in (r.get("rdma") or {}).items():
            parts = [f"{k}={limits[j]}" for k, j in (("hca_handle", "hcaHandles"), ("hca_object", "hcaObjects"))
                     if limits.get(j) is not None]
            self._set("rdma", "rdma.max", f"{dev} {' '.join(parts)}", f"rdma.{dev}")

    def _file(self, controller: str, name: str, field: str) -> str:
        d = self.paths.get(controller)
        if d is None:
            raise OCIError(f"linux.resources.{field}: the {controller} cgroup controller is not available "
                           "(not mounted as a cgroup v1 hierarchy on this host)")
        path = os.path.join(d, name)
        if not os.path.exists(path):
            raise OCIError(f"linux.resources.{field}: not supported by the {controller} cgroup controller "
                           f"on this kernel (no {name})")
        return path

    def _set(self, controller: str, name: str, value: str, field: str) -> None:
        path = self._file(controller, name, field)
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OCIError(f"linux.resources.{field}: writing {value!r} to {path}: {os.strerror(e.errno)}") from None

    def _memory(self, m: dict) -> None:
        f = "memory."
        if m.get("checkBeforeUpdate") and m.get("limit") not in (None, -1):
            usage = int(_read(self._file("memory", "memory.usage_in_bytes", f + "checkBeforeUpdate")))
            if m["limit"] < usage:
                raise OCIError(f"linux.resources.memory.limit: {m['limit']} is below the current usage ({usage}) "
                               "and checkBeforeUpdate is set")
        limit, swap = m.get("limit"), m.get("swap")
        if limit is not None and swap is not None:
            # the memsw limit may never be below the memory limit: order the writes (as runc)
            current = int(_read(self._file("memory", "memory.memsw.limit_in_bytes", f + "swap")))
            if swap == -1 or current < swap:
                self._set("memory", "memory.memsw.limit_in_bytes", str(swap), f + "swap")
                self._set("memory", "memory.limit_in_bytes", str(limit), f + "limit")
            else:
                self._set("memory", "memory.limit_in_bytes", str(limit), f + "limit")
                self._set("memory", "memory.memsw.limit_in_bytes", str(swap), f + "swap")
        elif limit is not None:
            self._set("memory", "memory.limit_in_bytes", str(limit), f + "limit")
        elif swap is not None:
            self._set("memory", "memory.memsw.limit_in_bytes", str(swap), f + "swap")
        if m.get("reservation") is not None:
            self._set("memory", "memory.soft_limit_in_bytes", str(m["reservation"]), f + "reservation")
        if m.get("kernel") is not None:
            self._set("memory", "memory.kmem.limit_in_bytes", str(m["kernel"]), f + "kernel")
            got = _int(self.paths["memory"], "memory.kmem.limit_in_bytes")
            if m["kernel"] >= 0 and abs(got - m["kernel"]) >= os.sysconf("SC_PAGE_SIZE"):
                raise OCIError("linux.resources.memory.kernel: this kernel ignores kernel memory limits in the "
                               f"memory cgroup controller (memory.kmem.limit_in_bytes stays {got})")
        if m.get("kernelTCP") is not None:
            self._set("memory", "memory.kmem.tcp.limit_in_bytes", str(m["kernelTCP"]), f + "kernelTCP")
        if m.get("swappiness") is not None:
            if not 0 <= m["swappiness"] <= 100:
                raise OCIError(f"linux.resources.memory.swappiness: {m['swappiness']} is not in 0..100")
            self._set("memory", "memory.swappiness", str(m["swappiness"]), f + "swappiness")
        if m.get("disableOOMKiller"):
            self._set("memory", "memory.oom_control", "1", f + "disableOOMKiller")
        if m.get("useHierarchy") is not None:
            self._set("memory", "memory.use_hierarchy", "1" if m["useHierarchy"] else "0", f + "useHierarchy")

    def _cpu(self, c: dict) -> None:
        f = "cpu."
        if c.get("shares"):
            self._set("cpu", "cpu.shares", str(c["shares"]), f + "shares")
            got = int(_read(self._file("cpu", "cpu.shares", f + "shares")))
            if got != c["shares"]:
                raise OCIError(f"linux.resources.cpu.shares: the kernel set {got} instead of {c['shares']} "
                               "(out of its range)")
        if c.get("period"):
            self._set("cpu", "cpu.cfs_period_us", str(c["period"]), f + "period")
        if c.get("quota"):
            self._set("cpu", "cpu.cfs_quota_us", str(c["quota"]), f + "quota")
        if c.get("burst") is not None:
            self._set("cpu", "cpu.cfs_burst_us", str(c["burst"]), f + "burst")
        if c.get("realtimePeriod"):
            self._set("cpu", "cpu.rt_period_us", str(c["realtimePeriod"]), f + "realtimePeriod")
        if c.get("realtimeRuntime"):
            if c["realtimeRuntime"] > 0:
                self._rt_budget(c["realtimeRuntime"])
            self._set("cpu", "cpu.rt_runtime_us", str(c["realtimeRuntime"]), f + "realtimeRuntime")
        if c.get("idle") is not None:
            self._set("cpu", "cpu.idle", str(c["idle"]), f + "idle")
        if c.get("cpus"):
            self._set("cpuset", "cpuset.cpus", c["cpus"], f + "cpus")
        if c.get("mems"):
            self._set("cpuset", "cpuset.mems", c["mems"], f + "mems")

    def _rt_budget(self, runtime: int) -> None:
        """With RT group scheduling a cgroup's rt_runtime_us must fit in its parent's, beside its
        siblings': raise the ancestors' budgets (below the hierarchy root) as far as needed."""
        mountpoint, target = self.mounts.get("cpu"), self.paths.get("cpu")
        if mountpoint is None or target is None:
            return
        chain = []  # ancestors of target below the mount point, bottom-up
        d = os.path.dirname(target)
        while d != mountpoint and d.startswith(mountpoint + "/"):
            chain.append(d)
            d = os.path.dirname(d)
        need, child = runtime, target
        needs = []
        for d in chain:
            others = sum(_int(os.path.join(d, e.name), "cpu.rt_runtime_us") for e in os.scandir(d)
                         if e.is_dir() and e.path != child)
            need += others
            needs.append((d, need))
            child = d
        for d, want in reversed(needs):
            if _int(d, "cpu.rt_runtime_us") < want:
                _write(os.path.join(d, "cpu.rt_runtime_us"), str(want),
                       "linux.resources.cpu.realtimeRuntime (the parent cgroup's budget)")

    def _blkio(self, b: dict) -> None:
        for key, name in (("weight", "weight"), ("leafWeight", "leaf_weight")):
            if b.get(key) is not None:
                self._set_weight(name, str(b[key]), f"blockIO.{key}")
        for i, w in enumerate(b.get("weightDevice") or []):
            for key, name in (("weight", "weight_device"), ("leafWeight", "leaf_weight_device")):
                if w.get(key) is not None:
                    self._set_weight(name, f"{w['major']}:{w['minor']} {w[key]}", f"blockIO.weightDevice[{i}].{key}")
        for key, name in (("throttleReadBpsDevice", "read_bps_device"), ("throttleWriteBpsDevice", "write_bps_device"),
                          ("throttleReadIOPSDevice", "read_iops_device"),
                          ("throttleWriteIOPSDevice", "write_iops_device")):
            for i, t in enumerate(b.get(key) or []):
                self._set("blkio", f"blkio.throttle.{name}", f"{t['major']}:{t['minor']} {t['rate']}",
                          f"blockIO.{key}[{i}]")

    def _set_weight(self, name: str, value: str, field: str) -> None:
        """blkio.<name> (CFQ) or blkio.bfq.<name> (BFQ), whichever the kernel has."""
        d = self.paths.get("blkio")
        if d is not None and not os.path.exists(os.path.join(d, f"blkio.{name}")) \
                and os.path.exists(os.path.join(d, f"blkio.bfq.{name}")):
            self._set("blkio", f"blkio.bfq.{name}", value, field)
            return
        if d is not None and not os.path.exists(os.path.join(d, f"blkio.{name}")):
            raise OCIError(f"linux.resources.{field}: not supported by the blkio cgroup controller on this host "
                           f"(no blkio.{name} nor blkio.bfq.{name}: no CFQ/BFQ I/O scheduler)")
        self._set("blkio", f"blkio.{name}", value, field)

    def _devices(self, rules: list[dict]) -> None:
        lines = []
        for r in rules:
            kind = r.get("type", "a")
            major = "*" if r.get("major") in (None, -1) else str(r["major"])
            minor = "*" if r.get("minor") in (None, -1) else str(r["minor"])
            access = r.get("access") or "rwm"
            allow = bool(r.get("allow"))
            if kind == "a" and allow:
                lines.append(("devices.allow", "a"))
            elif kind == "a" and major == minor == "*":
                lines.append(("devices.deny", "a"))
            else:
                lines.append(("devices.allow" if allow else "devices.deny", f"{kind} {major}:{minor} {access}"))
        lines += [("devices.allow", rule) for rule in DEFAULT_DEVICE_RULES]
        for i, (name, value) in enumerate(lines):
            field = f"devices[{i}]" if i < len(rules) else "devices"
            self._set("devices", name, value, field)

    # --- stats ---------------------------------------------------------------------------------

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup (oom_kill)."""
        return _kv(self.paths["memory"], "memory.oom_control").get("oom_kill", 0) if "memory" in self.paths else 0

    def stats(self) -> dict:
        """runc's `events --stats` data (types.Stats) for the controllers this host has."""
        out: dict = {}
        cpu = {"usage": {}, "throttling": {}}
        if "cpuacct" in self.paths:
            d = self.paths["cpuacct"]
            cpu["usage"]["total"] = _int(d, "cpuacct.usage")
            cpu["usage"]["percpu"] = [int(x) for x in _read_opt(d, "cpuacct.usage_percpu").split()]
            stat = _kv(d, "cpuacct.stat")
            tick = 10**9 // os.sysconf("SC_CLK_TCK")
            cpu["usage"]["kernel"] = stat.get("system", 0) * tick
            cpu["usage"]["user"] = stat.get("user", 0) * tick
        if "cpu" in self.paths:
            stat = _kv(self.paths["cpu"], "cpu.stat")
            cpu["throttling"] = {"periods": stat.get("nr_periods", 0), "throttled_periods": stat.get("nr_throttled", 0),
                                 "throttled_time": stat.get("throttled_time", 0)}
        out["cpu"] = cpu
        if "cpuset" in self.paths:
            d = self.paths["cpuset"]
            out["cpuset"] = {"cpus": listformat.parse(_read_opt(d, "cpuset.cpus")),
                             "mems": listformat.parse(_read_opt(d, "cpuset.mems"))}
        if "memory" in self.paths:
            d = self.paths["memory"]

            def entry(prefix: str) -> dict:
                return {"limit": _int(d, prefix + "limit_in_bytes"), "usage": _int(d, prefix + "usage_in_bytes"),
                        "max": _int(d, prefix + "max_usage_in_bytes"), "failcnt": _int(d, prefix + "failcnt")}

            out["memory"] = {"cache": _kv(d, "memory.stat").get("cache", 0), "usage": entry("memory."),
                             "swap": entry("memory.memsw."), "kernel": entry("memory.kmem."),
                             "kernelTCP": entry("memory.kmem.tcp."), "raw": _kv(d, "memory.stat")}
        if "pids" in self.paths:
            d = self.paths["pids"]
            limit = _read_opt(d, "pids.max").strip()
            out["pids"] = {"current": _int(d, "pids.current")}
            if limit and limit != "max":
                out["pids"]["limit"] = int(limit)
        if "blkio" in self.paths:
            d = self.paths["blkio"]
            out["blkio"] = {"ioServiceBytesRecursive": _blkio_entries(d, "blkio.throttle.io_service_bytes_recursive"),
                            "ioServicedRecursive": _blkio_entries(d, "blkio.throttle.io_serviced_recursive")}
        if "hugetlb" in self.paths:
            out["hugetlb"] = {}
        return out


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_opt(d: str, name: str) -> str:
    try:
        return _read(os.path.join(d, name))
    except OSError:
        return ""


def _int(d: str, name: str) -> int:
    text = _read_opt(d, name).strip()
    return int(text) if text.lstrip("-").isdigit() else 0


def _kv(d: str, name: str) -> dict[str, int]:
    out = {}
    for line in _read_opt(d, name).splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def _blkio_entries(d: str, name: str) -> list[dict]:
    out = []
    for line in _read_opt(d, name).splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def _write(path: str, value: str, what: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise OCIError(f"cgroups: {what}: writing {value!r} to {path}: {os.strerror(e.errno)}") from None
