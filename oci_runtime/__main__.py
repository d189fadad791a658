"""`python -m oci_runtime`: the same as the `oci-runtime` command."""
import sys

from .cli import main

sys.exit(main())
