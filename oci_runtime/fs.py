"""Paths inside the container's rootfs, resolved by the kernel so that nothing escapes it.

Every mount target, directory, device node and masked path goes through open_in_root() or
make_in_root(): openat2(RESOLVE_IN_ROOT) treats the rootfs as `/`, so symlinks and `..` in a
hostile rootfs resolve inside it, and magic links (/proc/self/root...) are refused. Callers get
an O_PATH fd and act on `fd_path(fd)`, never on a string joined with the rootfs.
"""
import errno
import os
import stat

from . import syscalls as sc

_RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


def fd_path(fd: int) -> str:
    """A path naming exactly the object behind fd, for syscalls that take paths (mount)."""
    return f"/proc/self/fd/{fd}"


def clean(path: str) -> str:
    """Lexically normalise a container path to a relative one (`/a/../b/` -> `b`, `/` -> `.`)."""
    return os.path.normpath("/" + path).lstrip("/") or "."


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open `path` as seen from inside the rootfs (symlinks followed, but never out of it)."""
    return sc.openat2(rootfd, clean(path), flags, _RESOLVE)


def make_in_root(rootfd: int, path: str, directory: bool = True, mode: int = 0o755, _links: int = 0) -> int:
    """Open `path` inside the rootfs, creating it and missing parents; returns an O_PATH fd.

    Parents are resolved with RESOLVE_IN_ROOT and each missing component is created under an
    fd we hold, so a swapped-in symlink can't redirect creation. A dangling symlink is followed
    the way the kernel would, inside the rootfs: its target is created there. A loop, not
    recursion: a path may have a couple of thousand components.
    """
    rel = clean(path)
    try:
        return open_in_root(rootfd, rel)
    except FileNotFoundError:
        if rel == ".":
            raise
    parts = rel.split("/")
    have = len(parts) - 1  # the deepest ancestor that exists: parts[:have]
    while have:
        try:
            fd = open_in_root(rootfd, "/".join(parts[:have]))
            break
        except FileNotFoundError:
            have -= 1
    else:
        fd = open_in_root(rootfd, ".")
    for depth in range(have, len(parts)):
        name, last = parts[depth], depth == len(parts) - 1
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "/" + "/".join(parts[:depth]))
            try:
                if directory or not last:
                    os.mkdir(name, mode, dir_fd=fd)
                else:
                    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, mode & 0o666, dir_fd=fd))
            except FileExistsError:
                if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    if _links >= 40:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/" + rel) from None
                    target = os.path.join(_path_in_root(rootfd, fd), os.readlink(name, dir_fd=fd), *parts[depth + 1:])
                    return make_in_root(rootfd, target, directory, mode, _links + 1)
                # created by someone else meanwhile: go on through it
            child = sc.openat2(fd, name, os.O_PATH, sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)
        finally:
            os.close(fd)
        fd = child
    return fd


def _path_in_root(rootfd: int, fd: int) -> str:
    """Where the directory behind fd lies, as a path seen from inside the rootfs."""
    root = os.readlink(fd_path(rootfd)).rstrip("/")
    return "/" + os.readlink(fd_path(fd))[len(root):].lstrip("/")


def reopen(fd: int, flags: int) -> int:
    """Turn an O_PATH fd into a real open file description (and close the O_PATH one)."""
    try:
        return os.open(fd_path(fd), flags | os.O_CLOEXEC)
    finally:
        os.close(fd)


def copy_tree(src: int, dst: int) -> None:
    """Copy the contents of directory fd src into directory fd dst, keeping modes and owners."""
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                copy_tree(s, d)
            finally:
                os.close(s)
                os.close(d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISREG(st.st_mode):
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=dst)
            try:
                while os.sendfile(d, s, None, 1 << 30):
                    pass
            finally:
                os.close(s)
                os.close(d)
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)

