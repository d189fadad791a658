"""Typed errors raised by the library; the CLI turns them into runc-style messages and exit codes."""
from posix import strerror  # not os: the sealed interpreter's spawn imports this module (see sealed.py)


class OCIError(Exception):
    """Base of every error the runtime reports: str(err) is the one-line message shown to the user."""


class ConfigError(OCIError):
    """config.json is unreadable, does not match the schema, or fails a semantic check."""


class ContainerNotFound(OCIError):
    """No state directory exists for the given id."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id} does not exist")


class ContainerExists(OCIError):
    """create was asked for an id that is already in use."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container with id {container_id} already exists")


class InvalidState(OCIError):
    """The operation is not allowed in the container's current status."""


class StartError(OCIError):
    """The container's process could not be set up; shown as runc shows it, after
    `<prog> create failed: ` (clients match the text that follows)."""


class HookError(OCIError):
    """A lifecycle hook failed: the lifecycle continues at "destroy" and runs the poststop hooks."""


class UsageError(OCIError):
    """Bad command line: wrong flags or arguments."""


def describe(e: OSError) -> str:
    """An OSError the way Go prints it (`path: no such file or directory`): clients match that text."""
    text = strerror(e.errno) if e.errno else str(e)
    text = text[:1].lower() + text[1:]
    return f"{e.filename}: {text}" if e.filename else text
