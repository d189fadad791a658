"""`process.ioPriority` (config.md "Linux Process"): the I/O scheduling class and priority.

Applying it needs ioprio_set(2), which neither Python nor our syscall shim offers yet, so a
config that sets it fails at `create` with an error naming the field rather than running the
container without it.
"""
from ..errors import ConfigError
from ..model import Spec


def check(spec: Spec) -> None:
    if spec.process and spec.process.io_priority is not None:
        raise ConfigError("config.json: process.ioPriority: not supported by oci-runtime yet (it needs ioprio_set)")
