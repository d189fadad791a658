"""`process.scheduler` (config.md "Linux Process"): the program's scheduling policy, nice value,
real-time priority and deadline parameters, set with sched_setattr(2) by the container's init
before exec (the program inherits them).

check() rejects at `create` what sched_setattr would refuse, with runc's rules: nice only within
-20..19 for SCHED_OTHER/SCHED_BATCH, priority only for SCHED_FIFO/SCHED_RR, runtime/deadline/
period only for SCHED_DEADLINE; SCHED_ISO is not implemented by Linux at all.
"""
from .. import syscalls as sc
from ..errors import ConfigError, OCIError, describe
from ..model import Process, Spec

POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
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
    for i, flag in enumerate(s.get("flags", [])):
        if flag in ("SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX"):
            raise ConfigError(f"{field}.flags[{i}]: {flag} needs utilization clamp values, which the spec does not carry")


def apply(p: Process) -> None:
    s = p.scheduler
    if s is None:
        return
    flags = 0
    for flag in s.get("flags", []):
        flags |= FLAGS[flag]
    try:
        sc.sched_setattr(POLICIES[s["policy"]], flags, s.get("nice", 0), s.get("priority", 0), s.get("runtime", 0),
                         s.get("deadline", 0), s.get("period", 0))
    except OSError as e:
        raise OCIError(f"process.scheduler: setting {s['policy']}: {describe(e)}") from None
