"""Unit tests of appliers/iopriority.py: the ioprio_set(2) call made for process.ioPriority, recorded
via monkeypatch of the syscalls seam, and kernel refusals as errors naming the field."""
import json
from pathlib import Path

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import iopriority
from oci_runtime.errors import OCIError
from oci_runtime.model import Process
from oci_runtime.validate import schema_dir


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    seen: list[tuple] = []
    monkeypatch.setattr(sc, "ioprio_set", lambda which, who, ioprio: seen.append((which, who, ioprio)))
    return seen


def process(cls: str, priority: int) -> Process:
    return Process(cwd="/", io_priority={"class": cls, "priority": priority})


@pytest.mark.parametrize("cls, priority, value", [
    ("IOPRIO_CLASS_RT", 0, 0x2000),
    ("IOPRIO_CLASS_BE", 3, 0x4003),
    ("IOPRIO_CLASS_BE", 7, 0x4007),
    ("IOPRIO_CLASS_IDLE", 0, 0x6000),
])
def test_value_is_class_shifted_by_13_or_priority(calls: list[tuple], cls: str, priority: int, value: int) -> None:
    """<linux/ioprio.h>: IOPRIO_PRIO_VALUE(class, data) = class << 13 | data, for the calling process
    (IOPRIO_WHO_PROCESS = 1, who = 0)."""
    iopriority.apply(process(cls, priority))
    assert calls == [(1, 0, value)]


def test_every_class_of_the_schema_is_known() -> None:
    defs = json.loads((Path(schema_dir()) / "defs-linux.json").read_text())["$defs"]
    assert set(defs["IOPriorityClass"]["enum"]) == set(iopriority.CLASSES)


def test_absent_io_priority_changes_nothing(calls: list[tuple]) -> None:
    iopriority.apply(Process(cwd="/"))
    assert calls == []


def test_kernel_refusal_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(sc, "ioprio_set", refuse)
    with pytest.raises(OCIError, match="^process.ioPriority: operation not permitted$"):
        iopriority.apply(process("IOPRIO_CLASS_RT", 4))


@pytest.mark.parametrize("priority", [-1, 8, 8192])
def test_priority_outside_0_to_7_is_refused_naming_the_field(priority: int) -> None:
    """8192 would otherwise turn best-effort into the idle class (bits above 12 are the class)."""
    from oci_runtime.errors import ConfigError
    from oci_runtime.model import Process, Spec

    s = Spec("1.0.0", process=Process(cwd="/", io_priority={"class": "IOPRIO_CLASS_BE", "priority": priority}))
    with pytest.raises(ConfigError, match=rf"^config.json: process.ioPriority.priority: {priority} is not within 0..7$"):
        iopriority.check(s)
