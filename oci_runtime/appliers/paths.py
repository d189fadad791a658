"""`linux.maskedPaths` and `linux.readonlyPaths` (config-linux.md "Masked Paths", "Readonly Paths").

Masked: a directory gets an empty read-only tmpfs over it, anything else /dev/null bound over it.
Readonly: bound onto itself and remounted read-only. Paths that don't exist are skipped, as the
spec allows. Both are resolved inside the rootfs.
"""
import os
import stat

from .. import fs
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Spec
from .mounts import locked_flags


def apply(spec: Spec, rootfd: int) -> None:
    for path in spec.linux.masked_paths:
        _guard("linux.maskedPaths", path, lambda: mask(rootfd, path))
    for path in spec.linux.readonly_paths:
        _guard("linux.readonlyPaths", path, lambda: make_readonly(rootfd, path))


def _guard(field: str, path: str, action) -> None:
    try:
        action()
    except FileNotFoundError:
        pass
    except OSError as e:
        raise OCIError(f"{field}: {path}: {describe(e)}") from None


def mask(rootfd: int, path: str) -> None:
    fd = fs.open_in_root(rootfd, path)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            sc.mount("tmpfs", fs.fd_path(fd), "tmpfs", sc.MS_RDONLY, "size=0k")
            return
        null = _container_null(rootfd)
        try:
            sc.mount(fs.fd_path(null) if null >= 0 else "/dev/null", fs.fd_path(fd), None, sc.MS_BIND)
        finally:
            if null >= 0:
                os.close(null)
    finally:
        os.close(fd)


def _container_null(rootfd: int) -> int:
    """An O_PATH fd of the container's own /dev/null (runc binds that one), or -1 when the rootfs
    has no real null device there (the host's is used then)."""
    try:
        fd = fs.open_in_root(rootfd, "/dev/null")
    except OSError:
        return -1
    st = os.fstat(fd)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3):
        return fd
    os.close(fd)
    return -1


def make_readonly(rootfd: int, path: str) -> None:
    fd = fs.open_in_root(rootfd, path)
    try:
        sc.mount(fs.fd_path(fd), fs.fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
    finally:
        os.close(fd)
    fd = fs.open_in_root(rootfd, path)  # now the new bind mount
    try:
        p = fs.fd_path(fd)
        sc.mount(None, p, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | locked_flags(p))
    finally:
        os.close(fd)
