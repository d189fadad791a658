"""Unit tests of appliers/sysctl.py: each key is written to /proc/sys/<key with dots as slashes>; the
module's `open` is replaced so nothing reaches the host's /proc/sys."""
import errno
import io
import os

import pytest

from oci_runtime.appliers import sysctl
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Spec
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
