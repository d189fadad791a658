"""`process.oomScoreAdj` (config.md "Linux Process"): written to /proc/self/oom_score_adj by the
container's init before exec; the program and its children inherit it.

config.md: if set, the runtime MUST set it; if not set, it MUST NOT change it. Going below the
value we started with needs CAP_SYS_RESOURCE, so that fails with an error naming the field.
"""
from ..errors import OCIError, describe
from ..model import Process


def apply(p: Process) -> None:
    if p.oom_score_adj is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(p.oom_score_adj))
    except OSError as e:
        raise OCIError(f"process.oomScoreAdj: setting {p.oom_score_adj}: {describe(e)}") from None
