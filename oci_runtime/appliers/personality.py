"""`linux.personality` (config-linux.md "Personality"): the execution domain (LINUX, LINUX32) of
the program, set with personality(2) before exec. The spec defines no `flags` values yet."""
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Spec

DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def apply(spec: Spec) -> None:
    persona = spec.linux.personality
    if persona is None:
        return
    try:
        sc.personality(DOMAINS[persona["domain"]])
    except OSError as e:
        raise OCIError(f"linux.personality: {describe(e)}") from None
