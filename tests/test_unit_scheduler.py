"""Unit tests of appliers/scheduler.py: runc's validation rules and this build's limits as create-time
errors naming the field; the calls made to the kernel recorded via monkeypatch."""
import os

import pytest

from oci_runtime.appliers import scheduler
from oci_runtime.errors import ConfigError, OCIError
from oci_runtime.model import Process, Spec


def spec(**s: object) -> Spec:
    return Spec("1.0.0", process=Process(cwd="/", scheduler=s))


@pytest.mark.parametrize("s, message", [
    ({"policy": "SCHED_OTHER", "nice": 20}, r"process.scheduler.nice: 20 is not within -20..19"),
    ({"policy": "SCHED_BATCH", "priority": 5}, r"process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority, not SCHED_BATCH"),
    ({"policy": "SCHED_FIFO"}, r"process.scheduler.priority: 0 is not within 1..99, as SCHED_FIFO needs"),
    ({"policy": "SCHED_RR", "priority": 10, "period": 5}, r"process.scheduler.period: only SCHED_DEADLINE takes a period, not SCHED_RR"),
    ({"policy": "SCHED_ISO"}, r"process.scheduler.policy: SCHED_ISO is not implemented by the Linux kernel"),
    ({"policy": "SCHED_DEADLINE", "runtime": 1, "deadline": 2, "period": 3},
     r"process.scheduler.policy: SCHED_DEADLINE is not supported by oci-runtime yet \(it needs sched_setattr\)"),
    ({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_KEEP_POLICY"]},
     r"process.scheduler.flags\[1\]: SCHED_FLAG_KEEP_POLICY is not supported by oci-runtime yet"),
])
def test_check_refuses_with_the_field_named(s: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^config.json: " + message):
        scheduler.check(spec(**s))


def test_check_accepts_what_can_be_applied() -> None:
    for s in ({"policy": "SCHED_OTHER", "nice": -20}, {"policy": "SCHED_IDLE"}, {"policy": "SCHED_RR", "priority": 99},
              {"policy": "SCHED_BATCH", "nice": 19, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}):
        scheduler.check(spec(**s))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    seen: list[tuple] = []
    monkeypatch.setattr(scheduler.os, "sched_setscheduler", lambda pid, policy, param: seen.append(("sched", pid, policy, param.sched_priority)))
    monkeypatch.setattr(scheduler.os, "setpriority", lambda which, who, nice: seen.append(("nice", which, who, nice)))
    return seen


def test_batch_sets_policy_then_nice(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_BATCH", nice=5, flags=["SCHED_FLAG_RESET_ON_FORK"]).process)
    assert calls == [("sched", 0, os.SCHED_BATCH | os.SCHED_RESET_ON_FORK, 0), ("nice", os.PRIO_PROCESS, 0, 5)]


def test_other_without_nice_uses_zero_as_the_spec_says(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_OTHER").process)
    assert calls == [("sched", 0, os.SCHED_OTHER, 0), ("nice", os.PRIO_PROCESS, 0, 0)]


def test_realtime_policy_takes_the_priority_and_no_nice(calls: list[tuple]) -> None:
    scheduler.apply(spec(policy="SCHED_FIFO", priority=42).process)
    assert calls == [("sched", 0, os.SCHED_FIFO, 42)]


def test_no_scheduler_changes_nothing(calls: list[tuple]) -> None:
    scheduler.apply(Process(cwd="/"))
    assert calls == []


def test_kernel_refusal_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(scheduler.os, "sched_setscheduler", refuse)
    with pytest.raises(OCIError, match="^process.scheduler: setting SCHED_RR: operation not permitted$"):
        scheduler.apply(spec(policy="SCHED_RR", priority=1).process)
