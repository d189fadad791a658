"""Run `create` from a sealed copy of the interpreter (the CVE-2019-5736 class).

Until `start`, the container's init is this Python process, so /proc/<init>/exe is the host's
interpreter: a container process allowed to follow it (CAP_SYS_PTRACE without a user namespace
passes the non-dumpable check) could keep it open and overwrite the host's Python once nothing
executes it. As runc does with its own binary, the command first re-executes itself from a
sealed memfd copy of the interpreter binary: /proc/<init>/exe then leads only to that copy,
which nobody can write. The copy is small (libpython stays a mapped library, which /proc only
exposes through map_files, to CAP_SYS_ADMIN in the host's user namespace).
"""
import fcntl
import os
import sys

MEMFD_NAME = "oci-runtime"
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def running_sealed() -> bool:
    return os.readlink("/proc/self/exe").startswith(f"/memfd:{MEMFD_NAME}")


def reexec_sealed() -> None:
    """Replace this process by the same command run from a sealed interpreter copy (same pid,
    argv and environment); returns only when already running from one."""
    if running_sealed():
        return
    fd = os.memfd_create(MEMFD_NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    src = os.open(os.path.realpath(sys.executable), os.O_RDONLY | os.O_CLOEXEC)
    try:
        while os.sendfile(fd, src, None, 1 << 24):
            pass
    finally:
        os.close(src)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    os.execv(f"/proc/self/fd/{fd}", sealed_argv())


def sealed_argv() -> list[str]:
    """The same command for the copy, which starts faster: -I -S (no site, which costs ~2.5 ms of a
    start-up that happens twice: the module path site computed is handed over as it is; no PYTHON*
    variables, no user site, no script directory or cwd on the path), the -X options kept. argv[0]
    stays the original interpreter path: Python finds its prefix (and venv) from it."""
    path = sys.path if sys.flags.safe_path else sys.path[1:]  # [0]: the script's directory or cwd
    xoptions = [f"-X{k}" if v is True else f"-X{k}={v}" for k, v in sys._xoptions.items()]
    boot = f"import sys; sys.path[:] = {path!r}; from oci_runtime.cli import exit_now, main; exit_now(main())"
    return [sys.executable, *xoptions, "-I", "-S", "-c", boot, *sys.argv[1:]]
