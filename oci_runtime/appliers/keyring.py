"""The session keyring (runc's `--no-new-keyring`): by default the container gets a new
session keyring of its own, so it can't read or change the caller's keys."""
import errno

from .. import syscalls as sc
from ..errors import OCIError, describe


def apply(container_id: str, new_keyring: bool) -> None:
    if not new_keyring:
        return
    try:
        sc.join_session_keyring(f"_ses.{container_id}")
    except OSError as e:
        if e.errno == errno.ENOSYS:  # kernel without keyrings: nothing to isolate
            return
        raise OCIError(f"joining a new session keyring: {describe(e)}") from None
