"""`linux.sysctl` (config-linux.md "Sysctl"): written through /proc/sys from inside the
container's namespaces, so namespaced keys (net.*, kernel.shm*...) land in the container's."""
from ..errors import OCIError, describe
from ..model import Spec


def apply(spec: Spec) -> None:
    for key, value in spec.linux.sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        if "/" in key:
            raise OCIError(f"linux.sysctl[{key!r}]: not a sysctl name")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OCIError(f"linux.sysctl[{key!r}]: {describe(e)}") from None
