"""Unit tests of appliers/oom.py: the value is written to /proc/self/oom_score_adj only when set
(the module's `open` is replaced); a refusal names the field."""

import pytest
from conftest import Written

from oci_runtime.appliers import oom
from oci_runtime.errors import OCIError
from oci_runtime.model import Process


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    written: dict[str, str] = {}
    monkeypatch.setattr(oom, "open", lambda path, mode="r": Written(path, written), raising=False)
    return written


def test_value_is_written(files: dict[str, str]) -> None:
    oom.apply(Process(cwd="/", oom_score_adj=-17))
    assert files == {"/proc/self/oom_score_adj": "-17"}


def test_unset_value_is_not_touched(files: dict[str, str]) -> None:
    """config.md: if oomScoreAdj is not set, the runtime MUST NOT change the value."""
    oom.apply(Process(cwd="/"))
    assert files == {}


def test_refusal_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str, mode: str = "r") -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(oom, "open", refuse, raising=False)
    with pytest.raises(OCIError, match="^process.oomScoreAdj: setting -500: permission denied$"):
        oom.apply(Process(cwd="/", oom_score_adj=-500))
