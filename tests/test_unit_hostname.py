"""Unit tests of appliers/hostname.py: sethostname/setdomainname are asked for only with a UTS namespace of
the container's own (otherwise they would rename the host)."""
import errno
import os

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import hostname
from oci_runtime.errors import OCIError
from oci_runtime.model import Spec


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    recorded: list[tuple[str, str]] = []
    monkeypatch.setattr(sc, "sethostname", lambda name: recorded.append(("hostname", name)))
    monkeypatch.setattr(sc, "setdomainname", lambda name: recorded.append(("domainname", name)))
    return recorded


def test_hostname_and_domainname_are_set_in_an_own_uts_namespace(calls: list[tuple[str, str]]) -> None:
    hostname.apply(Spec("1.0.0", hostname="box", domainname="example.org"), own_uts_ns=True)
    assert calls == [("hostname", "box"), ("domainname", "example.org")]


def test_empty_hostname_is_set_in_an_own_uts_namespace(calls: list[tuple[str, str]]) -> None:
    """"" is a value (clear the inherited name), unlike an absent field."""
    hostname.apply(Spec("1.0.0", hostname=""), own_uts_ns=True)
    assert calls == [("hostname", "")]


@pytest.mark.parametrize("own_uts_ns", [True, False])
def test_absent_fields_set_nothing(calls: list[tuple[str, str]], own_uts_ns: bool) -> None:
    hostname.apply(Spec("1.0.0"), own_uts_ns=own_uts_ns)
    assert calls == []


def test_empty_values_without_uts_namespace_are_ignored(calls: list[tuple[str, str]]) -> None:
    hostname.apply(Spec("1.0.0", hostname="", domainname=""), own_uts_ns=False)
    assert calls == []


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_a_name_without_uts_namespace_is_refused_not_applied_to_the_host(calls: list[tuple[str, str]],
                                                                         field: str) -> None:
    with pytest.raises(OCIError, match=f"^{field}: cannot set {field} without a new uts namespace$"):
        hostname.apply(Spec("1.0.0", **{field: "box"}), own_uts_ns=False)
    assert calls == []


def test_kernel_error_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(sc, "sethostname", refuse)
    with pytest.raises(OCIError, match="^hostname: invalid argument$"):
        hostname.apply(Spec("1.0.0", hostname="x" * 100), own_uts_ns=True)
