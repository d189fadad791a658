"""Unit tests of appliers/rootfs.py: the mount/pivot_root/chroot calls that prepare(), enter() and finish()
ask for. The kernel and the process-wide calls (chroot, chdir, fchdir) are replaced by one recorder."""
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import rootfs
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Root, Spec


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Recorded calls; fchdir is recorded as the path its fd names."""
    recorded: list[tuple[Any, ...]] = []
    monkeypatch.setattr(sc, "mount", lambda source, target, fstype, flags=0, data=None:
                        recorded.append(("mount", source, target, fstype, flags)))
    monkeypatch.setattr(sc, "pivot_root", lambda new, old: recorded.append(("pivot_root", new, old)))
    monkeypatch.setattr(sc, "umount2", lambda target, flags=0: recorded.append(("umount2", target, flags)))
    monkeypatch.setattr(os, "chroot", lambda path: recorded.append(("chroot", path)))
    monkeypatch.setattr(os, "chdir", lambda path: recorded.append(("chdir", path)))
    monkeypatch.setattr(os, "fchdir", lambda fd: recorded.append(("fchdir", os.readlink(f"/proc/self/fd/{fd}"))))
    return recorded


def spec(root: Path | str, propagation: str | None = None, readonly: bool = False) -> Spec:
    return Spec("1.0.0", root=Root(str(root), readonly), linux=Linux(rootfs_propagation=propagation))


def mountpoints() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def test_prepare_in_own_mount_namespace(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    """`/` becomes rslave (host events in, none out), the rootfs's parent mount private (pivot_root needs it),
    then the rootfs is bound onto itself; the fd returned names the rootfs."""
    fd = rootfs.prepare(spec(tmp_path), own_mount_ns=True)
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path)
    finally:
        os.close(fd)
    (_, _, slash, _, slash_flags), (_, _, parent, _, parent_flags), bind = calls
    assert (slash, slash_flags) == ("/", sc.MS_SLAVE | sc.MS_REC)
    assert parent_flags == sc.MS_PRIVATE and parent in mountpoints()
    assert str(tmp_path).startswith(parent.rstrip("/") + "/")
    assert bind == ("mount", str(tmp_path), str(tmp_path), None, sc.MS_BIND | sc.MS_REC)


@pytest.mark.parametrize(("propagation", "flags"), [("private", sc.MS_PRIVATE), ("rshared", sc.MS_SHARED | sc.MS_REC),
                                                     ("unbindable", sc.MS_UNBINDABLE)])
def test_prepare_uses_the_configured_rootfs_propagation(calls: list[tuple[Any, ...]], tmp_path: Path,
                                                        propagation: str, flags: int) -> None:
    os.close(rootfs.prepare(spec(tmp_path, propagation), own_mount_ns=True))
    assert calls[0] == ("mount", None, "/", None, flags)


def test_prepare_without_mount_namespace_changes_no_mount(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    """Without a mount namespace of its own, any propagation change would hit the host's mounts."""
    os.close(rootfs.prepare(spec(tmp_path), own_mount_ns=False))
    assert calls == []


def test_prepare_missing_rootfs_is_an_oci_error(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    with pytest.raises(OCIError, match=f"^error preparing rootfs '{tmp_path}/nope': {tmp_path}/nope: no such file"):
        rootfs.prepare(spec(tmp_path / "nope"), own_mount_ns=False)


@pytest.mark.parametrize(("path", "mountpoint"), [("/proc/self", "/proc"), ("/proc", "/proc"), ("/procfoo", "/"),
                                                  ("/", "/")])
def test_mountpoint_of_is_the_longest_enclosing_mount(monkeypatch: pytest.MonkeyPatch, path: str,
                                                      mountpoint: str) -> None:
    mountinfo = (b"1 0 8:1 / / rw shared:1 - ext4 /dev/vda rw\n"
                 b"2 1 0:5 / /proc rw,nosuid - proc proc rw\n"
                 b"3 1 0:6 / /pro rw - tmpfs tmpfs rw\n")
    monkeypatch.setattr(rootfs, "open", lambda *_: io.BytesIO(mountinfo), raising=False)
    assert rootfs._mountpoint_of(path) == mountpoint


def test_mountpoint_of_decodes_escaped_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    mountinfo = b"1 0 8:1 / / rw - ext4 /dev/vda rw\n2 1 0:5 / /mnt/my\\040disk rw - ext4 /dev/vdb rw\n"
    monkeypatch.setattr(rootfs, "open", lambda *_: io.BytesIO(mountinfo), raising=False)
    assert rootfs._mountpoint_of("/mnt/my disk/rootfs") == "/mnt/my disk"


def test_enter_with_pivot_root_detaches_the_old_root(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    """pivot_root(".", ".") stacks the old root under the new one; it is made rslave and lazily unmounted
    from there, then cwd is the new `/`."""
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        rootfs.enter(spec(tmp_path), fd, own_mount_ns=True, no_pivot=False)
    finally:
        os.close(fd)
    assert calls == [
        ("fchdir", str(tmp_path)),
        ("pivot_root", ".", "."),
        ("fchdir", "/"),
        ("mount", None, ".", None, sc.MS_SLAVE | sc.MS_REC),
        ("umount2", ".", sc.MNT_DETACH),
        ("chdir", "/"),
    ]


def test_enter_no_pivot_moves_the_rootfs_onto_slash_and_chroots(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        rootfs.enter(spec(tmp_path), fd, own_mount_ns=True, no_pivot=True)
    finally:
        os.close(fd)
    assert calls == [("fchdir", str(tmp_path)), ("mount", ".", "/", None, sc.MS_MOVE), ("chroot", "."), ("chdir", "/")]


@pytest.mark.parametrize("no_pivot", [False, True])
def test_enter_without_mount_namespace_only_chroots(calls: list[tuple[Any, ...]], tmp_path: Path,
                                                    no_pivot: bool) -> None:
    """No mount may be moved or changed when the mount namespace is the host's, even with rootfsPropagation."""
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        rootfs.enter(spec(tmp_path, "shared"), fd, own_mount_ns=False, no_pivot=no_pivot)
    finally:
        os.close(fd)
    assert calls == [("fchdir", str(tmp_path)), ("chroot", "."), ("chdir", "/")]


def test_enter_applies_rootfs_propagation_to_the_new_slash_last(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        rootfs.enter(spec(tmp_path, "rshared"), fd, own_mount_ns=True, no_pivot=True)
    finally:
        os.close(fd)
    assert calls[-2:] == [("chdir", "/"), ("mount", None, "/", None, sc.MS_SHARED | sc.MS_REC)]


def test_enter_error_names_the_rootfs(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[Any, ...]],
                                      tmp_path: Path) -> None:
    def refuse(new: str, old: str) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), new)

    monkeypatch.setattr(sc, "pivot_root", refuse)
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(OCIError, match=f"^error entering rootfs '{tmp_path}': .: invalid argument$"):
            rootfs.enter(spec(tmp_path), fd, own_mount_ns=True, no_pivot=False)
    finally:
        os.close(fd)


def test_finish_remounts_a_readonly_root(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    rootfs.finish(spec(tmp_path, readonly=True))
    ro = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
    [(name, source, target, fstype, flags)] = calls
    assert (name, source, target, fstype, flags & ro) == ("mount", None, "/", None, ro)
    assert flags & ~ro == rootfs.locked_flags("/")


def test_finish_leaves_a_writable_root_alone(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    rootfs.finish(spec(tmp_path))
    assert calls == []
