"""Unit tests of appliers/nonewprivs.py: PR_SET_NO_NEW_PRIVS is asked for exactly when configured."""
import pytest

from oci_runtime.appliers import nonewprivs
from oci_runtime.model import Process


@pytest.mark.parametrize("configured, expected", [(True, [(nonewprivs.prctl.PR_SET_NO_NEW_PRIVS, 1)]), (False, [])])
def test_no_new_privs_only_when_configured(monkeypatch: pytest.MonkeyPatch, configured: bool, expected: list) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(nonewprivs.prctl, "prctl", lambda option, arg: calls.append((option, arg)))
    nonewprivs.apply(Process(cwd="/", no_new_privileges=configured))
    assert calls == expected
