"""The sealed interpreter, started before the command imports anything else (sealed.py).

For create, run and exec, main() (the command's script) calls start() first thing: the sealed
interpreter's start-up and imports, the longest branch of a `run`, then begin ~2 ms sooner than
operations could start them, before the command line module and the operations are imported. The
other commands pay only for this module: sealed.py is imported for those three alone.
"""
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from .sealed import Intermediate

COMMANDS = ("create", "run", "exec")
GLOBAL_VALUE_FLAGS = ("root", "log", "log-format")  # cli.GLOBAL_FLAGS that take a value (a test checks)

_waiting: "Intermediate | None" = None


def start(args: list[str]) -> None:
    """For create, run and exec (args: the command line after the program's name), start the
    intermediate now. A failure is left for the command to meet again, and report, when it asks
    for the intermediate (take)."""
    global _waiting
    if command(args) in COMMANDS:
        from .errors import OCIError
        from .sealed import Intermediate

        try:
            _waiting = Intermediate()
        except (OCIError, OSError):  # met again by take(), and reported once the logging is set up
            _waiting = None


def command(args: list[str]) -> str | None:
    """The subcommand, after the global flags as the command line takes them (cli.parse_flags:
    `-x`/`--x`, `--x=v` or `--x v`, flags stop at the first argument). A mistake costs only time:
    an intermediate started for nothing is abandoned, a missing one is started by take()."""
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            return arg
        if arg == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if "=" not in arg and arg.lstrip("-") in GLOBAL_VALUE_FLAGS:
            i += 1
        i += 1
    return None


def main(args: list[str]) -> None:
    """The command (bin/oci-runtime, `python -m oci_runtime`): start the intermediate for create, run
    and exec, then import the command line and run it; an intermediate it did not use is reaped."""
    start(args)
    from .cli import exit_now
    from .cli import main as cli_main

    status = cli_main(args)
    drop()
    exit_now(status)


def take() -> "Intermediate":
    """The intermediate start() started, or a new one (the library used without the script)."""
    global _waiting
    intermediate, _waiting = _waiting, None
    if intermediate is None:
        from .sealed import Intermediate

        intermediate = Intermediate()
    return intermediate


def drop() -> None:
    """The command ends without having used it (a usage error, --help): end and reap it."""
    global _waiting
    if _waiting is not None:
        _waiting.abandon()
        _waiting = None
