"""`linux.personality` (config-linux.md "Personality"): the execution domain (LINUX, LINUX32).

Applying it needs personality(2), which neither Python nor our syscall shim offers yet, so a
config that sets it fails at `create` with an error naming the field rather than running the
container with the wrong domain.
"""
from ..errors import ConfigError
from ..model import Spec


def check(spec: Spec) -> None:
    if spec.linux.personality is not None:
        raise ConfigError("config.json: linux.personality: not supported by oci-runtime yet (it needs personality)")
