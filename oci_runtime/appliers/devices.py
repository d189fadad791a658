"""`linux.devices` and the default devices (config-linux.md "Devices", "Default Devices").

Unless /dev is bind-mounted from elsewhere, the container gets /dev/null, zero, full, random,
urandom, tty, the /dev/fd, stdin/stdout/stderr symlinks and /dev/ptmx -> pts/ptmx, plus every
configured device node. Nodes are made with mknodat under fds resolved inside the rootfs.
"""
import errno
import os
import stat

from .. import fs
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Device, Spec

DEFAULT_DEVICES = (
    Device(type="c", path="/dev/null", major=1, minor=3, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/zero", major=1, minor=5, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/full", major=1, minor=7, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/random", major=1, minor=8, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/urandom", major=1, minor=9, file_mode=0o666, uid=0, gid=0),
    Device(type="c", path="/dev/tty", major=5, minor=0, file_mode=0o666, uid=0, gid=0),
)

DEFAULT_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def apply(spec: Spec, rootfd: int, in_user_namespace: bool = False) -> None:
    """Create default and configured device nodes (and the /dev symlinks) in the rootfs.

    In a user namespace mknod is not allowed: the host's node is bind-mounted instead (as runc)."""
    if any(fs.clean(m.destination) == "dev" and ("bind" in m.options or "rbind" in m.options or m.type == "bind")
           for m in spec.mounts):
        devices = list(spec.linux.devices)  # /dev comes from the host: only add what was asked for
        symlinks: tuple = ()
    else:
        configured = {os.path.normpath(d.path) for d in spec.linux.devices}
        devices = [d for d in DEFAULT_DEVICES if d.path not in configured] + list(spec.linux.devices)
        symlinks = DEFAULT_SYMLINKS
    for d in devices:
        try:
            (bind_node if in_user_namespace else make_node)(rootfd, d)
        except OSError as e:
            raise OCIError(f"linux.devices: creating {d.path}: {describe(e)}") from None
        except OverflowError:  # os.makedev: each number is an unsigned 32-bit int
            raise OCIError(f"linux.devices: creating {d.path}: major {d.major} or minor {d.minor} "
                           "is not between 0 and 4294967295") from None
    for target, link in symlinks:
        make_symlink(rootfd, target, link)
    for directory in ("/dev/pts", "/dev/shm"):
        os.close(fs.make_in_root(rootfd, directory))


def make_node(rootfd: int, d: Device) -> None:
    parent = fs.make_in_root(rootfd, os.path.dirname(d.path) or "/")
    name = os.path.basename(d.path)
    try:
        mode = _TYPES[d.type] | (0o666 if d.file_mode is None else d.file_mode & 0o7777)
        rdev = os.makedev(d.major or 0, d.minor or 0)
        try:
            os.mknod(name, mode, rdev, dir_fd=parent)
        except FileExistsError:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_IFMT(st.st_mode) != _TYPES[d.type] or st.st_rdev != rdev:
                raise
        node = fs.open_in_root(parent, name)
        try:
            os.chmod(fs.fd_path(node), mode & 0o7777)
            os.chown(fs.fd_path(node), d.uid or 0, d.gid or 0)
        finally:
            os.close(node)
    finally:
        os.close(parent)


def bind_node(rootfd: int, d: Device) -> None:
    """Bind the host's node at the same path onto an empty file in the rootfs."""
    st = os.stat(d.path)
    if stat.S_IFMT(st.st_mode) != _TYPES[d.type] or st.st_rdev != os.makedev(d.major or 0, d.minor or 0):
        raise OSError(errno.ENODEV, "the host has no such device at this path to bind", d.path)
    target = fs.make_in_root(rootfd, d.path, directory=False)
    try:
        sc.mount(d.path, fs.fd_path(target), None, sc.MS_BIND)
    finally:
        os.close(target)


def make_symlink(rootfd: int, target: str, link: str) -> None:
    parent = fs.make_in_root(rootfd, os.path.dirname(link))
    try:
        try:
            os.symlink(target, os.path.basename(link), dir_fd=parent)
        except FileExistsError:
            if link == "/dev/ptmx":  # a ptmx node from the rootfs would bypass the container's devpts
                os.unlink("ptmx", dir_fd=parent)
                os.symlink(target, "ptmx", dir_fd=parent)
    finally:
        os.close(parent)
