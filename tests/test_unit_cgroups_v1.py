"""V1Driver against a fake cgroupfs tree in a temp dir (the files it writes, their values and
order, its errors), and cgroupsPath resolution (oci_runtime/cgroups/__init__.py)."""
import os
from pathlib import Path

import pytest

from oci_runtime import cgroups
from oci_runtime.cgroups.v1 import DEFAULT_DEVICE_RULES, V1Driver
from oci_runtime.errors import ConfigError, OCIError

FILES = {
    "memory": ["memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes",
               "memory.swappiness", "memory.oom_control", "memory.use_hierarchy", "memory.usage_in_bytes",
               "memory.kmem.tcp.limit_in_bytes"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us", "cpu.rt_runtime_us",
            "cpu.rt_period_us", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "freezer": ["freezer.state"],
    "devices": ["devices.allow", "devices.deny"],
    "blkio": ["blkio.throttle.read_bps_device", "blkio.throttle.write_iops_device"],
}


class Tree:
    """A fake /sys/fs/cgroup: one directory per hierarchy. Files are plain files; the driver's
    new directories get the controller's files (as the kernel would) when `populate` is called."""

    def __init__(self, root: Path, own: dict[str, str] | None = None) -> None:
        self.root = root
        self.own = own or {}
        for controller in FILES:
            (root / controller).mkdir()
            self.populate(root / controller, controller)
        (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
        (root / "cpuset" / "cpuset.mems").write_text("0\n")
        (root / "memory" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
        (root / "memory" / "memory.usage_in_bytes").write_text("1000000\n")

    def populate(self, d: Path, controller: str) -> None:
        for name in FILES[controller]:
            if not (d / name).exists():
                (d / name).write_text("")

    def hierarchies(self) -> dict[str, tuple[str, str]]:
        return {c: (str(self.root / c), "/") for c in FILES}

    def driver(self, path: str, cid: str = "c1") -> V1Driver:
        d = V1Driver(path, str(self.root), container_id=cid, hierarchies=self.hierarchies(), own=self.own)
        return d

    def created(self, d: V1Driver) -> None:
        """create(), then give the new directories their controller files."""
        d.create()
        for controller, path in d.paths.items():
            self.populate(Path(path), controller)
        usage = Path(d.paths["memory"]) / "memory.usage_in_bytes"
        usage.write_text("1000000\n")
        (Path(d.paths["memory"]) / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")

    def unfile(self, d: V1Driver) -> None:
        """A real cgroupfs removes a cgroup's files with it: remove the fake's first."""
        for path in d.created:
            for f in Path(path).iterdir():
                if f.is_file():
                    f.unlink()

    def read(self, d: V1Driver, controller: str, name: str) -> str:
        return (Path(d.paths[controller]) / name).read_text()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path, own={c: "/user.slice/me" for c in FILES})


def test_paths_absolute_relative_and_default(tree):
    assert tree.driver("/a/b").paths["memory"] == f"{tree.root}/memory/a/b"
    assert tree.driver("rel/c").paths["pids"] == f"{tree.root}/pids/user.slice/me/rel/c"
    assert tree.driver("", cid="x1").paths["cpu"] == f"{tree.root}/cpu/oci-runtime/x1"


def test_resolve_and_systemd_paths():
    assert cgroups.resolve(None, "id", "/own") == "/oci-runtime/id"
    assert cgroups.resolve("/x/../y", "id", "/own") == "/y"
    assert cgroups.resolve("z", "id", "/own") == "/own/z"
    assert cgroups.systemd_path("machine.slice:libpod:ID", "id") == "/machine.slice/libpod-ID.scope"
    assert cgroups.systemd_path("a-b.slice:p:n", "id") == "/a.slice/a-b.slice/p-n.scope"
    assert cgroups.systemd_path("system.slice::my.slice", "id") == "/system.slice/my.slice"
    with pytest.raises(ConfigError, match="slice:prefix:name"):
        cgroups.systemd_path("/not/systemd", "id")


def test_systemd_driver_fails_naming_systemd():
    with pytest.raises(OCIError, match="systemd") as e:
        cgroups.new_driver("machine.slice:libpod:ID", "id", systemd=True)
    assert "/machine.slice/libpod-ID.scope" in str(e.value)


def test_create_records_the_dirs_it_made_and_destroy_removes_only_those(tree):
    (tree.root / "memory" / "pre").mkdir()
    d = tree.driver("/pre/c1")
    tree.created(d)
    assert f"{tree.root}/memory/pre/c1" in d.created and f"{tree.root}/memory/pre" not in d.created
    assert f"{tree.root}/cpu/pre" in d.created and f"{tree.root}/cpu/pre/c1" in d.created
    for path in d.paths.values():  # a real cgroupfs removes the files with the directory
        for f in Path(path).iterdir():
            f.unlink()
    again = V1Driver.from_state(d.to_state())
    again.destroy()
    assert (tree.root / "memory" / "pre").is_dir() and not (tree.root / "memory" / "pre" / "c1").exists()
    assert not (tree.root / "cpu" / "pre").exists()


def test_cpuset_is_copied_from_the_parent_on_create(tree):
    d = tree.driver("/a/b")
    d.create()
    assert (tree.root / "cpuset" / "a" / "cpuset.cpus").read_text() == "0-3"
    assert (tree.root / "cpuset" / "a" / "b" / "cpuset.mems").read_text() == "0"


def test_memory_cpu_pids_blkio_files(tree):
    d = tree.driver("/c")
    tree.created(d)
    d.apply({
        "memory": {"limit": 1 << 26, "reservation": 1 << 25, "swap": 1 << 27, "swappiness": 10,
                   "disableOOMKiller": True, "useHierarchy": True, "kernelTCP": 1 << 20},
        "cpu": {"shares": 0, "quota": 50000, "period": 100000, "burst": 1000, "realtimeRuntime": 900,
                "realtimePeriod": 1000, "cpus": "0-1", "mems": "0", "idle": 1},
        "pids": {"limit": 10},
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
    })
    want = {
        ("memory", "memory.limit_in_bytes"): str(1 << 26), ("memory", "memory.soft_limit_in_bytes"): str(1 << 25),
        ("memory", "memory.memsw.limit_in_bytes"): str(1 << 27), ("memory", "memory.swappiness"): "10",
        ("memory", "memory.oom_control"): "1", ("memory", "memory.use_hierarchy"): "1",
        ("memory", "memory.kmem.tcp.limit_in_bytes"): str(1 << 20),
        ("cpu", "cpu.cfs_quota_us"): "50000", ("cpu", "cpu.cfs_period_us"): "100000", ("cpu", "cpu.cfs_burst_us"): "1000",
        ("cpu", "cpu.rt_runtime_us"): "900", ("cpu", "cpu.rt_period_us"): "1000", ("cpu", "cpu.idle"): "1",
        ("cpuset", "cpuset.cpus"): "0-1", ("cpuset", "cpuset.mems"): "0", ("pids", "pids.max"): "10",
        ("blkio", "blkio.throttle.read_bps_device"): "8:0 1048576",
        ("blkio", "blkio.throttle.write_iops_device"): "8:0 100",
    }
    assert {k: tree.read(d, *k) for k in want} == want
    assert tree.read(d, "cpu", "cpu.shares") == "", "shares 0 means unset"


def test_pids_limit_minus_one_is_max_and_zero_is_a_limit(tree):
    """config-linux.md: -1 is "max"; 0 "SHOULD be treated as" a limit (runc 1.1 wrote max)."""
    d = tree.driver("/c")
    tree.created(d)
    d.apply({"pids": {"limit": -1}})
    assert tree.read(d, "pids", "pids.max") == "max"
    d.apply({"pids": {"limit": 0}})
    assert tree.read(d, "pids", "pids.max") == "0"


def test_shares_the_kernel_clamps_are_an_error(tree, monkeypatch):
    d = tree.driver("/c")
    tree.created(d)
    (Path(d.paths["cpu"]) / "cpu.shares").write_text("")
    real_open = open

    def clamping_open(path, mode="r", *a, **kw):  # the kernel stores 262144 for anything above
        f = real_open(path, mode, *a, **kw)
        if str(path).endswith("cpu.shares") and "w" in mode:
            orig = f.write
            f.write = lambda v: orig(str(min(int(v), 262144)))
        return f

    monkeypatch.setattr("builtins.open", clamping_open)
    with pytest.raises(OCIError, match=r"linux.resources.cpu.shares: the kernel set 262144"):
        d.apply({"cpu": {"shares": 10**7}})


def test_devices_rules_in_order_then_runcs_defaults(tree, monkeypatch):
    d = tree.driver("/c")
    tree.created(d)
    written = []
    monkeypatch.setattr(V1Driver, "_set", lambda self, c, name, value, field: written.append((name, value)))
    d.apply({"devices": [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                         {"allow": False, "type": "b", "major": 8, "access": "w"}]})
    assert written[:3] == [("devices.deny", "a"), ("devices.allow", "c 10:229 rw"), ("devices.deny", "b 8:* w")]
    assert written[3:] == [("devices.allow", rule) for rule in DEFAULT_DEVICE_RULES]
    written.clear()
    d.apply({"devices": [{"allow": False, "access": "rwm"}]}, devices=False)
    assert written == [], "update leaves the device rules alone"


def test_swap_is_raised_before_the_limit_when_it_grows(tree, monkeypatch):
    d = tree.driver("/c")
    tree.created(d)
    (Path(d.paths["memory"]) / "memory.memsw.limit_in_bytes").write_text("1000")
    order = []
    real = V1Driver._set
    monkeypatch.setattr(V1Driver, "_set", lambda self, c, name, value, field: (order.append(name),
                                                                               real(self, c, name, value, field)))
    d.apply({"memory": {"limit": 2000, "swap": 4000}})
    assert order == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    order.clear()
    d.apply({"memory": {"limit": 1000, "swap": 3000}})
    assert order == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_check_before_update_refuses_a_limit_below_usage(tree):
    d = tree.driver("/c")
    tree.created(d)
    with pytest.raises(OCIError, match=r"linux.resources.memory.limit: 4096 is below the current usage \(1000000\)"):
        d.apply({"memory": {"limit": 4096, "checkBeforeUpdate": True}})
    assert tree.read(d, "memory", "memory.limit_in_bytes") == ""


@pytest.mark.parametrize("resources,message", [
    ({"memory": {"kernel": 1 << 20}}, r"linux.resources.memory.kernel: not supported by the memory cgroup "
                                      r"controller on this kernel \(no memory.kmem.limit_in_bytes\)"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, r"linux.resources.hugepageLimits\[0\]: the hugetlb"),
    ({"network": {"classID": 1}}, r"linux.resources.network.classID: the net_cls cgroup controller"),
    ({"network": {"priorities": [{"name": "eth0", "priority": 1}]}}, r"network.priorities\[0\]: the net_prio"),
    ({"rdma": {"mlx5": {"hcaHandles": 1}}}, r"linux.resources.rdma.mlx5: the rdma cgroup controller"),
    ({"blockIO": {"weight": 500}}, r"linux.resources.blockIO.weight: .*blkio.*no blkio.weight nor blkio.bfq.weight"),
    ({"unified": {"memory.high": "1"}}, r"linux.resources.unified: needs cgroup v2"),
    ({"memory": {"swappiness": 101}}, r"linux.resources.memory.swappiness: 101 is not in 0..100"),
])
def test_unsupported_resources_name_field_and_controller(tree, resources, message):
    d = tree.driver("/c")
    tree.created(d)
    with pytest.raises(OCIError, match=message):
        d.apply(resources)


def test_blkio_weight_uses_bfq_when_that_is_what_the_kernel_has(tree):
    d = tree.driver("/c")
    tree.created(d)
    (Path(d.paths["blkio"]) / "blkio.bfq.weight").write_text("")
    d.apply({"blockIO": {"weight": 500}})
    assert tree.read(d, "blkio", "blkio.bfq.weight") == "500"


def test_add_pids_freeze_thaw(tree):
    d = tree.driver("/c")
    tree.created(d)
    d.add(1234)
    assert {Path(p, "cgroup.procs").read_text() for p in d.paths.values()} == {"1234"}
    assert d.pids() == [1234]
    d.freeze()
    assert d.frozen() and tree.read(d, "freezer", "freezer.state") == "FROZEN"
    d.thaw()
    assert not d.frozen() and tree.read(d, "freezer", "freezer.state") == "THAWED"


def test_stats_shape(tree):
    d = tree.driver("/c")
    tree.created(d)
    mem = Path(d.paths["memory"])
    for name, value in (("memory.limit_in_bytes", "4096"), ("memory.max_usage_in_bytes", "3000"),
                        ("memory.failcnt", "2"), ("memory.stat", "cache 7\nrss 9\n")):
        (mem / name).write_text(value)
    (Path(d.paths["pids"]) / "pids.current").write_text("3\n")
    (Path(d.paths["pids"]) / "pids.max").write_text("10\n")
    stats = d.stats()
    assert stats["memory"]["usage"] == {"limit": 4096, "usage": 1000000, "max": 3000, "failcnt": 2}
    assert stats["memory"]["cache"] == 7 and stats["memory"]["raw"] == {"cache": 7, "rss": 9}
    assert stats["pids"] == {"current": 3, "limit": 10}
    assert stats["cpuset"] == {"cpus": [0, 1, 2, 3], "mems": [0]}


def test_the_shared_default_parent_goes_with_the_last_container(tree):
    a, b = tree.driver("", cid="a"), tree.driver("", cid="b")
    a.create()
    b.create()
    assert f"{tree.root}/memory/oci-runtime" in a.created and f"{tree.root}/memory/oci-runtime" not in b.created
    tree.unfile(a)
    a.destroy()
    assert (tree.root / "memory" / "oci-runtime" / "b").is_dir(), "b's cgroup is untouched"
    tree.unfile(b)
    b.destroy()
    assert not (tree.root / "memory" / "oci-runtime").exists()


def test_destroy_removes_each_directory_once(tree, monkeypatch):
    """The parent it made is removed with its leaf, not tried again as the shared default parent
    (one rmdir per directory: `run` and `delete` pay for every syscall)."""
    d = tree.driver("", cid="once")
    d.create()
    tree.unfile(d)
    calls = []
    real_rmdir = os.rmdir
    monkeypatch.setattr(os, "rmdir", lambda path: calls.append(path) or real_rmdir(path))
    d.destroy()
    assert sorted(calls) == sorted(d.created) and len(set(calls)) == len(calls)
    assert not (tree.root / "memory" / "oci-runtime").exists()


def test_oom_kills_are_read_from_memory_oom_control(tree):
    """The fake memory.oom_control stands in for the kernel's: `events` compares the counter."""
    d = tree.driver("/oci-runtime/c1")
    tree.created(d)
    (Path(d.paths["memory"]) / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert d.oom_kills() == 3
    tree.unfile(d)
    d.destroy()


@pytest.mark.parametrize("saved", [
    {"kind": "v1", "paths": {"freezer": "/sys/fs/cgroup/freezer/gone"}},
    {"kind": "v2", "root": "/sys/fs/cgroup", "path": "/gone"},
])
def test_frozen_of_a_cgroup_being_removed_is_false(monkeypatch, saved):
    """A racing delete: reading the freezer state of a cgroup being removed fails with ENODEV; `state`
    then reports the container by its init (stopped), not an internal error."""
    import errno

    from oci_runtime import cgroups

    read = []

    def gone(path: str) -> str:
        read.append(path)
        raise OSError(errno.ENODEV, "No such device", path)

    monkeypatch.setattr(cgroups, "open", gone, raising=False)
    assert cgroups.frozen(saved) is False
    assert read and read[0].endswith(("/gone/freezer.state", "/gone/cgroup.events"))
