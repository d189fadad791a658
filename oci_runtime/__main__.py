"""`python -m oci_runtime`: the same as the `oci-runtime` command."""
import sys

from . import early

early.main(sys.argv[1:])
