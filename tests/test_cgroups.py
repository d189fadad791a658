"""cgroups on real busybox containers (cgroup v1 hosts): limits in the host's files and inside,
pause/resume, ps, kill --all, update, events --stats, delete's clean-up, paths and clear errors
for what the host lacks (config-linux.md "Control groups"; runc's commands)."""
import json
import os
import time
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import error_message
from oci_runtime import cgroups

CG = Path("/sys/fs/cgroup")
# These tests are for cgroup v1 and hybrid hosts (tests/test_cgroups_v2.py covers unified ones).
HIERARCHIES = sorted(Path(mp).name for mp, _ in cgroups.v1_hierarchies().values())
CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}


def test_the_host_has_cgroup_v1_hierarchies():
    assert cgroups.mode() in ("legacy", "hybrid"), "these tests need a cgroup v1 or hybrid host"
    assert {"memory", "pids", "cpu", "freezer", "devices"} <= set(HIERARCHIES)


def dirs(path: str) -> dict[str, bool]:
    """Whether <hierarchy>/<path> exists, per hierarchy."""
    return {h: (CG / h / path.lstrip("/")).is_dir() for h in HIERARCHIES}


@pytest.fixture
def cgpath(runtime):
    """A unique absolute cgroupsPath parent: /oci-test-<hex>; at teardown the containers are
    force-deleted and any directory left under it is removed (and the test fails on it)."""
    parent = f"/oci-test-{uuid.uuid4().hex[:8]}"
    yield parent
    for cid in runtime.ids():
        runtime("delete", "--force", cid)
    leftovers = []
    for h in HIERARCHIES:
        top = CG / h / parent.lstrip("/")
        for d in sorted((p for p in [top, *top.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts)):
            leftovers.append(str(d))
            d.rmdir()
    assert not leftovers, f"cgroup directories left behind: {leftovers}"


def read(path: Path) -> str:
    return path.read_text().strip()


def wait_for(predicate, timeout: float = 10, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def sleeper(bundle, path: str, args=("sleep", "1000"), **resources) -> None:
    bundle.config["process"]["args"] = list(args)
    bundle.config["linux"]["cgroupsPath"] = path
    bundle.config["linux"].setdefault("resources", {}).update(resources)


def test_memory_limit_is_in_the_host_file_and_visible_inside(runtime, bundle, cgpath, tmp_path):
    path = f"{cgpath}/c1"
    sleeper(bundle, path, ("cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/proc/self/cgroup"),
            memory={"limit": 64 << 20})
    bundle.config["mounts"].append(CGROUP_MOUNT)
    out = tmp_path / "out"
    with open(out, "w") as f:
        runtime("create", "--bundle", bundle.write(), "c1", check=True, stdout=f)
    assert read(CG / "memory" / path.lstrip("/") / "memory.limit_in_bytes") == str(64 << 20)
    assert all(dirs(path).values()), dirs(path)
    runtime("start", "c1", check=True)
    wait_for(lambda: runtime.state("c1")["status"] == "stopped", what="the program to exit")
    lines = out.read_text().splitlines()
    assert lines[0] == str(64 << 20), "the container sees its own cgroup at /sys/fs/cgroup/memory"
    assert f"4:memory:{path}" in lines[1:] or any(line.endswith(f":memory:{path}") for line in lines[1:])
    runtime("delete", "c1", check=True)
    assert not any(dirs(path).values())


def test_pids_limit_stops_a_fork_bomb(runtime, bundle, cgpath):
    sleeper(bundle, f"{cgpath}/c1", ("sh", "-c", "i=0; while [ $i -lt 20 ]; do sleep 100 & i=$((i+1)); echo $i; done"),
            pids={"limit": 10})
    proc = runtime("run", "--bundle", bundle.write(), "c1")
    assert "can't fork" in proc.stderr, proc.stderr
    assert proc.returncode == 2, "busybox sh gives up when fork fails"
    started = proc.stdout.split()
    assert started and int(started[-1]) == 9, f"the shell and 9 sleeps fit in pids.limit 10: {started}"


def test_cpu_quota_and_period_are_written(runtime, bundle, cgpath):
    path = f"{cgpath}/c1"
    sleeper(bundle, path, cpu={"quota": 50000, "period": 100000, "shares": 512})
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    cpu = CG / "cpu" / path.lstrip("/")
    assert (read(cpu / "cpu.cfs_quota_us"), read(cpu / "cpu.cfs_period_us"), read(cpu / "cpu.shares")) == \
        ("50000", "100000", "512")


def test_the_container_runs_in_its_cgroup_from_the_start(runtime, bundle, cgpath):
    """In every hierarchy, the cgroup2 one of this hybrid host included: the intermediate moved
    itself into the v1 ones, and the init was born in the cgroup2 one (intermediate.join_cgroup)."""
    path = f"{cgpath}/c1"
    sleeper(bundle, path)
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    pid = runtime.state("c1")["pid"]
    mine = cgroups.own_cgroups(str(pid))
    assert set(mine) >= {"memory", "pids", "freezer", "cpu", "devices", "name=systemd", ""}
    assert set(mine.values()) == {path}
    assert pid in json.loads(runtime("ps", "--format", "json", "c1", check=True).stdout)


def test_with_a_cgroup_namespace_every_hierarchy_is_rooted_at_the_containers_cgroup(runtime, bundle, cgpath):
    """A cgroup namespace's root is the cgroup its creator is in, in every hierarchy: so the command
    moves the intermediate into all of them, cgroup2 included, before it unshares (the intermediate
    alone could only have its child born in the cgroup2 one, and the namespace would be rooted at
    the command's cgroup2 cgroup there)."""
    sleeper(bundle, f"{cgpath}/c1", args=("cat", "/proc/self/cgroup"))
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    proc = runtime("run", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert len(lines) == len(cgroups.own_cgroups()) - 1  # own_cgroups lists cgroup2 twice ("" and "unified")
    assert all(line.endswith(":/") for line in lines), lines
    assert any(line.startswith("0::") for line in lines)


def test_default_device_rules_replace_allow_all(runtime, bundle, cgpath):
    path = f"{cgpath}/c1"
    sleeper(bundle, path)  # the template denies all devices
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    rules = read(CG / "devices" / path.lstrip("/") / "devices.list").splitlines()
    assert "a *:* rwm" not in rules
    assert {"c 1:3 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c *:* m"} <= set(rules)


def test_pause_freezes_and_resume_continues(runtime, bundle, cgpath, tmp_path):
    sleeper(bundle, f"{cgpath}/c1", ("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.01; done"))
    out = tmp_path / "out"
    with open(out, "w") as f:
        runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True, stdout=f)
    wait_for(lambda: len(out.read_text().splitlines()) > 3, what="counting")
    runtime("pause", "c1", check=True)
    assert runtime.state("c1")["status"] == "paused"
    count = len(out.read_text().splitlines())
    time.sleep(0.5)
    assert len(out.read_text().splitlines()) == count, "the count advanced while paused"
    again = runtime("pause", "c1")
    assert again.returncode == 1 and error_message(again.stderr) == "container not running"
    runtime("resume", "c1", check=True)
    assert runtime.state("c1")["status"] == "running"
    wait_for(lambda: len(out.read_text().splitlines()) > count + 3, what="counting after resume")
    not_paused = runtime("resume", "c1")
    assert not_paused.returncode == 1 and error_message(not_paused.stderr) == "container not paused"


def test_delete_force_of_a_paused_container_removes_its_cgroup(runtime, bundle, cgpath):
    path = f"{cgpath}/c1"
    sleeper(bundle, path)
    runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True)
    pid = runtime.state("c1")["pid"]
    runtime("pause", "c1", check=True)
    runtime("delete", "--force", "c1", check=True)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    assert not any(dirs(path).values())
    assert not any(dirs(cgpath).values()), "the parent we created goes too"


def test_update_changes_a_running_containers_limits(runtime, bundle, cgpath):
    path = f"{cgpath}/c1"
    sleeper(bundle, path, memory={"limit": 64 << 20})
    runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True)
    mem = CG / "memory" / path.lstrip("/")
    runtime("update", "--memory", "128m", "--cpu-quota", "20000", "c1", check=True)
    assert read(mem / "memory.limit_in_bytes") == str(128 << 20)
    assert read(CG / "cpu" / path.lstrip("/") / "cpu.cfs_quota_us") == "20000"
    runtime("update", "--resources", "-", "c1", check=True, input=json.dumps({"pids": {"limit": 42}}))
    assert read(CG / "pids" / path.lstrip("/") / "pids.max") == "42"
    saved = json.loads((runtime.root / "c1" / "config.json").read_text())["linux"]["resources"]
    assert saved["memory"]["limit"] == 128 << 20 and saved["pids"]["limit"] == 42
    bad = runtime("update", "--resources", "-", "c1", input=json.dumps({"hugepageLimits": [{"pageSize": "2MB",
                                                                                          "limit": 1 << 21}]}))
    assert bad.returncode == 1 and "hugepageLimits" in error_message(bad.stderr)


def test_ps_lists_every_process_of_the_container(runtime, bundle, cgpath):
    sleeper(bundle, f"{cgpath}/c1", ("sh", "-c", "sleep 1001 & exec sleep 1002"))
    runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True)
    init = runtime.state("c1")["pid"]
    pids = wait_for(lambda: (p := json.loads(runtime("ps", "-f", "json", "c1", check=True).stdout)) and len(p) == 2
                    and p, what="two processes")
    assert init in pids
    table = runtime("ps", "c1", check=True)
    assert table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"] and len(lines) == 3
    assert "sleep 1001" in table.stdout and "sleep 1002" in table.stdout


def test_kill_all_signals_every_process_of_the_cgroup(runtime, bundle, cgpath):
    path = f"{cgpath}/c1"
    sleeper(bundle, path, ("sh", "-c", "sleep 1001 & exec sleep 1002"))
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True)
    procs = CG / "pids" / path.lstrip("/") / "cgroup.procs"
    wait_for(lambda: len(read(procs).split()) == 2, what="two processes")
    runtime("kill", "--all", "c1", "KILL", check=True)
    wait_for(lambda: read(procs) == "", what="the cgroup to empty")
    assert wait_for(lambda: runtime.state("c1")["status"] == "stopped", what="stopped")


def test_events_stats_prints_one_stats_object(runtime, bundle, cgpath):
    sleeper(bundle, f"{cgpath}/c1", memory={"limit": 64 << 20}, pids={"limit": 50})
    runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True)
    out = runtime("events", "--stats", "c1", check=True).stdout
    assert out.count("\n") == 1
    event = json.loads(out)
    assert (event["type"], event["id"]) == ("stats", "c1")
    assert event["data"]["memory"]["usage"]["limit"] == 64 << 20
    assert event["data"]["pids"] == {"current": 1, "limit": 50}
    assert event["data"]["cpu"]["usage"]["total"] > 0


def test_events_streams_stats_and_an_oom_event(runtime, bundle, cgpath):
    """`events` (no --stats): stats every --interval, and {"type":"oom"} once the OOM killer
    has killed a process of the container (here `tail`, buffering newline-free input past the
    16 MiB limit), until the container stops."""
    import subprocess

    from conftest import OCI_RUNTIME

    script = "sleep 1; head -c 200m /dev/zero | tail; sleep 3"
    sleeper(bundle, f"{cgpath}/c1", args=("sh", "-c", script), memory={"limit": 16 << 20})
    runtime("run", "-d", "--bundle", bundle.write(), "c1", check=True)
    events = subprocess.run([OCI_RUNTIME, "--root", str(runtime.root), "events", "--interval", "1s", "c1"],
                            capture_output=True, text=True, timeout=30)
    assert events.returncode == 0, events.stderr
    kinds = [json.loads(line)["type"] for line in events.stdout.splitlines()]
    assert kinds.count("oom") == 1 and kinds[0] == "stats" and kinds.count("stats") >= 2


def test_on_a_hybrid_host_the_container_also_gets_a_cgroup2_cgroup(runtime, bundle, cgpath):
    """As runc 1.1: the container's processes are in <path> of the cgroup2 hierarchy too, which
    its cgroup mount shows; delete removes that directory as well."""
    unified = CG / "unified" / cgpath.lstrip("/") / "c1"
    sleeper(bundle, f"{cgpath}/c1", args=("sh", "-c", "grep ^0:: /proc/self/cgroup; ls /sys/fs/cgroup/unified"))
    bundle.config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                    "options": ["ro"]})
    out = runtime("run", "--bundle", bundle.write(), "c1", check=True).stdout.split()
    assert out[0] == f"0::{cgpath}/c1"
    assert "cgroup.events" in out[1:], "the container sees its own (non-root) cgroup2 cgroup"
    bundle.config["linux"]["cgroupsPath"] = f"{cgpath}/c2"
    runtime("create", "--bundle", bundle.write(), "c2", check=True)
    pid = runtime.state("c2")["pid"]
    c2 = CG / "unified" / cgpath.lstrip("/") / "c2"
    assert str(pid) in read(c2 / "cgroup.procs").split()
    runtime("delete", "c2", check=True)
    assert not c2.exists() and not unified.exists()
    assert not (CG / "unified" / cgpath.lstrip("/")).exists()


def test_delete_removes_only_the_directories_it_created(runtime, bundle, cgpath):
    (CG / "memory" / cgpath.lstrip("/")).mkdir()  # a parent that exists before, in one hierarchy
    path = f"{cgpath}/c1"
    sleeper(bundle, path)
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    assert all(dirs(path).values())
    runtime("delete", "c1", check=True)
    assert not any(dirs(path).values())
    assert dirs(cgpath) == {h: h == "memory" for h in HIERARCHIES}, "only the pre-existing parent stays"
    (CG / "memory" / cgpath.lstrip("/")).rmdir()


@pytest.mark.parametrize("field,resources,controller", [
    ("hugepageLimits", {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}, "hugetlb"),
    ("network.classID", {"network": {"classID": 1048577}}, "net_cls"),
    ("rdma", {"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}}, "rdma"),
    ("unified", {"unified": {"memory.high": "1000000"}}, "v2"),
    ("memory.kernel", {"memory": {"kernel": 1 << 20}}, "memory"),  # kmem limits are gone from kernel 6.x
])
def test_an_unsupported_resource_is_one_clear_error_and_no_debris(runtime, bundle, cgpath, field, resources,
                                                                   controller):
    if controller in ("hugetlb", "net_cls", "rdma") and controller in cgroups.v1_hierarchies():
        pytest.fail(f"this host has {controller} as a v1 hierarchy: pick another missing controller")
    path = f"{cgpath}/c1"
    sleeper(bundle, path, **resources)
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    msg = error_message(proc.stderr)
    assert msg.startswith(f"linux.resources.{field}") and controller in msg, msg
    assert runtime.ids() == []
    assert not any(dirs(cgpath).values()), "a failed create leaves no cgroup directory"


def test_relative_path_is_under_the_runtimes_own_cgroup(runtime, bundle, cgpath):
    rel = f"oci-rel-{uuid.uuid4().hex[:8]}/c1"
    sleeper(bundle, rel)
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    own = cgroups.own_cgroups()  # the runtime runs in the test's cgroups
    pid = runtime.state("c1")["pid"]
    inside = cgroups.own_cgroups(str(pid))
    try:
        for controller in ("memory", "pids", "cpu"):
            want = os.path.join(own[controller], rel)
            assert inside[controller] == want
            assert (CG / controller / want.lstrip("/")).is_dir()
    finally:
        runtime("delete", "--force", "c1", check=True)
    for controller in ("memory", "pids", "cpu"):
        assert not (CG / controller / os.path.join(own[controller], rel).lstrip("/")).parent.exists()


def test_absent_path_defaults_to_oci_runtime_id(runtime, bundle):
    cid = f"oci-default-{uuid.uuid4().hex[:8]}"
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), cid, check=True)
    pid = runtime.state(cid)["pid"]
    assert cgroups.own_cgroups(str(pid))["memory"] == f"/oci-runtime/{cid}"
    runtime("delete", "--force", cid, check=True)
    assert not (CG / "memory" / "oci-runtime" / cid).exists()


def test_with_a_cgroup_namespace_a_fresh_mount_shows_the_containers_cgroup(runtime, bundle, cgpath):
    path = f"{cgpath}/c1"
    sleeper(bundle, path, ("sh", "-c", "grep memory /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max"),
            pids={"limit": 33})
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.config["mounts"].append(CGROUP_MOUNT)
    proc = runtime("run", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert len(lines) == 2 and lines[0].endswith(":memory:/") and lines[1] == "33", proc.stdout


def test_cgroup_ownership_is_never_given_away_on_cgroup_v1(runtime, bundle, cgpath):
    """config-linux.md "Cgroup ownership": not on cgroup v1 (delegation is not secure there), even
    with everything else that would ask for it: a new cgroup namespace, a read-write cgroup mount and
    a non-root process user."""
    path = f"{cgpath}/c1"
    sleeper(bundle, path)
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.config["mounts"].append({**CGROUP_MOUNT, "options": ["nosuid", "noexec", "nodev"]})
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    runtime("create", "--bundle", bundle.write(), "c1", check=True, stdin=subprocess.DEVNULL)
    owners = {h: (CG / h / path.lstrip("/")).stat().st_uid for h in HIERARCHIES}
    owners.update({f"{h}/{f.name}": f.stat().st_uid for h in ("pids", "memory")
                   for f in (CG / h / path.lstrip("/")).iterdir()})
    assert set(owners.values()) == {0}, owners


def test_migration_warm_up_moves_nothing_and_leaves_no_process():
    """cgroups.warm_up_migration (create and exec start it when they move the intermediate): a child
    writes its own pid into the cgroup it is already in, to take the kernel's migration lock early;
    our cgroups stay as they were and the child is reaped by the function it returns."""
    before = cgroups.own_cgroups()
    wait = cgroups.warm_up_migration()
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    assert len(children) == 1  # the warm-up child, running or exited (a zombie until reaped)
    wait()
    assert Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split() == []
    with pytest.raises(ChildProcessError):
        os.waitpid(int(children[0]), os.WNOHANG)
    assert cgroups.own_cgroups() == before
    wait()  # a second call (already reaped) is harmless


@pytest.mark.parametrize("namespace", [None, "cgroup"])
def test_create_reaps_its_warm_up_child_and_its_intermediate(runtime, bundle, namespace):
    """create forks the intermediate (the sealed copy) first thing and, when it is to move it into
    the cgroup itself (with a cgroup namespace), the warm-up child; it reaps both. Seen from a child
    subreaper that runs `create`: the container's init is re-parented to it, and nothing else (an
    unreaped child of create would be too)."""
    if namespace:
        bundle.config["linux"]["namespaces"].append({"type": namespace})
    import sys
    import textwrap

    from conftest import OCI_RUNTIME

    bundle.config["process"]["args"] = ["sleep", "100"]
    create = [OCI_RUNTIME, "--root", str(runtime.root), "create", "--bundle", bundle.write(), "w1"]
    script = textwrap.dedent(f"""
        import json, os, subprocess, prctl
        prctl.set_child_subreaper(True)
        subprocess.run({create!r}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(json.dumps(open(f"/proc/{{os.getpid()}}/task/{{os.getpid()}}/children").read().split()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [str(runtime.state("w1")["pid"])]
