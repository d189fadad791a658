"""Unit tests of appliers/sysctl.py: each key is written to /proc/sys/<key with dots as slashes>; the
module's `open` is replaced so nothing reaches the host's /proc/sys."""
import errno
import io
import os
import re

import pytest

from oci_runtime.appliers import sysctl
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Namespace, Spec
from conftest import Written


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    written: dict[str, str] = {}

    def fake_open(path: str, mode: str = "r") -> Written:
        assert mode == "w"
        return Written(path, written)

    monkeypatch.setattr(sysctl, "open", fake_open, raising=False)
    return written


def apply(values: dict[str, str]) -> None:
    sysctl.apply(Spec("1.0.0", linux=Linux(sysctl=values)))


def test_keys_map_to_proc_sys_paths_with_slashes(files: dict[str, str]) -> None:
    apply({"net.ipv4.ip_forward": "1", "kernel.shmmax": "68719476736"})
    assert files == {"/proc/sys/net/ipv4/ip_forward": "1", "/proc/sys/kernel/shmmax": "68719476736"}


def test_no_sysctl_writes_nothing(files: dict[str, str]) -> None:
    apply({})
    assert files == {}


@pytest.mark.parametrize("key", ["net/../../etc/passwd", "net.ipv4/conf", "/etc/shadow"])
def test_keys_with_a_slash_are_refused_before_any_write(files: dict[str, str], key: str) -> None:
    with pytest.raises(OCIError, match="not a sysctl name"):
        apply({key: "1"})
    assert files == {}


@pytest.mark.parametrize("key", ["..", "net..ipv4", "...."])
def test_dotted_keys_never_name_a_path_outside_proc_sys(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Dots become slashes, so no `..` component can appear: whatever is opened lies under /proc/sys."""
    opened: list[str] = []

    def record(path: str, mode: str = "r") -> io.StringIO:
        opened.append(path)
        return io.StringIO()

    monkeypatch.setattr(sysctl, "open", record, raising=False)
    try:
        apply({key: "1"})
    except OCIError:
        pass
    assert all(".." not in p.split("/") and p.startswith("/proc/sys/") for p in opened)


def test_write_error_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(path: str, mode: str = "r") -> io.StringIO:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)

    monkeypatch.setattr(sysctl, "open", missing, raising=False)
    message = r"^linux\.sysctl\['net\.nope'\]: /proc/sys/net/nope: no such file or directory$"
    with pytest.raises(OCIError, match=message):
        apply({"net.nope": "1"})


def checked(values: dict[str, str], namespaces: tuple[str, ...]) -> None:
    sysctl.check(Spec("1.0.0", linux=Linux(sysctl=values, namespaces=[Namespace(t) for t in namespaces])))


@pytest.mark.parametrize("key, namespaces", [
    ("kernel.shmmax", ("ipc",)), ("fs.mqueue.msg_max", ("ipc",)), ("net.ipv4.ip_forward", ("network",)),
    ("kernel.domainname", ("uts",)),
])
def test_namespaced_keys_are_accepted_with_their_namespace(key: str, namespaces: tuple[str, ...]) -> None:
    checked({key: "1"}, namespaces)


@pytest.mark.parametrize("key, namespaces, message", [
    ("kernel.printk_ratelimit_burst", ("ipc", "network", "uts"), "not namespaced: setting it would change the host"),
    ("vm.swappiness", ("ipc", "network", "uts"), "not namespaced"),
    ("kernel.shmmax", ("network",), "needs a ipc namespace of the container's own"),
    ("net.ipv4.tcp_keepalive_probes", ("ipc",), "needs a network namespace of the container's own"),
    ("kernel.hostname", ("ipc",), "needs a uts namespace"),
])
def test_keys_that_would_change_the_host_are_refused(key: str, namespaces: tuple[str, ...], message: str) -> None:
    """As runc: a sysctl no namespace of the container's own covers would be set for the whole host."""
    with pytest.raises(OCIError, match=rf"^linux.sysctl\['{re.escape(key)}'\]: .*{message}"):
        checked({key: "1"}, namespaces)


def test_a_network_namespace_joined_by_the_hosts_own_path_is_the_host(tmp_path) -> None:
    with pytest.raises(OCIError, match="needs a network namespace"):
        sysctl.check(Spec("1.0.0", linux=Linux(sysctl={"net.ipv4.ip_forward": "1"},
                                                namespaces=[Namespace("network", "/proc/self/ns/net")])))
