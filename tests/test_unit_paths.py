"""Unit tests of appliers/paths.py: the mount calls that mask a path or make it read-only, on the object
resolved inside a temporary rootfs (the kernel is replaced by a recorder)."""
import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import paths
from oci_runtime.appliers.mounts import locked_flags
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Spec


class Call(NamedTuple):
    source: str | None
    target: str  # what the target path named when the call was made
    fstype: str | None
    flags: int
    data: str | None


def _resolve(path: str | None) -> str | None:
    return os.readlink(path) if path and path.startswith("/proc/self/fd/") else path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    recorded: list[Call] = []

    def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
        recorded.append(Call(_resolve(source), _resolve(target), fstype, flags, data))

    monkeypatch.setattr(sc, "mount", mount)
    return recorded


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "rootfs"
    (path / "proc" / "acpi").mkdir(parents=True)
    (path / "proc" / "kcore").write_text("")
    (path / "proc" / "sys").mkdir()
    return path


def apply(rootfd: int, masked: tuple[str, ...] = (), readonly: tuple[str, ...] = ()) -> None:
    paths.apply(Spec("1.0.0", linux=Linux(masked_paths=list(masked), readonly_paths=list(readonly))), rootfd)


def test_masked_directory_gets_an_empty_read_only_tmpfs(calls: list[Call], root: Path, rootfd: int) -> None:
    apply(rootfd, masked=("/proc/acpi",))
    assert calls == [Call("tmpfs", str(root / "proc/acpi"), "tmpfs", sc.MS_RDONLY, "size=0k")]


def test_masked_file_gets_the_hosts_dev_null_when_the_rootfs_has_none(calls: list[Call], root: Path,
                                                                      rootfd: int) -> None:
    (root / "dev").mkdir()
    (root / "dev" / "null").write_text("not a device")
    apply(rootfd, masked=("/proc/kcore",))
    assert calls == [Call("/dev/null", str(root / "proc/kcore"), None, sc.MS_BIND, None)]


def test_masked_file_gets_the_containers_own_dev_null(calls: list[Call], root: Path, rootfd: int) -> None:
    """As runc: the null device the devices applier made in the container is the bind source."""
    (root / "dev").mkdir()
    os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    apply(rootfd, masked=("/proc/kcore",))
    assert calls == [Call(str(root / "dev" / "null"), str(root / "proc/kcore"), None, sc.MS_BIND, None)]


def test_missing_masked_and_readonly_paths_are_skipped(calls: list[Call], root: Path, rootfd: int) -> None:
    """The spec lets a runtime ignore paths that don't exist; nothing is created for them either."""
    apply(rootfd, masked=("/proc/timer_list", "/sys/firmware"), readonly=("/proc/bus",))
    assert calls == []
    assert not (root / "proc" / "timer_list").exists() and not (root / "sys").exists()


def test_readonly_path_is_bound_onto_itself_then_remounted_read_only(calls: list[Call], root: Path,
                                                                     rootfd: int) -> None:
    apply(rootfd, readonly=("/proc/sys",))
    target = str(root / "proc/sys")
    assert calls == [
        Call(target, target, None, sc.MS_BIND | sc.MS_REC, None),
        Call(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | locked_flags(target), None),
    ]


def test_masked_paths_come_before_readonly_paths(calls: list[Call], root: Path, rootfd: int) -> None:
    apply(rootfd, masked=("/proc/kcore",), readonly=("/proc/sys",))
    assert [c.target for c in calls] == [str(root / "proc/kcore"), str(root / "proc/sys"), str(root / "proc/sys")]


def test_masked_path_through_a_symlink_stays_in_the_root(calls: list[Call], root: Path, rootfd: int) -> None:
    (root / "evil").symlink_to("/proc/kcore")
    apply(rootfd, masked=("/evil",))
    assert [c.target for c in calls] == [str(root / "proc/kcore")]


def test_other_errors_name_the_field_and_path(monkeypatch: pytest.MonkeyPatch, rootfd: int) -> None:
    def refuse(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM), target)

    monkeypatch.setattr(sc, "mount", refuse)
    with pytest.raises(OCIError, match=r"^linux\.readonlyPaths: /proc/sys: .*operation not permitted$"):
        apply(rootfd, readonly=("/proc/sys",))
