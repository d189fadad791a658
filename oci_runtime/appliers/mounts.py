"""`mounts` (config.md "Mounts"; options per config.md "Linux mount options").

Each mount is made on an O_PATH fd of its destination resolved inside the rootfs, so a symlink
in the rootfs can never send a mount outside it. Binds are made first and then remounted to
apply flags such as `ro` (the kernel ignores them on the initial bind); propagation options and
the recursive attributes (`rro`, `rnosuid`...) are applied afterwards, as the kernel requires.
"""
from __future__ import annotations

import os
import stat

from .. import fs
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Mount, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of every `create`)
if TYPE_CHECKING:
    from collections.abc import Callable

# option -> (flags to set, flags to clear)
FLAGS: dict[str, tuple[int, int]] = {
    "async": (0, sc.MS_SYNCHRONOUS),
    "atime": (0, sc.MS_NOATIME),
    "bind": (sc.MS_BIND, 0),
    "defaults": (0, 0),
    "dev": (0, sc.MS_NODEV),
    "diratime": (0, sc.MS_NODIRATIME),
    "dirsync": (sc.MS_DIRSYNC, 0),
    "exec": (0, sc.MS_NOEXEC),
    "iversion": (sc.MS_I_VERSION, 0),
    "lazytime": (sc.MS_LAZYTIME, 0),
    "loud": (0, sc.MS_SILENT),
    "mand": (sc.MS_MANDLOCK, 0),
    "noatime": (sc.MS_NOATIME, 0),
    "nodev": (sc.MS_NODEV, 0),
    "nodiratime": (sc.MS_NODIRATIME, 0),
    "noexec": (sc.MS_NOEXEC, 0),
    "noiversion": (0, sc.MS_I_VERSION),
    "nolazytime": (0, sc.MS_LAZYTIME),
    "nomand": (0, sc.MS_MANDLOCK),
    "norelatime": (0, sc.MS_RELATIME),
    "nostrictatime": (0, sc.MS_STRICTATIME),
    "nosuid": (sc.MS_NOSUID, 0),
    "nosymfollow": (sc.MS_NOSYMFOLLOW, 0),
    "rbind": (sc.MS_BIND | sc.MS_REC, 0),
    "relatime": (sc.MS_RELATIME, 0),
    "remount": (sc.MS_REMOUNT, 0),
    "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY),
    "silent": (sc.MS_SILENT, 0),
    "strictatime": (sc.MS_STRICTATIME, 0),
    "suid": (0, sc.MS_NOSUID),
    "symfollow": (0, sc.MS_NOSYMFOLLOW),
    "sync": (sc.MS_SYNCHRONOUS, 0),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# recursive mount attributes (mount_setattr with AT_RECURSIVE) -> (attr_set, attr_clr)
RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (sc.MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (sc.MOUNT_ATTR_NODEV, 0),
    "rdev": (0, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, sc.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME),
    "rnorelatime": (0, sc.MOUNT_ATTR__ATIME),
    "rnoatime": (sc.MOUNT_ATTR_NOATIME, sc.MOUNT_ATTR__ATIME),
    "ratime": (0, sc.MOUNT_ATTR__ATIME),
    "rstrictatime": (sc.MOUNT_ATTR_STRICTATIME, sc.MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, sc.MOUNT_ATTR__ATIME),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, sc.MOUNT_ATTR_NOSYMFOLLOW),
}


# options that instruct the runtime and never reach mount(2)
INSTRUCTIONS = ("tmpcopyup", "idmap", "ridmap")


class MountOptions:
    """A mount's `options` split into what each syscall needs."""

    def __init__(self, options: list[str]) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clr = 0
        self.tmpcopyup = False
        data = []
        for opt in options:
            if opt in FLAGS:
                set_, clear = FLAGS[opt]
                self.flags = (self.flags | set_) & ~clear
            elif opt in PROPAGATION:
                self.propagation.append(PROPAGATION[opt])
            elif opt in RECURSIVE:
                set_, clear = RECURSIVE[opt]
                self.attr_set = (self.attr_set & ~clear) | set_
                self.attr_clr |= clear
            elif opt == "tmpcopyup":
                self.tmpcopyup = True
            elif opt in INSTRUCTIONS:
                pass  # idmap/ridmap: done by appliers/idmap.py before the mount reaches us
            else:
                data.append(opt)
        self.data = ",".join(data)

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def apply(spec: Spec, rootfd: int, bundle: str, idmapped: dict[int, int] | None = None) -> None:
    """Mount every entry of `mounts`, in order, under the rootfs opened as rootfd. `idmapped`
    holds the detached idmapped mounts the parent prepared (appliers/idmap.py), by index."""
    cgroupns = any(ns.type == "cgroup" for ns in spec.linux.namespaces)
    for i, m in enumerate(spec.mounts):
        try:
            mount_one(m, rootfd, bundle, (idmapped or {}).get(i), cgroupns)
        except OSError as e:
            # a /proc/self/fd/N path is our handle on the destination, which is named already
            path = None if str(e.filename).startswith("/proc/self/fd/") else e.filename
            error = describe(OSError(e.errno, e.strerror, path))
            raise OCIError(f"error mounting {m.source or m.type!r} to rootfs at {m.destination!r}: {error}") from None


def mount_one(m: Mount, rootfd: int, bundle: str, idmapped: int | None = None, cgroupns: bool = False) -> None:
    opts = MountOptions(m.options)
    if m.type == "bind" or idmapped is not None:
        opts.flags |= sc.MS_BIND
    if opts.is_bind:
        source = os.path.join(bundle, m.source or "")
        is_dir = stat.S_ISDIR(os.stat(source).st_mode)
    else:
        source, is_dir = m.source or m.type or "none", True

    def destination() -> int:
        # Resolved afresh after each mount: an fd taken before a mount names what lies below it.
        return fs.make_in_root(rootfd, m.destination, directory=is_dir)

    if idmapped is not None:
        target = destination()
        try:
            sc.move_mount(idmapped, target)
        finally:
            os.close(target)
    if opts.is_bind:
        if idmapped is None:
            _at(destination(), lambda p: sc.mount(source, p, None, opts.flags & (sc.MS_BIND | sc.MS_REC)))
        remount = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if remount:
            _at(destination(), lambda p: sc.mount(None, p, None, sc.MS_BIND | sc.MS_REMOUNT | remount | locked_flags(p)))
    elif m.type == "cgroup":
        mount_cgroup(rootfd, m.destination, opts, cgroupns)
    elif m.type == "tmpfs" and opts.tmpcopyup:
        mount_tmpfs_copyup(source, destination, opts)
    else:
        _at(destination(), lambda p: sc.mount(source, p, m.type, opts.flags, opts.data or None))
    for flag in opts.propagation:
        _at(destination(), lambda p: sc.mount(None, p, None, flag))
    if opts.attr_set or opts.attr_clr:
        fd = destination()
        try:
            sc.mount_setattr(fd, opts.attr_set, opts.attr_clr)
        finally:
            os.close(fd)


def _at(fd: int, action: Callable[[str], None]) -> None:
    """Run a path-taking syscall on the object behind fd, then close fd."""
    try:
        action(fs.fd_path(fd))
    finally:
        os.close(fd)


def locked_flags(path: str) -> int:
    """Flags of the existing mount that a bind remount must repeat (in a user namespace the
    kernel refuses to clear them)."""
    f = os.statvfs(path).f_flag
    return sum(flag for bit, flag in _STATVFS_TO_MS if f & bit)


# statvfs f_flag bits (ST_*) -> mount flags
_STATVFS_TO_MS = (
    (os.ST_NOSUID, sc.MS_NOSUID),
    (os.ST_NODEV, sc.MS_NODEV),
    (os.ST_NOEXEC, sc.MS_NOEXEC),
    (os.ST_NOATIME, sc.MS_NOATIME),
    (os.ST_NODIRATIME, sc.MS_NODIRATIME),
    (os.ST_RELATIME, sc.MS_RELATIME),
)


def mount_tmpfs_copyup(source: str, destination: Callable[[], int], opts: MountOptions) -> None:
    """`tmpcopyup`: the new tmpfs starts with a copy of what the directory held before."""
    below = fs.reopen(destination(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        _at(destination(), lambda p: sc.mount(source, p, "tmpfs", opts.flags & ~sc.MS_RDONLY, opts.data or None))
        top = fs.reopen(destination(), os.O_RDONLY | os.O_DIRECTORY)
        try:
            fs.copy_tree(below, top)
        finally:
            os.close(top)
    finally:
        os.close(below)
    if opts.flags & sc.MS_RDONLY:
        _at(destination(), lambda p: sc.mount(None, p, None, sc.MS_REMOUNT | opts.flags, opts.data or None))


def host_cgroup_mounts() -> list[tuple[str, str, str]]:
    """(name, fstype, options) of each cgroup hierarchy the host mounts under /sys/fs/cgroup."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            mountpoint = pre.split()[4]
            fstype, _, superopts = post.split()
            if fstype in ("cgroup", "cgroup2") and mountpoint.startswith("/sys/fs/cgroup"):
                subsys = [o for o in superopts.split(",") if o.startswith("name=") or ("=" not in o and o not in ("rw", "ro"))]
                found.append((mountpoint[len("/sys/fs/cgroup"):].strip("/") or ".", fstype, ",".join(subsys)))
    return found


def mount_cgroup(rootfd: int, destination: str, opts: MountOptions, cgroupns: bool = False) -> None:
    """The `cgroup` mount type: on v1/hybrid hosts a tmpfs holding one mount per hierarchy, each
    showing the container's own cgroup: with a cgroup namespace a fresh mount (its root is the
    container's cgroup), without one a bind of the container's cgroup directory (init is in it
    already), as runc. In a user namespace, where a fresh v1 mount is refused, a bind as well."""
    from .. import cgroups

    flags = opts.flags & ~sc.MS_RDONLY
    hierarchies = host_cgroup_mounts()
    if hierarchies == [(".", "cgroup2", "")]:
        _at(fs.make_in_root(rootfd, destination), lambda p: sc.mount("cgroup2", p, "cgroup2", opts.flags, None))
        return
    _at(fs.make_in_root(rootfd, destination), lambda p: sc.mount("tmpfs", p, "tmpfs", flags, "mode=755"))
    own = cgroups.own_dirs()
    for name, fstype, data in hierarchies:
        mountpoint = os.path.join("/sys/fs/cgroup", name)
        if cgroupns:
            try:
                _at(fs.make_in_root(rootfd, os.path.join(destination, name)),
                    lambda p: sc.mount(fstype, p, fstype, opts.flags, data or None))
                continue
            except PermissionError:
                pass
        host = own.get(mountpoint, mountpoint)
        _at(fs.make_in_root(rootfd, os.path.join(destination, name)),
            lambda p: sc.mount(host, p, None, sc.MS_BIND | sc.MS_REC))
        if opts.flags & sc.MS_RDONLY:
            _at(fs.make_in_root(rootfd, os.path.join(destination, name)),
                lambda p: sc.mount(None, p, None, sc.MS_REMOUNT | sc.MS_BIND | opts.flags | locked_flags(p)))
    if opts.flags & sc.MS_RDONLY:
        _at(fs.make_in_root(rootfd, destination),
            lambda p: sc.mount(None, p, None, sc.MS_REMOUNT | sc.MS_BIND | opts.flags | locked_flags(p)))
