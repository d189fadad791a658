"""podman (through conmon) with oci-runtime as its runtime: the call sequences of CLIENTS.md, end to end.

Each test gets its own podman configuration and storage (clients.Podman) and runs containers
from a private copy of the busybox rootfs with `--rootfs` (no registry exists here). podman
calls oci-runtime by its absolute path and conmon never passes --root, so the containers' state
is in the runtime's default root; teardown checks nothing of them is left there, in the cgroup
trees or in the host's mount table.
"""
import os
import time
from pathlib import Path

import pytest
from clients import DEFAULT_ROOT, OCI_RUNTIME, Podman

from oci_runtime.appliers.seccomp import CACHE_DIR as SECCOMP_CACHE


@pytest.fixture
def podman():
    pm = Podman()
    yield pm
    assert pm.close() == []


def wait_status(podman: Podman, cid: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (now := podman("inspect", "--format", "{{.State.Status}}", cid).stdout.strip()) != status:
        assert time.monotonic() < deadline, f"container is {now!r}, expected {status!r}"
        time.sleep(0.1)


@pytest.mark.parametrize("explicit", [False, True], ids=["containers.conf", "--runtime"])
def test_run_rm_prints_and_leaves_nothing(explicit):
    """The runtime named in containers.conf as the README shows, or by path on the command line."""
    podman = Podman(explicit=explicit)
    try:
        _run_rm_prints_and_leaves_nothing(podman)
    finally:
        assert podman.close() == []


def _run_rm_prints_and_leaves_nothing(podman):
    before = set(os.listdir(DEFAULT_ROOT)) if DEFAULT_ROOT.exists() else set()
    proc = podman("run", "--rm", "--rootfs", str(podman.rootfs), "echo", "hello")
    assert proc.stdout == "hello\n"
    assert podman("ps", "-aq").stdout == ""
    info = podman("info", "--format", "{{.Host.OCIRuntime.Path}} {{.Host.OCIRuntime.Version}}").stdout.split()
    assert info[0] == OCI_RUNTIME and info[1] == "oci-runtime"
    # the container leaves nothing; the runtime's compiled seccomp filters stay for the next one
    assert set(os.listdir(DEFAULT_ROOT)) - {SECCOMP_CACHE} == before - {SECCOMP_CACHE}
    assert (DEFAULT_ROOT / SECCOMP_CACHE).is_dir(), "podman's profile was compiled and kept"


def test_run_rm_passes_the_exit_code(podman):
    proc = podman("run", "--rm", "--rootfs", str(podman.rootfs), "sh", "-c", "exit 42", check=False)
    assert proc.returncode == 42, proc.stderr


def test_detached_exec_stop_rm(podman):
    """run -d, then exec (conmon: exec --process FILE --detach --pid-file), stop (kill 15), rm."""
    cid = podman.run_detached("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    assert (DEFAULT_ROOT / cid / "state.json").exists()
    assert podman("exec", cid, "sh", "-c", "echo in $(hostname); id -u").stdout == f"in {cid[:12]}\n0\n"
    assert podman("exec", cid, "sh", "-c", "exit 3", check=False).returncode == 3
    assert podman("exec", "--user", "1000:1000", "-w", "/tmp", cid, "sh", "-c", "id -u; id -g; pwd").stdout == \
        "1000\n1000\n/tmp\n"
    podman("stop", "-t", "10", cid)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip() == "0"
    podman("rm", cid)
    assert not (DEFAULT_ROOT / cid).exists()


def test_kill_with_a_signal(podman):
    cid = podman.run_detached("sh", "-c", "trap 'exit 9' USR1; while :; do sleep 0.1; done")
    podman("kill", "-s", "USR1", cid)
    assert podman("wait", cid).stdout.strip() == "9"


def test_pause_and_unpause(podman):
    cid = podman.run_detached("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done")
    podman("pause", cid)
    wait_status(podman, cid, "paused")
    pid = podman("inspect", "--format", "{{.State.Pid}}", cid).stdout.strip()
    cgroups = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    frozen = next(line for line in cgroups if ":freezer:" in line).split(":", 2)[2]
    assert Path(f"/sys/fs/cgroup/freezer{frozen}/freezer.state").read_text().strip() == "FROZEN"
    podman("unpause", cid)
    wait_status(podman, cid, "running")
    first = podman("exec", cid, "cat", "/tmp/tick").stdout
    time.sleep(0.3)
    assert podman("exec", cid, "cat", "/tmp/tick").stdout != first, "the container did not resume"


def test_memory_and_pids_limits_are_visible_inside(podman):
    cid = podman.run_detached("sleep", "100", options=("--memory", "64m", "--pids-limit", "50"))
    out = podman("exec", cid, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/pids/pids.max").stdout.split()
    assert out == [str(64 << 20), "50"]


def test_tty_in_run_and_exec(podman):
    proc = podman.tty("run", "--rm", "-t", "--rootfs", str(podman.rootfs), "sh", "-c", "tty; test -t 0 && echo in-tty")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "/dev/pts/0" in proc.stdout and "in-tty" in proc.stdout
    cid = podman.run_detached("sleep", "100")
    proc = podman.tty("exec", "-t", cid, "sh", "-c", "tty; exit 4")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "/dev/pts/" in proc.stdout
    assert podman("exec", cid, "tty", check=False).stdout.strip() == "not a tty"


@pytest.mark.parametrize("supports_json", [True, False], ids=["json-log", "stderr"])
def test_missing_program_is_127_with_our_message(supports_json):
    """With runtime_supports_json conmon reads our --log (one JSON error line); without, our stderr."""
    pm = Podman(supports_json=supports_json)
    try:
        proc = pm("run", "--rm", "--rootfs", str(pm.rootfs), "/bin/nonexistent", check=False)
        assert proc.returncode == 127
        # conmon quotes our stderr as it came (logrus text, as runc's); our --log line's msg unquoted
        message = proc.stderr.replace('\\"', '"')
        assert 'oci-runtime create failed: unable to start container process: exec: "/bin/nonexistent": ' \
               "stat /bin/nonexistent: no such file or directory" in message
        assert ("level=error msg=" in proc.stderr) is not supports_json
        assert "Traceback" not in proc.stderr
        cid = pm.run_detached("sleep", "100")
        proc = pm("exec", cid, "/bin/nonexistent", check=False)
        assert proc.returncode == 127
        assert "no such file or directory" in proc.stderr
    finally:
        assert pm.close() == []
