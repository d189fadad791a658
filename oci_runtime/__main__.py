"""`python -m oci_runtime`: the same as the `oci-runtime` command."""
import sys

from . import early

early.start(sys.argv[1:])
from .cli import exit_now, main

status = main()
early.drop()
exit_now(status)
