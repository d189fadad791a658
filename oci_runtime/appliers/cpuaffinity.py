"""`process.execCPUAffinity` (config.md "Process"): the CPUs an exec'd process runs on, `initial`
before it moves into the container's cgroup (so the work of joining doesn't land on CPUs the
host keeps for something else) and `final` once it is inside. Not for the init (config.md:
"not applicable to the container's init process"). Without `final`, the kernel decides
(a cpuset cgroup resets the affinity on attach)."""
import os

from .. import listformat
from ..errors import OCIError, describe
from ..model import Process


def _cpus(p: Process, which: str) -> list[int]:
    text = (p.exec_cpu_affinity or {}).get(which) or ""
    try:
        return listformat.parse(text)
    except ValueError as e:
        raise OCIError(f"process.execCPUAffinity.{which}: {e}") from None


def check(p: Process) -> None:
    for which in ("initial", "final"):
        _cpus(p, which)


def apply(p: Process, which: str, pid: int = 0) -> None:
    """Set the affinity of pid (0: this process) to the `which` list, if the config gives one."""
    cpus = _cpus(p, which)
    if cpus:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError as e:
            raise OCIError(f"process.execCPUAffinity.{which}: {describe(e)}") from None
