"""sealed.interpreter_exe: what the intermediate, the init and exec's processes are exec'd from, so
that /proc/<pid>/exe never leads to a writable host interpreter (CVE-2019-5736): a detached,
upper-less overlayfs view of the binary here, a sealed memfd copy where overlayfs is refused."""
import errno
import fcntl
import hashlib
import os
import subprocess
import sys

import pytest
from conftest import mountinfo

from oci_runtime import sealed
from oci_runtime import syscalls as sc

INTERPRETER = os.path.realpath(sys.executable)


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


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



def test_the_channels_never_take_the_stdio_numbers():
    """A caller that closed stdin and stdout: the intermediate's channel ends must not become the fds 0-2
    that the container's process inherits (a terminal's set-up would also overwrite them there)."""
    code = """
import posix, re, sys
from oci_runtime import sealed
calls = []
posix.posix_spawn = lambda path, argv, env: calls.append(next(a for a in argv if "from m import f" in a)) or 12345
pid, report, control = sealed.spawn("m:f")
theirs = [int(n) for n in re.search(r"f\\((\\d+), (\\d+)\\)", calls[0]).groups()]
sys.stderr.write(" ".join(map(str, [report, control, *theirs])))
"""

    def close_stdin_and_stdout() -> None:
        os.close(0)
        os.close(1)

    proc = subprocess.run([sys.executable, "-c", code], preexec_fn=close_stdin_and_stdout, stderr=subprocess.PIPE,
                          text=True, check=True, cwd="/")  # the installed package, not the source tree
    fds = [int(n) for n in proc.stderr.split()]
    assert len(fds) == 4 and min(fds) > 2, fds


def test_the_sealed_interpreter_runs_without_the_cyclic_garbage_collector():
    """Its processes end or exec within milliseconds: the collector's passes would only cost time."""
    out = subprocess.run(sealed.argv("import gc; print(gc.isenabled())"), capture_output=True, text=True,
                         check=True, cwd="/").stdout
    assert out.strip() == "False"


def test_the_binary_is_the_running_interpreter():
    """What the overlay shows and the memfd copies: the file the command itself runs from."""
    assert sealed._binary() == INTERPRETER


def test_the_extension_modules_it_loads_search_only_the_system_library_path():
    """No RPATH/RUNPATH in the C extensions the container's processes load: a library found there
    would be mapped into the init. A python-prctl wheel another CPython 3.11 built (pyenv's, with
    the same tag) carries one into that Python's lib dir; `make install` skips pip's cache for it."""
    code = ("import oci_runtime.intermediate, sys; "
            "print('\\n'.join(getattr(m, '__file__', '') or '' for m in list(sys.modules.values())))")
    files = subprocess.run(sealed.argv(code), capture_output=True, text=True, check=True, cwd="/").stdout.split()
    extensions = [f for f in files if f.endswith(".so")]
    assert {os.path.basename(f).split(".")[0] for f in extensions} >= {"_prctl", "_cffi_backend", "_shim"}
    for path in extensions:
        dynamic = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
        assert "RPATH" not in dynamic and "RUNPATH" not in dynamic, f"{path}: {dynamic}"
