"""Unit tests of fs.py: container paths resolve inside a temporary rootfs with the real openat2, never
out of it; make_in_root creates what is missing; copy_tree keeps contents, modes and owners."""
import errno
import os
import stat
from pathlib import Path

import pytest

from oci_runtime import fs


def named(fd: int) -> str:
    """The path the kernel gives the object behind fd (and close it)."""
    try:
        return os.readlink(fs.fd_path(fd))
    finally:
        os.close(fd)


@pytest.mark.parametrize(("path", "cleaned"), [
    ("/", "."), ("", "."), ("/a/../b/", "b"), ("../../x", "x"), ("a//b/./c", "a/b/c"), ("/dev/null", "dev/null"),
])
def test_clean_makes_container_paths_relative_and_lexically_normal(path: str, cleaned: str) -> None:
    assert fs.clean(path) == cleaned


def test_open_in_root_follows_absolute_symlinks_inside_the_root(root: Path, rootfd: int) -> None:
    (root / "target").mkdir()
    (root / "link").symlink_to("/target")
    assert named(fs.open_in_root(rootfd, "/link")) == str(root / "target")


def test_open_in_root_never_reaches_the_host_through_a_symlink(root: Path, rootfd: int) -> None:
    """`etc -> /etc` names <root>/etc, which does not exist: the host's /etc/passwd is not found."""
    (root / "hostetc").symlink_to("/etc")
    with pytest.raises(FileNotFoundError):
        fs.open_in_root(rootfd, "/hostetc/passwd")


def test_relative_symlink_climbing_above_the_root_stops_at_it(root: Path, rootfd: int) -> None:
    (root / "up").symlink_to("../../../..")
    assert named(fs.open_in_root(rootfd, "/up")) == str(root)


def test_symlink_loop_fails_with_eloop(root: Path, rootfd: int) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(OSError) as e:
        fs.open_in_root(rootfd, "/a")
    assert e.value.errno == errno.ELOOP


def test_magic_links_are_refused() -> None:
    """/proc/self/cwd and friends jump anywhere; RESOLVE_NO_MAGICLINKS refuses them even in a rootfs that has /proc."""
    host = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as e:
            fs.open_in_root(host, "/proc/self/cwd")
    finally:
        os.close(host)
    assert e.value.errno == errno.ELOOP


def test_open_in_root_fd_is_close_on_exec(rootfd: int) -> None:
    """No fd of ours may leak into the container's program."""
    fd = fs.open_in_root(rootfd, "/")
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


def test_make_in_root_creates_missing_parents(root: Path, rootfd: int) -> None:
    assert named(fs.make_in_root(rootfd, "/a/b/c")) == str(root / "a" / "b" / "c")
    for path in (root / "a", root / "a" / "b", root / "a" / "b" / "c"):
        assert stat.S_ISDIR(path.stat().st_mode)


def test_make_in_root_reuses_the_existing_prefix(root: Path, rootfd: int) -> None:
    (root / "a").mkdir()
    (root / "a" / "marker").write_text("here")
    inode = (root / "a").stat().st_ino
    os.close(fs.make_in_root(rootfd, "/a/b"))
    assert (root / "a").stat().st_ino == inode
    assert (root / "a" / "marker").read_text() == "here"


def test_make_in_root_returns_an_existing_path_untouched(root: Path, rootfd: int) -> None:
    (root / "f").write_text("data")
    assert named(fs.make_in_root(rootfd, "/f")) == str(root / "f")
    assert (root / "f").read_text() == "data"


def test_make_in_root_file_gets_directory_parents_and_file_mode(root: Path, rootfd: int) -> None:
    """directory=False makes only the last component a (regular, non-executable) file."""
    os.close(fs.make_in_root(rootfd, "/etc/hosts", directory=False, mode=0o755))
    assert (root / "etc").is_dir()
    st = (root / "etc" / "hosts").stat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o111 == 0


def test_make_in_root_root_itself(root: Path, rootfd: int) -> None:
    assert named(fs.make_in_root(rootfd, "/")) == str(root)


@pytest.mark.parametrize("path", ["/f/x", "/f/x/y"])
def test_a_file_in_the_middle_is_not_a_directory(root: Path, rootfd: int, path: str) -> None:
    (root / "f").write_text("")
    with pytest.raises(NotADirectoryError):
        fs.make_in_root(rootfd, path)
    assert (root / "f").is_file()


def test_make_in_root_follows_symlinks_in_the_existing_prefix_inside_the_root(root: Path, rootfd: int) -> None:
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "lib").symlink_to("/usr/lib")
    assert named(fs.make_in_root(rootfd, "/lib/modules")) == str(root / "usr" / "lib" / "modules")


def test_dangling_absolute_symlink_target_is_created_inside_the_root(root: Path, rootfd: int, tmp_path: Path) -> None:
    """`d -> <host dir>` is followed as the kernel would from inside: <root><host dir>/x is made, the host's
    directory is left alone."""
    host = tmp_path / "host"
    host.mkdir()
    (root / "d").symlink_to(host)
    inside = root / str(host).lstrip("/") / "x"
    assert named(fs.make_in_root(rootfd, "/d/x")) == str(inside)
    assert inside.is_dir()
    assert list(host.iterdir()) == []


def test_dangling_relative_symlink_target_is_created(root: Path, rootfd: int) -> None:
    (root / "a").mkdir()
    (root / "a" / "link").symlink_to("../b/c")
    assert named(fs.make_in_root(rootfd, "/a/link/x")) == str(root / "b" / "c" / "x")


def test_file_through_a_dangling_symlink_is_made_at_its_target(root: Path, rootfd: int) -> None:
    """Images often ship /etc/resolv.conf -> /run/...: binding a file there creates the target file."""
    (root / "etc").mkdir()
    (root / "etc" / "resolv.conf").symlink_to("/run/systemd/resolve/stub-resolv.conf")
    target = root / "run" / "systemd" / "resolve" / "stub-resolv.conf"
    assert named(fs.make_in_root(rootfd, "/etc/resolv.conf", directory=False)) == str(target)
    assert target.is_file() and (root / "etc" / "resolv.conf").is_symlink()


def test_make_in_root_through_a_symlink_loop_fails_with_eloop(root: Path, rootfd: int) -> None:
    (root / "a").symlink_to("/b")
    (root / "b").symlink_to("/a")
    with pytest.raises(OSError) as e:
        fs.make_in_root(rootfd, "/a/x")
    assert e.value.errno == errno.ELOOP
    assert sorted(p.name for p in root.iterdir()) == ["a", "b"]


def test_make_in_root_dotdot_cannot_leave_the_root(root: Path, rootfd: int, tmp_path: Path) -> None:
    assert named(fs.make_in_root(rootfd, "/../../outside")) == str(root / "outside")
    assert not (tmp_path / "outside").exists()


def test_reopen_turns_an_o_path_fd_into_a_readable_one(root: Path, rootfd: int) -> None:
    (root / "f").write_text("content")
    fd = fs.reopen(fs.open_in_root(rootfd, "/f"), os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"content"
    finally:
        os.close(fd)


def test_copy_tree_keeps_contents_types_modes_and_owners(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    (src / "sub").chmod(0o750)
    os.chown(src / "sub", 1000, 1001)
    (src / "sub" / "file").write_bytes(b"x" * 100_000)
    os.chmod(src / "sub" / "file", 0o4755)  # setuid must survive the chown of the copy
    os.chown(src / "sub" / "file", 123, 456)
    (src / "link").symlink_to("sub/file")
    os.lchown(src / "link", 7, 8)
    os.mkfifo(src / "fifo", 0o640)
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))

    s = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    d = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fs.copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)

    def described(p: Path) -> tuple:
        st = p.lstat()
        return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_rdev

    for name in ("sub", "sub/file", "link", "fifo", "null"):
        assert described(dst / name) == described(src / name), name
    assert (dst / "sub" / "file").read_bytes() == b"x" * 100_000
    assert os.readlink(dst / "link") == "sub/file"
