"""sealed.interpreter_exe: what the intermediate, the init and exec's processes are exec'd from, so
that /proc/<pid>/exe never leads to a writable host interpreter (CVE-2019-5736): a detached,
upper-less overlayfs view of the binary here, a sealed memfd copy where overlayfs is refused; and
sealed.start_early, which starts the intermediate before the command line is even parsed."""
import errno
import fcntl
import hashlib
import os
import subprocess
import sys

import pytest

from oci_runtime import sealed
from oci_runtime import syscalls as sc

INTERPRETER = os.path.realpath(sys.executable)


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def test_the_overlay_view_is_the_interpreter_and_refuses_writes():
    before = mountinfo()
    fd = sealed.interpreter_exe()
    try:
        path = f"/proc/self/fd/{fd}"
        assert os.readlink(path) == "/" + os.path.basename(INTERPRETER), "a detached mount: no host path"
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert digest(path) == digest(INTERPRETER)
        with pytest.raises(OSError) as refused:
            open(path, "r+b")
        assert refused.value.errno == errno.EROFS
        assert os.stat(path).st_dev != os.stat(INTERPRETER).st_dev
        out = subprocess.run([path, "-I", "-S", "-c", "import os; print(os.readlink('/proc/self/exe'))"],
                             pass_fds=(fd,), capture_output=True, text=True, check=True).stdout
        assert out.strip() == "/" + os.path.basename(INTERPRETER)
        assert mountinfo() == before, "the overlay and its empty tmpfs layer are mounted nowhere"
    finally:
        os.close(fd)


def test_without_overlayfs_it_is_a_sealed_memfd_copy(monkeypatch):
    def refused(fstype: str) -> int:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV), fstype)

    monkeypatch.setattr(sc, "fsopen", refused)
    fd = sealed.interpreter_exe()
    try:
        path = f"/proc/self/fd/{fd}"
        assert os.readlink(path).startswith(f"/memfd:{sealed.MEMFD_NAME}")
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) == sealed.SEALS
        assert digest(path) == digest(INTERPRETER)
        with pytest.raises(OSError) as sealed_write:
            os.write(fd, b"x")
        assert sealed_write.value.errno in (errno.EPERM, errno.EBADF)
    finally:
        os.close(fd)


def test_layer_paths_are_escaped_for_the_lowerdir_list():
    assert sealed._escape_layer("/opt/a:b\\c") == "/opt/a\\:b\\\\c"


@pytest.mark.parametrize("args, command", [
    (["run", "--bundle", "b", "id"], "run"),
    (["--root", "/r", "create", "id"], "create"),
    (["--root=/r", "--log", "/l", "--log-format", "json", "exec", "id", "sh"], "exec"),
    (["-debug", "--systemd-cgroup", "state", "id"], "state"),
    (["--log", "run", "list"], "list"),  # `run` is --log's value here
    (["--", "create"], "create"),
    (["--debug"], None),
    ([], None),
])
def test_the_early_start_finds_the_subcommand_after_the_global_flags(args, command):
    assert sealed._command(args) == command


def test_the_early_start_knows_which_global_flags_take_a_value():
    from oci_runtime import cli

    taking = {name for flag in cli.GLOBAL_FLAGS if flag.value is not None for name in flag.names}
    assert taking == set(sealed.GLOBAL_VALUE_FLAGS)


def test_only_create_run_and_exec_start_the_intermediate_early(monkeypatch):
    started = []
    monkeypatch.setattr(sealed, "Intermediate", lambda: started.append(1) or object())
    for command in ("state", "start", "kill", "delete", "list", "spec"):
        sealed.start_early(["--root", "/r", command, "id"])
        assert sealed._early is None
    early = []
    for command in sealed.EARLY_COMMANDS:
        sealed.start_early(["--root", "/r", command, "id"])
        early.append(sealed._early)
        assert sealed.take_early() is early[-1] and sealed._early is None
    assert len(started) == 3 and None not in early
    assert sealed.take_early() is not None and len(started) == 4, "none waiting: take_early starts one"


def intermediates_of(root: str) -> list[int]:
    """The sealed interpreters whose command line names this state root (its argv ends with ours)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(b"oci_runtime.intermediate" in a for a in argv) and root.encode() in argv:
            pids.append(int(pid))
    return pids


@pytest.mark.parametrize("args", [["create"], ["run", "--help"], ["exec", "--bogus", "id"]])
def test_a_command_that_fails_early_leaves_no_intermediate(tmp_path, args):
    """The script started the intermediate before parsing the command line: a usage error reaps it."""
    from conftest import OCI_RUNTIME

    root = str(tmp_path / "state")
    subprocess.run([OCI_RUNTIME, "--root", root, *args], capture_output=True, timeout=30)
    assert intermediates_of(root) == []
    assert not os.path.exists(root)
