"""`process.capabilities` (config.md "Linux Process"): bounding, effective, inheritable, permitted
and ambient sets, applied around the user switch.

config.md: a capability that "cannot be mapped to a relevant kernel interface, or cannot be
granted otherwise MUST be logged as a warning", and the runtime SHOULD NOT fail. So an unknown name
or one this host can't grant (not in our own bounding/permitted sets) is named in one warning by
check(), in the `create` process where --log is configured, and left out; every other requested
capability is applied exactly. With no `process.capabilities` at all nothing is changed, as runc
does (its capabilities.New(nil) is a no-op): the spec gives no default.
"""
import _prctl as prctl  # python-prctl's C module: its Python wrapper costs ~1 ms at import

from .. import log
from .. import syscalls as sc
from ..model import Process, Spec

PR_CAP_AMBIENT = 47  # <linux/prctl.h>; python-prctl lacks it
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# capabilities(7) and <linux/capability.h>: the one table of names this runtime recognises.
NAMES: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
_SET_CAPS_ORDER = ("effective", "permitted", "inheritable")  # the sets, in the order _prctl.set_caps takes them


def _in_bounding(cap: int) -> bool | None:
    """Whether cap is in our bounding set; None when the running kernel doesn't know it (EINVAL)."""
    try:
        return bool(prctl.prctl(prctl.PR_CAPBSET_READ, cap))
    except OSError:
        return None


def kernel_caps() -> list[int]:
    """The capabilities of our table that the running kernel knows (up to its cap_last_cap)."""
    return [cap for cap in NAMES.values() if _in_bounding(cap) is not None]


def grantable() -> set[str]:
    """Names we can hand on: known to the kernel, in our bounding set and in our permitted set
    (a process can only keep capabilities it has; the container init inherits ours)."""
    bounded = {name: cap for name, cap in NAMES.items() if _in_bounding(cap)}
    permitted = prctl.get_caps([], list(bounded.values()), [])[prctl.CAP_PERMITTED]
    return {name for name, cap in bounded.items() if permitted[cap]}


class Plan:
    """The sets to apply, computed before anything changes (while our own sets are whole), and
    what the kernel's rules between the sets leave out: logged when applied, as runc does."""

    def __init__(self, p: Process) -> None:
        caps = p.capabilities or {}
        ok = grantable()
        self.sets = {s: set(caps.get(s, [])) & ok for s in SETS}
        self.sets["effective"] &= self.sets["permitted"]
        self.sets["inheritable"] &= self.sets["bounding"]
        self.sets["ambient"] &= self.sets["permitted"] & self.sets["inheritable"]
        self.left_out = {s: sorted((set(caps.get(s, [])) & ok) - self.sets[s]) for s in _RULES}


_RULES = {
    "effective": "not in permitted",
    "inheritable": "not in bounding",
    "ambient": "not in both permitted and inheritable",
}


def check(spec: Spec) -> None:
    """At `create`: one warning naming the requested capabilities that are unknown to this
    runtime or kernel, or that we don't have to give."""
    caps = spec.process.capabilities if spec.process else None
    if caps is None:
        return
    ok = grantable()
    unknown = sorted({name for s in SETS for name in caps.get(s, []) if name not in ok})
    if unknown:
        log.warning(f"process.capabilities: ignoring unknown or unavailable capabilities: {', '.join(unknown)}")


def plan(p: Process) -> Plan | None:
    """The sets to apply, computed before `create` reports success; what the kernel's rules
    between the sets leave out is logged now, while the log still reaches the caller."""
    if p.capabilities is None:
        return None
    result = Plan(p)
    for s, names in result.left_out.items():
        if names:
            log.warning(f"process.capabilities.{s}: ignoring {', '.join(names)}: {_RULES[s]}")
    return result


def before_user_switch(plan: Plan | None) -> None:
    """Keep capabilities across the switch to a non-root uid (PR_SET_KEEPCAPS) and shrink the
    bounding set, which needs CAP_SETPCAP: that is only sure to be there before the switch."""
    if plan is None:
        return
    keep = {NAMES[name] for name in plan.sets["bounding"]}
    prctl.prctl(prctl.PR_SET_KEEPCAPS, 1)
    for cap in kernel_caps():
        if cap not in keep and _in_bounding(cap):
            prctl.prctl(prctl.PR_CAPBSET_DROP, cap)
    return plan


def after_user_switch(plan: Plan | None) -> None:
    """Set permitted, effective and inheritable exactly as planned, then the ambient set
    (which the kernel only accepts within permitted and inheritable)."""
    if plan is None:
        return
    want = plan.sets
    every = kernel_caps()
    on = {s: [NAMES[name] for name in want[s]] for s in _SET_CAPS_ORDER}
    off = {s: [cap for cap in every if cap not in on[s]] for s in _SET_CAPS_ORDER}
    prctl.set_caps(*(on[s] for s in _SET_CAPS_ORDER), *(off[s] for s in _SET_CAPS_ORDER))  # to raise, to drop
    sc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for name in want["ambient"]:
        sc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, NAMES[name])
    prctl.prctl(prctl.PR_SET_KEEPCAPS, 0)
