"""`process.ioPriority` (config.md "Linux Process"): the I/O scheduling class and priority of the
program, set with ioprio_set(2) on the container's init before exec (the program inherits it)."""
from .. import syscalls as sc
from ..errors import ConfigError, OCIError, describe
from ..model import Process, Spec

CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13


def check(spec: Spec) -> None:
    """The kernel takes 0..7 (higher bits would change the class): refuse the rest, as runc."""
    prio = spec.process.io_priority if spec.process else None
    if prio is not None and not 0 <= prio.get("priority", 0) <= 7:
        raise ConfigError(f"config.json: process.ioPriority.priority: {prio['priority']} is not within 0..7")


def apply(p: Process) -> None:
    prio = p.io_priority
    if prio is None:
        return
    value = (CLASSES[prio["class"]] << IOPRIO_CLASS_SHIFT) | prio.get("priority", 0)
    try:
        sc.ioprio_set(IOPRIO_WHO_PROCESS, 0, value)
    except OSError as e:
        raise OCIError(f"process.ioPriority: {describe(e)}") from None
