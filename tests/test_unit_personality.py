"""Unit tests of appliers/personality.py: the personality(2) call made for linux.personality, recorded
via monkeypatch of the syscalls seam, and kernel refusals as errors naming the field."""
import json
from pathlib import Path

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import personality
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Spec
from oci_runtime.validate import schema_dir


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    monkeypatch.setattr(sc, "personality", lambda persona: seen.append(persona) or 0)
    return seen


@pytest.mark.parametrize("domain, number", [("LINUX", 0x0000), ("LINUX32", 0x0008)])
def test_domain_is_the_kernels_number(calls: list[int], domain: str, number: int) -> None:
    """<linux/personality.h>: PER_LINUX = 0x0000, PER_LINUX32 = 0x0008."""
    personality.apply(Spec("1.0.0", linux=Linux(personality={"domain": domain})))
    assert calls == [number]


def test_flags_are_not_passed_on(calls: list[int]) -> None:
    """The spec defines no flag values yet: only the domain reaches the kernel."""
    personality.apply(Spec("1.0.0", linux=Linux(personality={"domain": "LINUX32", "flags": []})))
    assert calls == [0x0008]


def test_every_domain_of_the_schema_is_known() -> None:
    defs = json.loads((Path(schema_dir()) / "defs-linux.json").read_text())["$defs"]
    assert set(defs["PersonalityDomain"]["enum"]) == set(personality.DOMAINS)


def test_absent_personality_changes_nothing(calls: list[int]) -> None:
    personality.apply(Spec("1.0.0"))
    assert calls == []


def test_kernel_refusal_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(persona: int) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(sc, "personality", refuse)
    with pytest.raises(OCIError, match="^linux.personality: invalid argument$"):
        personality.apply(Spec("1.0.0", linux=Linux(personality={"domain": "LINUX32"})))
