"""`process.scheduler` (config.md "Linux Process"): the program's scheduling policy, nice value
and real-time priority, set by the container's init before exec (sched_setattr(2) semantics).

check() rejects at `create` what sched_setattr would refuse (runc's validation rules: nice only
within -20..19 for SCHED_OTHER/SCHED_BATCH, priority only for SCHED_FIFO/SCHED_RR,
runtime/deadline/period only for SCHED_DEADLINE) and what this build can't apply: Python offers
sched_setscheduler and setpriority, not sched_setattr, so SCHED_DEADLINE and every flag but
SCHED_FLAG_RESET_ON_FORK get a clear error; SCHED_ISO is not implemented by Linux at all.
"""
import os

from ..errors import ConfigError, OCIError, describe
from ..model import Process, Spec

POLICIES = {
    "SCHED_OTHER": os.SCHED_OTHER, "SCHED_FIFO": os.SCHED_FIFO, "SCHED_RR": os.SCHED_RR,
    "SCHED_BATCH": os.SCHED_BATCH, "SCHED_IDLE": os.SCHED_IDLE,
}
FLAGS = {"SCHED_FLAG_RESET_ON_FORK": os.SCHED_RESET_ON_FORK}
_NICE = ("SCHED_OTHER", "SCHED_BATCH")
_REALTIME = ("SCHED_FIFO", "SCHED_RR")


def check(spec: Spec) -> None:
    s = spec.process.scheduler if spec.process else None
    if s is None:
        return
    field = "config.json: process.scheduler"
    policy, nice, priority = s["policy"], s.get("nice", 0), s.get("priority", 0)
    if policy in _NICE and not -20 <= nice <= 19:
        raise ConfigError(f"{field}.nice: {nice} is not within -20..19")
    if priority and policy not in _REALTIME:
        raise ConfigError(f"{field}.priority: only SCHED_FIFO and SCHED_RR take a priority, not {policy}")
    if policy in _REALTIME and not 1 <= priority <= 99:
        raise ConfigError(f"{field}.priority: {priority} is not within 1..99, as {policy} needs")
    for name in ("runtime", "deadline", "period"):
        if s.get(name) and policy != "SCHED_DEADLINE":
            raise ConfigError(f"{field}.{name}: only SCHED_DEADLINE takes a {name}, not {policy}")
    if policy == "SCHED_ISO":
        raise ConfigError(f"{field}.policy: SCHED_ISO is not implemented by the Linux kernel")
    if policy not in POLICIES:
        raise ConfigError(f"{field}.policy: {policy} is not supported by oci-runtime yet (it needs sched_setattr)")
    for i, flag in enumerate(s.get("flags", [])):
        if flag not in FLAGS:
            raise ConfigError(f"{field}.flags[{i}]: {flag} is not supported by oci-runtime yet (it needs sched_setattr)")


def apply(p: Process) -> None:
    s = p.scheduler
    if s is None:
        return
    policy = POLICIES[s["policy"]]
    for flag in s.get("flags", []):
        policy |= FLAGS[flag]
    try:
        os.sched_setscheduler(0, policy, os.sched_param(s.get("priority", 0)))
        if s["policy"] in _NICE:
            os.setpriority(os.PRIO_PROCESS, 0, s.get("nice", 0))
    except OSError as e:
        raise OCIError(f"process.scheduler: setting {s['policy']}: {describe(e)}") from None
