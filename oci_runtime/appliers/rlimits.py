"""`process.rlimits` (config.md "POSIX process"): resource limits set with setrlimit(2) in the
container's init before the user switch, so they hold for the program and its children.

config.md: the runtime MUST generate an error for a `type` that can't be mapped to a kernel
interface, and getrlimit on it MUST then show exactly `soft` and `hard`. So unknown names and
soft > hard (which setrlimit refuses) are rejected by check() at `create`, naming the field; a
hard limit above ours without CAP_SYS_RESOURCE fails in apply(), naming the rlimit.
"""
import resource

from ..errors import ConfigError, OCIError, describe
from ..model import Process, Spec

# Every RLIMIT_* the running Python knows for this platform (getrlimit(2)).
NAMES: dict[str, int] = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}
_UINT64 = 1 << 64


def _native(value: int) -> int:
    """Python's setrlimit takes rlim_t as a signed 64-bit value: 2**64-1 (RLIM_INFINITY) is -1."""
    return value - _UINT64 if value >= 1 << 63 else value


def check(spec: Spec) -> None:
    for i, rlimit in enumerate(spec.process.rlimits if spec.process else []):
        field = f"config.json: process.rlimits[{i}]"
        if rlimit["type"] not in NAMES:
            raise ConfigError(f'{field}.type: "{rlimit["type"]}" is not a resource limit of Linux '
                              f"(one of {', '.join(sorted(NAMES))})")
        if rlimit["soft"] > rlimit["hard"]:
            raise ConfigError(f"{field}.soft: {rlimit['soft']} is greater than hard ({rlimit['hard']})")


def apply(p: Process) -> None:
    for i, rlimit in enumerate(p.rlimits):
        name, soft, hard = rlimit["type"], rlimit["soft"], rlimit["hard"]
        try:
            resource.setrlimit(NAMES[name], (_native(soft), _native(hard)))
        except OSError as e:
            raise OCIError(f"process.rlimits[{i}]: setting {name} to soft {soft}, hard {hard}: {describe(e)}") from None
        except ValueError:  # how Python reports EPERM from setrlimit (soft > hard is refused by check())
            raise OCIError(f"process.rlimits[{i}]: setting {name} to soft {soft}, hard {hard}: operation not "
                           "permitted (raising a hard limit needs CAP_SYS_RESOURCE)") from None
