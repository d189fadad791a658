"""The cgroup v2 driver on a REAL cgroup2 mount: processes, freezer, cgroup.kill, removal, and the
eBPF device filter really filtering device access.

This host is cgroup v1 hybrid: cgroup2 is mounted at /sys/fs/cgroup/unified with (almost) no
controllers, but cgroup.procs, cgroup.freeze, cgroup.kill and BPF_PROG_TYPE_CGROUP_DEVICE
attachment work there. Each test makes its own cgroup under a per-test parent and removes every
cgroup it made, even on failure.
"""
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from oci_runtime.cgroups import devices_bpf
from oci_runtime.cgroups.v2 import V2Driver
from oci_runtime.errors import OCIError

UNIFIED = "/sys/fs/cgroup/unified"


def state(pid: int) -> str:
    """The State letter of /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    raise AssertionError(f"no State in /proc/{pid}/status")


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def driver():
    """A V2Driver for /oci-test-<random>/c on the real cgroup2 mount; at teardown every process
    left in it is killed and every directory it created removed (the test checks removal itself)."""
    parent = f"/oci-test-{uuid.uuid4().hex[:8]}"
    root_control = Path(UNIFIED, "cgroup.subtree_control")
    enabled_before = set(root_control.read_text().split())
    d = V2Driver(f"{parent}/c", UNIFIED)
    yield d
    top = os.path.join(UNIFIED, parent.lstrip("/"))
    for root, dirs, _ in os.walk(top, topdown=False):
        procs = Path(root, "cgroup.procs")
        if procs.exists():
            Path(root, "cgroup.freeze").write_text("0")
            for pid in procs.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _ in range(200):
            try:
                os.rmdir(root)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)
    assert not os.path.exists(top), f"could not remove {top}"
    # create() enables the available controllers in every ancestor, the host's root included:
    # give the host back the root it had
    for controller in set(root_control.read_text().split()) - enabled_before:
        root_control.write_text(f"-{controller}")


def spawn_in(d: V2Driver, *args: str, **kw) -> subprocess.Popen:
    """Start args with its pid written into the cgroup before exec (nothing runs outside it)."""
    procs = os.path.join(d.dir, "cgroup.procs")
    child = subprocess.Popen(["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *args], **kw)
    assert wait_for(lambda: child.pid in d.pids() or child.poll() is not None)
    return child


def test_create_add_pids_destroy(driver: V2Driver):
    """create() makes parent and leaf (recorded), add() moves a process in, pids() lists it,
    destroy() removes both directories once the process is gone."""
    driver.create()
    parent = os.path.dirname(driver.dir)
    assert driver.created == [parent, driver.dir]
    assert os.path.isdir(driver.dir)
    child = subprocess.Popen(["sleep", "60"])
    try:
        driver.add(child.pid)
        assert driver.pids() == [child.pid]
        assert Path(f"/proc/{child.pid}/cgroup").read_text().strip().endswith(f"::{driver.path}")
        assert driver.stats()["pids"] == {"current": 1}
    finally:
        child.kill()
        child.wait()
    assert wait_for(lambda: driver.pids() == [])
    driver.destroy()
    assert not os.path.exists(driver.dir) and not os.path.exists(parent)
    assert driver.created == []


def test_freeze_thaw(driver: V2Driver):
    """freeze() stops the process (frozen() true, the task stops making progress), thaw() resumes it."""
    driver.create()
    child = spawn_in(driver, "sh", "-c", "while :; do :; done")
    try:
        assert driver.pids() == [child.pid]
        assert not driver.frozen()
        driver.freeze()
        assert driver.frozen()
        ticks = int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[11])
        time.sleep(0.3)
        assert int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[11]) == ticks
        assert state(child.pid) in ("S", "D")   # a frozen task sleeps in the freezer, never R
        driver.thaw()
        assert wait_for(lambda: not driver.frozen())
        assert wait_for(lambda: int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[11]) > ticks)
    finally:
        driver.thaw()
        child.kill()
        child.wait()
    driver.destroy()
    assert not os.path.exists(driver.dir)


def test_kill_reaches_every_process_and_destroy_retries(driver: V2Driver):
    """kill() (cgroup.kill) SIGKILLs every process of the cgroup, including grandchildren and
    ones in a sub-cgroup the container made; destroy() then removes the sub-cgroup too."""
    driver.create()
    child = spawn_in(driver, "sh", "-c", "sleep 60 & sleep 60 & wait")
    assert wait_for(lambda: len(driver.pids()) == 3)
    sub = os.path.join(driver.dir, "inner")
    os.mkdir(sub)
    other = subprocess.Popen(["sleep", "60"])
    Path(sub, "cgroup.procs").write_text(str(other.pid))
    try:
        driver.kill()
        assert child.wait(timeout=5) == -signal.SIGKILL
        assert other.wait(timeout=5) == -signal.SIGKILL
        assert wait_for(lambda: driver.pids() == [])
    finally:
        for p in (child, other):
            if p.poll() is None:
                p.kill()
                p.wait()
    driver.destroy()
    assert not os.path.exists(sub) and not os.path.exists(driver.dir)


def test_destroy_kills_what_is_left(driver: V2Driver):
    """destroy() on a cgroup that still has a process: EBUSY, kill, retry, removed."""
    driver.create()
    child = spawn_in(driver, "sleep", "60")
    try:
        driver.destroy()
        assert child.wait(timeout=5) == -signal.SIGKILL
        assert not os.path.exists(driver.dir)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_unavailable_controller_is_refused(driver: V2Driver):
    """This mount enables no memory controller for our cgroup: a memory limit is an error naming
    field and controller, not a silent skip."""
    driver.create()
    assert "memory" not in driver.controllers()
    with pytest.raises(OCIError, match=r"linux.resources.memory.limit: cgroup v2 controller 'memory'"):
        driver.apply({"memory": {"limit": 1 << 30}})
    driver.destroy()


def device_check(driver: V2Driver) -> tuple[list[str], str]:
    """Open /dev/zero and /dev/null for reading and writing from inside the cgroup (redirections of
    the `true` builtin: 0 opened, 2 refused) -> (results, stderr)."""
    script = ("true < /dev/zero; echo zero-r=$?; true > /dev/zero; echo zero-w=$?; "
              "true < /dev/null; echo null-r=$?; true > /dev/null; echo null-w=$?")
    child = spawn_in(driver, "sh", "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=10)
    return out.split(), err


def test_device_filter_really_filters(driver: V2Driver):
    """A filter allowing only /dev/null (c 1:3 rwm): opening /dev/zero fails with EPERM inside the
    cgroup while /dev/null opens; updating the rules replaces the program (one stays attached);
    removing it allows everything again."""
    driver.create()
    driver.apply({"devices": [{"allow": False, "access": "rwm"},
                              {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    results, err = device_check(driver)
    assert results == ["zero-r=2", "zero-w=2", "null-r=0", "null-w=0"], err
    assert "/dev/zero: Operation not permitted" in err
    # outside the cgroup nothing changed
    assert subprocess.run(["head", "-c1", "/dev/zero"], capture_output=True, check=True).stdout == b"\0"

    # update: every char device of major 1 read-only
    driver.apply({"devices": [{"allow": False, "access": "rwm"},
                              {"allow": True, "type": "c", "major": 1, "access": "r"}]})
    results, err = device_check(driver)
    assert results == ["zero-r=0", "zero-w=2", "null-r=0", "null-w=2"], err
    fd = os.open(driver.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fds = devices_bpf.attached(fd)
        assert len(fds) == 1
        for f in fds:
            os.close(f)
        devices_bpf.remove(driver.dir)
        assert devices_bpf.attached(fd) == []
    finally:
        os.close(fd)
    results, err = device_check(driver)
    assert results == ["zero-r=0", "zero-w=0", "null-r=0", "null-w=0"], err
    driver.destroy()
    assert not os.path.exists(driver.dir)


def test_device_filter_deny_list(driver: V2Driver):
    """`allow a` then `deny c 1:5 w`: /dev/zero opens for reading only, /dev/null for both."""
    driver.create()
    driver.apply({"devices": [{"allow": True, "access": "rwm"},
                              {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}]})
    results, err = device_check(driver)
    assert results == ["zero-r=0", "zero-w=2", "null-r=0", "null-w=0"], err
    driver.destroy()
    assert not os.path.exists(driver.dir)
