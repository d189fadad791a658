"""`python -m oci_runtime`: the same as the `oci-runtime` command."""
from .cli import exit_now, main

exit_now(main())
