"""The one seam between the runtime and the kernel for syscalls Python's stdlib lacks.

Each function calls the cffi shim (oci_runtime._shim, thin C wrappers returning -errno) and raises
OSError carrying errno and the path involved. Unit tests replace these functions to record what
an applier asks for; integration tests show what really happens.

It imports posix, not os: the command opens the sealed interpreter through it before anything
else, and os costs ~1 ms at import (sealed.py).
"""
import posix
import sys

from ._shim import ffi, lib

# clone(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_I_VERSION = 0x800000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2

# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

CLOSE_RANGE_CLOEXEC = 0x4

# mount_setattr(2)
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# open_tree(2), move_mount(2)
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40


def _check(ret: int, *paths: str | None) -> int:
    if ret < 0:
        err = -ret
        names = [p for p in paths if p]
        if len(names) >= 2:
            raise OSError(err, posix.strerror(err), names[0], None, names[1])
        raise OSError(err, posix.strerror(err), names[0] if names else None)
    return ret


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def _c(s: str | None):
    return ffi.NULL if s is None else s.encode(_FS_ENCODING, _FS_ERRORS)  # os.fsencode


def unshare(flags: int) -> None:
    _check(lib.oci_unshare(flags))


def setns(fd: int, nstype: int) -> None:
    _check(lib.oci_setns(fd, nstype))


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(lib.oci_mount(_c(source), _c(target), _c(fstype), flags, _c(data)), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(lib.oci_umount2(_c(target), flags), target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(lib.oci_pivot_root(_c(new_root), _c(put_old)), new_root)


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2 with O_CLOEXEC always added: no fd of ours may leak into the container."""
    how = ffi.new("struct oci_open_how *", {"flags": flags | posix.O_CLOEXEC, "mode": mode, "resolve": resolve})
    return _check(lib.oci_openat2(dirfd, _c(path), how), path)


def mount_setattr(fd: int, attr_set: int, attr_clr: int, recursive: bool = True, userns_fd: int = 0) -> None:
    """Change mount attributes of the mount at fd (and, recursively, of those below it)."""
    attr = ffi.new("struct oci_mount_attr *", {"attr_set": attr_set, "attr_clr": attr_clr, "userns_fd": userns_fd})
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(lib.oci_mount_setattr(fd, b"", flags, attr))


def open_tree(path: str, flags: int) -> int:
    """A detached copy of the mount tree at path (OPEN_TREE_CLONE), as an fd."""
    return _check(lib.oci_open_tree(-100, _c(path), flags | OPEN_TREE_CLOEXEC), path)  # -100: AT_FDCWD


def move_mount(from_fd: int, to_fd: int) -> None:
    """Attach the detached mount from_fd on top of the object behind to_fd."""
    _check(lib.oci_move_mount(from_fd, b"", to_fd, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    _check(lib.oci_close_range(first, last, flags))


FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6


def fsopen(fstype: str) -> int:
    """A new filesystem context (close-on-exec), configured by fsconfig, mounted by fsmount."""
    return _check(lib.oci_fsopen(_c(fstype), FSOPEN_CLOEXEC), fstype)


def fsconfig(fd: int, key: str, value: str) -> None:
    """One `key=value` option of the filesystem context fd."""
    _check(lib.oci_fsconfig(fd, FSCONFIG_SET_STRING, _c(key), _c(value), 0), f"{key}={value}")


def fsconfig_create(fd: int) -> None:
    """Create the superblock of the configured context."""
    _check(lib.oci_fsconfig(fd, FSCONFIG_CMD_CREATE, ffi.NULL, ffi.NULL, 0))


def fsmount(fd: int, attr_flags: int) -> int:
    """A detached mount (close-on-exec fd) of the created context, with MOUNT_ATTR_* attr_flags."""
    return _check(lib.oci_fsmount(fd, FSMOUNT_CLOEXEC, attr_flags))


def seccomp_set_filter(program: bytes, flags: int) -> int:
    """Load a compiled seccomp program (struct sock_filter[]) into this thread: the listener fd
    with SECCOMP_FILTER_FLAG_NEW_LISTENER, else 0."""
    return _check(lib.oci_seccomp_set_filter(flags, len(program) // 8, ffi.from_buffer(program)))


def fork_into_cgroup(cgroup_fd: int) -> int:
    """os.fork(), with the child born in the cgroup2 directory open at cgroup_fd (clone3's
    CLONE_INTO_CGROUP, Linux 5.7): 0 in the child, its pid in the parent."""
    return _check(lib.oci_fork_into_cgroup(cgroup_fd))


def sethostname(name: str) -> None:
    b = name.encode()
    _check(lib.oci_sethostname(b, len(b)))


def join_session_keyring(name: str) -> int:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING): a new, named session keyring for this process."""
    return _check(lib.oci_join_session_keyring(name.encode()))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2) for the options python-prctl lacks (PR_CAP_AMBIENT)."""
    return _check(lib.oci_prctl(option, arg2, arg3, arg4, arg5))


def ioprio_set(which: int, who: int, ioprio: int) -> None:
    _check(lib.oci_ioprio_set(which, who, ioprio))


def personality(persona: int) -> int:
    return _check(lib.oci_personality(persona))


def set_mempolicy(mode: int, nodes: set[int]) -> None:
    """set_mempolicy(2) with a nodemask holding `nodes` (maxnode: one past the highest bit)."""
    words = max(nodes) // 64 + 1 if nodes else 1
    mask = ffi.new("unsigned long[]", words)
    for node in nodes:
        mask[node // 64] |= 1 << (node % 64)
    _check(lib.oci_set_mempolicy(mode, mask if nodes else ffi.NULL, words * 64 + 1 if nodes else 0))


def sched_setattr(policy: int, flags: int = 0, nice: int = 0, priority: int = 0, runtime: int = 0,
                  deadline: int = 0, period: int = 0) -> None:
    """sched_setattr(2) on the calling thread (pid 0)."""
    attr = ffi.new("struct oci_sched_attr *", {
        "size": ffi.sizeof("struct oci_sched_attr"), "sched_policy": policy, "sched_flags": flags,
        "sched_nice": nice, "sched_priority": priority, "sched_runtime": runtime, "sched_deadline": deadline,
        "sched_period": period})
    _check(lib.oci_sched_setattr(0, attr, 0))


def setdomainname(name: str) -> None:
    b = name.encode()
    _check(lib.oci_setdomainname(b, len(b)))


class CBuffer:
    """A C buffer that stays alive with this object, and its address (for pointers in bpf_attr)."""

    def __init__(self, init: bytes | int) -> None:
        self.cdata = ffi.new("char[]", init)
        self.address = int(ffi.cast("uintptr_t", self.cdata))

    def __len__(self) -> int:
        return len(self.cdata)

    def bytes(self) -> bytes:
        return ffi.buffer(self.cdata)[:]

    def text(self) -> str:
        return ffi.string(self.cdata).decode(errors="replace")


def bpf(cmd: int, attr: bytearray, size: int | None = None) -> int:
    """bpf(2) with the bpf_attr packed by the caller; attr must be writable (the kernel fills in
    fields for some commands) and is passed as is, size defaulting to its length."""
    return _check(lib.oci_bpf(cmd, ffi.from_buffer(attr), len(attr) if size is None else size))
