"""`root` and `linux.rootfsPropagation` (config.md "Root", config-linux.md "Rootfs Mount Propagation").

prepare() makes the rootfs a mount point of its own in the container's mount namespace;
enter() switches the process's root to it with pivot_root (or MS_MOVE + chroot for --no-pivot,
or a bare chroot when there is no new mount namespace, so the host's mounts are never moved);
finish() applies `root.readonly` once everything is mounted.
"""
import os

from .. import hostmounts
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Spec
from .mounts import PROPAGATION, locked_flags


def prepare(spec: Spec, own_mount_ns: bool) -> int:
    """Bind the rootfs onto itself, set propagation, and return an O_PATH fd of it."""
    root = spec.root.path
    try:
        if own_mount_ns:
            # Keep host mount events from propagating in, and ours from propagating out.
            sc.mount(None, "/", None, PROPAGATION.get(spec.linux.rootfs_propagation or "rslave", sc.MS_SLAVE | sc.MS_REC))
            _make_parent_mount_private(root)
            sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
        return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise OCIError(f"error preparing rootfs {root!r}: {describe(e)}") from None


def _make_parent_mount_private(path: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared."""
    mountpoint = _mountpoint_of(path)
    sc.mount(None, mountpoint, None, sc.MS_PRIVATE)


def _mountpoint_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = hostmounts.unescape(line.split(b" ", 5)[4])
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def enter(spec: Spec, rootfd: int, own_mount_ns: bool, no_pivot: bool) -> None:
    """Make the rootfs the process's `/`; afterwards cwd is `/`."""
    try:
        os.fchdir(rootfd)
        if not own_mount_ns:
            os.chroot(".")
        elif no_pivot:
            sc.mount(".", "/", None, sc.MS_MOVE)
            os.chroot(".")
        else:
            oldroot = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sc.pivot_root(".", ".")
                # The old root is now stacked under `.`: detach it so the host's tree is unreachable.
                os.fchdir(oldroot)
                sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
                sc.umount2(".", sc.MNT_DETACH)
            finally:
                os.close(oldroot)
        os.chdir("/")
        if own_mount_ns and spec.linux.rootfs_propagation:
            sc.mount(None, "/", None, PROPAGATION[spec.linux.rootfs_propagation])
    except OSError as e:
        raise OCIError(f"error entering rootfs {spec.root.path!r}: {describe(e)}") from None


def finish(spec: Spec) -> None:
    """`root.readonly`: remount `/` read-only after every other mount is in place."""
    if spec.root.readonly:
        try:
            sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | locked_flags("/"))
        except OSError as e:
            raise OCIError(f"error making rootfs read-only: {describe(e)}") from None
