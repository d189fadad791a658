"""containerd (through containerd-shim-runc-v2) with oci-runtime as the runc binary, end to end.

One private containerd daemon for the module (clients.Containerd: its own root/state, a private
mount namespace with /run on a tmpfs), a busybox image imported from an OCI layout tarball, and
`ctr run --runc-binary <oci-runtime>`, which sets the same runc option (BinaryName) as a
containerd CRI runtime configured as in the README. Every test removes its containers and checks
that the runtime's state root (the shim's --root) holds nothing of them afterwards.
"""
import subprocess
from pathlib import Path

import pytest
from clients import OCI_RUNTIME, Containerd, in_pty, readme_block


@pytest.fixture(scope="module")
def containerd():
    daemon = Containerd()
    daemon.import_image()
    daemon.ids = []
    yield daemon
    assert daemon.close(daemon.ids) == []


@pytest.fixture
def ctr(containerd):
    """The module's daemon; at teardown the test's containers are gone from ctr and from our state root."""
    yield containerd
    for cid in containerd.ids:
        containerd.ctr("task", "delete", "--force", cid, check=False)
        containerd.ctr("container", "delete", cid, check=False)
    assert containerd.ctr("container", "ls", "-q").stdout.split() == []
    assert runtime_ids(containerd) == []


def runtime_ids(containerd: Containerd) -> list[str]:
    """`oci-runtime list` over the shim's state root, inside the daemon's mount namespace."""
    return subprocess.run(["nsenter", f"--mount=/proc/{containerd.daemon.pid}/ns/mnt", OCI_RUNTIME,
                           "--root", Containerd.RUNTIME_ROOT, "list", "-q"],
                          capture_output=True, text=True, check=True).stdout.split()


def task_status(ctr: Containerd, cid: str) -> str:
    rows = [line.split() for line in ctr.ctr("task", "ls").stdout.splitlines()[1:]]
    return {row[0]: row[2] for row in rows}[cid]


def test_run_rm_echo_and_exit_code(ctr):
    ctr.ids.append("rm-echo")
    proc = ctr.run("--rm", ctr.IMAGE, "rm-echo", "sh", "-c", "echo hi; exit 7", check=False)
    assert (proc.returncode, proc.stdout) == (7, "hi\n"), proc.stderr


def test_detached_exec_ps_kill_delete(ctr):
    cid = "detached"
    ctr.ids.append(cid)
    ctr.run("-d", ctr.IMAGE, cid, "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait")
    pid = int(ctr.ctr("task", "ls").stdout.split(cid, 1)[1].split()[0])
    proc = ctr.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo in exec; exit 4", check=False)
    assert (proc.returncode, proc.stdout) == (4, "in exec\n"), proc.stderr
    # `task ps` goes through `oci-runtime ps --format json`: host pids
    pids = [int(line.split()[0]) for line in ctr.ctr("task", "ps", cid).stdout.splitlines()[1:]]
    assert len(pids) == 2 and pid in pids, pids
    sleeper = sum(pids) - pid
    assert Path(f"/proc/{sleeper}/cmdline").read_text() == "sleep\x001000\x00"
    assert Path(f"/proc/{sleeper}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid)
    ctr.ctr("task", "kill", "-s", "15", cid)
    ctr.ctr("task", "wait", cid, check=False, timeout=10)
    assert task_status(ctr, cid) == "STOPPED"
    ctr.ctr("task", "delete", cid)
    ctr.ctr("container", "delete", cid)
    assert cid not in runtime_ids(ctr)


def test_task_delete_force_of_a_running_task(ctr):
    """The shim's sequence: kill --all 9, delete, delete --force (of a container already gone)."""
    cid = "force"
    ctr.ids.append(cid)
    ctr.run("-d", ctr.IMAGE, cid, "sleep", "100")
    assert task_status(ctr, cid) == "RUNNING"
    ctr.ctr("task", "delete", "--force", cid)
    assert cid not in runtime_ids(ctr)


def test_pause_and_resume(ctr):
    cid = "pausing"
    ctr.ids.append(cid)
    ctr.run("-d", ctr.IMAGE, cid, "sleep", "100")
    ctr.ctr("task", "pause", cid)
    assert task_status(ctr, cid) == "PAUSED"
    ctr.ctr("task", "resume", cid)
    assert task_status(ctr, cid) == "RUNNING"


def test_terminal_in_run_and_exec(ctr):
    ctr.ids.append("tty")
    proc = in_pty(ctr.argv("run", "--runc-binary", OCI_RUNTIME, "--rm", "-t", ctr.IMAGE, "tty", "sh", "-c",
                           "tty; exit 5"))
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "/dev/pts/0" in proc.stdout
    ctr.ids.append("tty-exec")
    ctr.run("-d", ctr.IMAGE, "tty-exec", "sleep", "100")
    proc = in_pty(ctr.argv("task", "exec", "-t", "--exec-id", "e1", "tty-exec", "tty"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "/dev/pts/" in proc.stdout


def test_failing_create_shows_our_message(ctr):
    ctr.ids.append("missing")
    proc = ctr.run("--rm", ctr.IMAGE, "missing", "/bin/nonexistent", check=False)
    assert proc.returncode != 0
    assert 'OCI runtime create failed: oci-runtime create failed: unable to start container process: exec: ' \
           '"/bin/nonexistent": stat /bin/nonexistent: no such file or directory' in proc.stderr
    assert "missing" not in runtime_ids(ctr)


def test_readme_cri_runtime_config_is_loaded():
    """The README's CRI snippet, loaded by a containerd with its CRI plugin on: the plugin starts and
    its runtime table holds our handler with BinaryName pointing at oci-runtime. (Pods themselves
    need a kubelet or crictl and a registry for the pause image; ctr exercises the same
    io.containerd.runc.v2 + BinaryName path in the tests above.)"""
    snippet = readme_block("## With containerd", "toml").replace("/path/to/.venv/bin/oci-runtime", OCI_RUNTIME)
    daemon = Containerd(extra_config=snippet.replace("version = 2\n", ""), cri=True)
    try:
        plugins = [line.split() for line in daemon.ctr("plugins", "ls").stdout.splitlines()]
        assert [p for p in plugins if p[1:2] == ["cri"]] == [["io.containerd.grpc.v1", "cri", "linux/amd64", "ok"]]
        log = (daemon.tmp / "containerd.log").read_text()
        assert "Runtimes:map[oci-runtime:{Type:io.containerd.runc.v2" in log
        assert f"Options:map[BinaryName:{OCI_RUNTIME}]" in log
    finally:
        assert daemon.close([]) == []
