"""Unit tests of appliers/namespaces.py: which namespaces are joined with setns (and with which CLONE_*
flag, user first), which are created by one unshare, and the timens offsets written; the kernel is a recorder."""
import errno
import io
import os

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import namespaces
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Namespace, Spec


class Kernel:
    def __init__(self) -> None:
        self.joined: list[tuple[int, int]] = []  # (inode of the namespace file, CLONE_* flag)
        self.unshared: list[int] = []

    def setns(self, fd: int, nstype: int) -> None:
        assert not os.get_inheritable(fd)
        self.joined.append((os.fstat(fd).st_ino, nstype))

    def unshare(self, flags: int) -> None:
        self.unshared.append(flags)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    k = Kernel()
    monkeypatch.setattr(sc, "setns", k.setns)
    monkeypatch.setattr(sc, "unshare", k.unshare)
    return k


def spec(*nss: Namespace, time_offsets: dict | None = None) -> Spec:
    return Spec("1.0.0", linux=Linux(namespaces=list(nss), time_offsets=time_offsets))


def ino(path: str) -> int:
    return os.stat(path).st_ino


def enter(s: Spec) -> None:
    """What the intermediate process does apart from the user namespace handshake."""
    namespaces.join(s)
    namespaces.unshare_others(s)


def test_new_namespaces_are_created_by_one_unshare_of_all_flags(kernel: Kernel) -> None:
    enter(spec(*(Namespace(t) for t in ("pid", "network", "ipc", "uts", "mount", "cgroup", "time"))))
    assert kernel.unshared == [sc.CLONE_NEWPID | sc.CLONE_NEWNET | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS
                               | sc.CLONE_NEWNS | sc.CLONE_NEWCGROUP | sc.CLONE_NEWTIME]
    assert kernel.joined == []


def test_no_namespaces_asks_for_nothing(kernel: Kernel) -> None:
    enter(spec())
    assert (kernel.joined, kernel.unshared) == ([], [])


def test_namespaces_with_a_path_are_joined_with_their_flag(kernel: Kernel) -> None:
    enter(spec(Namespace("network", "/proc/self/ns/net"), Namespace("ipc", "/proc/self/ns/ipc"),
                          Namespace("pid")))
    assert kernel.joined == [(ino("/proc/self/ns/net"), sc.CLONE_NEWNET), (ino("/proc/self/ns/ipc"), sc.CLONE_NEWIPC)]
    assert kernel.unshared == [sc.CLONE_NEWPID]


def test_user_namespace_is_joined_first(kernel: Kernel) -> None:
    """Joining the user namespace first gives the privileges needed to join the others it owns."""
    enter(spec(Namespace("uts", "/proc/self/ns/uts"), Namespace("user", "/proc/self/ns/user"),
                          Namespace("mount", "/proc/self/ns/mnt")))
    assert kernel.joined == [(ino("/proc/self/ns/user"), sc.CLONE_NEWUSER), (ino("/proc/self/ns/uts"), sc.CLONE_NEWUTS),
                             (ino("/proc/self/ns/mnt"), sc.CLONE_NEWNS)]


def test_a_new_user_namespace_is_left_out_of_the_other_unshare(kernel: Kernel) -> None:
    """The user namespace is created alone (unshare_user) so the parent can map it first."""
    s = spec(Namespace("pid"), Namespace("user"))
    enter(s)
    assert kernel.unshared == [sc.CLONE_NEWPID]
    assert namespaces.creates_user_namespace(s)
    namespaces.unshare_user()
    assert kernel.unshared[-1] == sc.CLONE_NEWUSER


def test_id_maps_are_written_as_the_kernel_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from oci_runtime.model import IDMapping

    written: dict[str, str] = {}

    class File(io.StringIO):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

        def close(self) -> None:
            written[self.path] = self.getvalue()
            super().close()

    monkeypatch.setattr(namespaces, "open", lambda path, mode: File(path), raising=False)
    s = Spec("1.0.0", linux=Linux(namespaces=[Namespace("user")],
                                  uid_mappings=[IDMapping(0, 1000, 1), IDMapping(1, 100000, 65535)],
                                  gid_mappings=[IDMapping(0, 2000, 10)]))
    namespaces.write_id_maps(42, s)
    assert written == {"/proc/42/uid_map": "0 1000 1\n1 100000 65535\n", "/proc/42/gid_map": "0 2000 10\n"}


def test_missing_namespace_path_names_the_namespace(kernel: Kernel) -> None:
    message = "^linux.namespaces: network namespace /run/netns/nope: no such file or directory$"
    with pytest.raises(OCIError, match=message):
        enter(spec(Namespace("network", "/run/netns/nope")))
    assert (kernel.joined, kernel.unshared) == ([], [])


def test_setns_error_names_the_namespace_and_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(fd: int, nstype: int) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(sc, "setns", refuse)
    with pytest.raises(OCIError, match="^linux.namespaces: joining ipc namespace /proc/self/ns/net: invalid argument$"):
        enter(spec(Namespace("ipc", "/proc/self/ns/net")))


def test_unshare_error_lists_the_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(flags: int) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(sc, "unshare", refuse)
    with pytest.raises(OCIError, match=r"^linux.namespaces: unshare\(pid, mount\): operation not permitted$"):
        enter(spec(Namespace("pid"), Namespace("mount")))


def test_time_offsets_are_written_after_unsharing_a_time_namespace(kernel: Kernel,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Offsets go to /proc/self/timens_offsets, one `<clock> <secs> <nanosecs>` line per clock."""
    written: dict[str, str] = {}

    class File(io.StringIO):
        def close(self) -> None:
            written["/proc/self/timens_offsets"] = self.getvalue()
            super().close()

    def fake_open(path: str, mode: str = "r") -> File:
        assert (path, mode, kernel.unshared) == ("/proc/self/timens_offsets", "w", [sc.CLONE_NEWTIME])
        return File()

    monkeypatch.setattr(namespaces, "open", fake_open, raising=False)
    enter(spec(Namespace("time"), time_offsets={"monotonic": {"secs": 86400}, "boottime": {"nanosecs": 7}}))
    assert written == {"/proc/self/timens_offsets": "monotonic 86400 0\nboottime 0 7\n"}


def test_time_offsets_are_not_written_for_a_joined_time_namespace(kernel: Kernel,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces, "open", lambda *_: pytest.fail("opened"), raising=False)
    enter(spec(Namespace("time", "/proc/self/ns/time"), time_offsets={"monotonic": {"secs": 1}}))
    assert kernel.joined == [(ino("/proc/self/ns/time"), sc.CLONE_NEWTIME)]


def test_in_user_namespace_is_true_for_created_and_joined_ones() -> None:
    assert namespaces.in_user_namespace(spec(Namespace("user")))
    assert namespaces.in_user_namespace(spec(Namespace("user", "/proc/self/ns/user")))
    assert not namespaces.in_user_namespace(spec(Namespace("pid")))
    assert not namespaces.creates_user_namespace(spec(Namespace("user", "/proc/self/ns/user")))
