"""`python -m oci_runtime`: the same as the `oci-runtime` command."""
import sys

from . import sealed

sealed.start_early(sys.argv[1:])
from .cli import exit_now, main  # noqa: E402

status = main()
sealed.drop_early()
exit_now(status)
