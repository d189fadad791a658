"""`process.noNewPrivileges` (config.md "Linux Process"): prctl(PR_SET_NO_NEW_PRIVS) right before
exec, so setuid binaries and file capabilities can't raise the program's privileges. It is set
last because it is irreversible and nothing of ours after it needs to gain privileges."""
import _prctl as prctl  # python-prctl's C module: its Python wrapper costs ~1 ms at import

from ..model import Process


def apply(p: Process) -> None:
    if p.no_new_privileges:
        prctl.prctl(prctl.PR_SET_NO_NEW_PRIVS, 1)
