"""Unit tests of appliers/scheduler.py: runc's validation rules as create-time errors naming the field;
the sched_setattr(2) calls made to the kernel recorded via monkeypatch of the syscalls seam."""
import json
import os
from pathlib import Path

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import scheduler
from oci_runtime.errors import ConfigError, OCIError
from oci_runtime.model import Process, Spec
from oci_runtime.validate import schema_dir


def spec(**s: object) -> Spec:
    return Spec("1.0.0", process=Process(cwd="/", scheduler=s))


@pytest.mark.parametrize("s, message", [
    ({"policy": "SCHED_OTHER", "nice": 20}, r"process.scheduler.nice: 20 is not within -20..19"),
    ({"policy": "SCHED_BATCH", "nice": -21}, r"process.scheduler.nice: -21 is not within -20..19"),
    ({"policy": "SCHED_BATCH", "priority": 5}, r"process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority, not SCHED_BATCH"),
    ({"policy": "SCHED_DEADLINE", "priority": 5, "runtime": 1}, r"process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority, not SCHED_DEADLINE"),
    ({"policy": "SCHED_FIFO"}, r"process.scheduler.priority: 0 is not within 1..99, as SCHED_FIFO needs"),
    ({"policy": "SCHED_RR", "priority": 10, "period": 5}, r"process.scheduler.period: only SCHED_DEADLINE takes a period, not SCHED_RR"),
    ({"policy": "SCHED_OTHER", "runtime": 5}, r"process.scheduler.runtime: only SCHED_DEADLINE takes a runtime, not SCHED_OTHER"),
    ({"policy": "SCHED_ISO"}, r"process.scheduler.policy: SCHED_ISO is not implemented by the Linux kernel"),
])
def test_check_refuses_with_the_field_named(s: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^config.json: " + message):
        scheduler.check(spec(**s))


@pytest.mark.parametrize("s", [
    {"policy": "SCHED_OTHER", "nice": -20}, {"policy": "SCHED_IDLE"}, {"policy": "SCHED_RR", "priority": 99},
    {"policy": "SCHED_BATCH", "nice": 19, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
    {"policy": "SCHED_DEADLINE", "runtime": 10**7, "deadline": 3 * 10**7, "period": 3 * 10**7},
    {"policy": "SCHED_DEADLINE", "runtime": 10**7, "deadline": 3 * 10**7, "flags": ["SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN"]},
    {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS"]},
])
def test_check_accepts_every_policy_and_flag_linux_implements(s: dict) -> None:
    """DEADLINE and every flag are applied now (sched_setattr): check no longer refuses them."""
    assert scheduler.check(spec(**s)) is None


def test_every_policy_and_flag_of_the_schema_is_known() -> None:
    """Each enum value config.json may hold maps to a number, or (SCHED_ISO) is refused by check()."""
    defs = json.loads((Path(schema_dir()) / "defs-linux.json").read_text())["$defs"]
    assert set(defs["SchedulerPolicy"]["enum"]) == set(scheduler.POLICIES) | {"SCHED_ISO"}
    assert set(defs["SchedulerFlag"]["enum"]) == set(scheduler.FLAGS)


def test_numbers_are_the_kernels() -> None:
    """<linux/sched.h>: the policies as Python knows them, SCHED_DEADLINE 6, and the sched_attr flag bits."""
    assert {k: v for k, v in scheduler.POLICIES.items() if k != "SCHED_DEADLINE"} == {
        "SCHED_OTHER": os.SCHED_OTHER, "SCHED_FIFO": os.SCHED_FIFO, "SCHED_RR": os.SCHED_RR,
        "SCHED_BATCH": os.SCHED_BATCH, "SCHED_IDLE": os.SCHED_IDLE}
    assert scheduler.POLICIES["SCHED_DEADLINE"] == 6
    assert scheduler.FLAGS == {
        "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
        "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
        "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    seen: list[tuple] = []

    def sched_setattr(policy: int, flags: int = 0, nice: int = 0, priority: int = 0, runtime: int = 0,
                      deadline: int = 0, period: int = 0) -> None:
        seen.append((policy, flags, nice, priority, runtime, deadline, period))

    monkeypatch.setattr(sc, "sched_setattr", sched_setattr)
    return seen


def test_batch_with_nice_and_reset_on_fork_is_one_sched_setattr(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_BATCH", nice=5, flags=["SCHED_FLAG_RESET_ON_FORK"]).process)
    assert calls == [(3, 0x01, 5, 0, 0, 0, 0)]


def test_other_without_nice_uses_zero_as_the_spec_says(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_OTHER").process)
    assert calls == [(0, 0, 0, 0, 0, 0, 0)]


def test_realtime_policy_takes_the_priority(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_FIFO", priority=42).process)
    assert calls == [(1, 0, 0, 42, 0, 0, 0)]


def test_idle_policy(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_IDLE").process)
    assert calls == [(5, 0, 0, 0, 0, 0, 0)]


def test_deadline_passes_runtime_deadline_and_period_in_nanoseconds(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_DEADLINE", runtime=10_000_000, deadline=30_000_000, period=30_000_000).process)
    assert calls == [(6, 0, 0, 0, 10_000_000, 30_000_000, 30_000_000)]


def test_deadline_without_period_passes_zero(calls: list[tuple]) -> None:
    """sched_setattr(2): a zero period means the period equals the deadline."""
    scheduler.apply(spec(policy="SCHED_DEADLINE", runtime=1000, deadline=5000).process)
    assert calls == [(6, 0, 0, 0, 1000, 5000, 0)]


def test_flags_are_or_ed(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_DEADLINE", runtime=1, deadline=2, period=3,
                         flags=["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN"]).process)
    scheduler.apply(spec(policy="SCHED_OTHER", flags=list(scheduler.FLAGS)).process)
    assert [c[1] for c in calls] == [0x07, 0x7F]


def test_no_scheduler_changes_nothing(calls: list[tuple]) -> None:
    scheduler.apply(Process(cwd="/"))
    assert calls == []


def test_kernel_refusal_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(sc, "sched_setattr", refuse)
    with pytest.raises(OCIError, match="^process.scheduler: setting SCHED_DEADLINE: operation not permitted$"):
        scheduler.apply(spec(policy="SCHED_DEADLINE", runtime=1, deadline=2).process)


@pytest.mark.parametrize("flag", ["SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX"])
def test_util_clamp_flags_are_refused_naming_the_field(flag: str) -> None:
    """The kernel wants utilization values with these flags and config.md has no field for them."""
    with pytest.raises(ConfigError, match=rf"process.scheduler.flags\[0\]: {flag} needs utilization clamp values"):
        scheduler.check(spec(policy="SCHED_OTHER", flags=[flag]))
