"""`linux.sysctl` (config-linux.md "Sysctl"): written through /proc/sys from inside the
container's namespaces, so namespaced keys (net.*, kernel.shm*...) land in the container's.

A key that no namespace of the container's own covers would change the host for everyone:
check() refuses it before anything is made, as runc does (IPC keys need an ipc namespace, net.*
a network namespace that is not the host's, kernel.hostname/domainname a uts namespace, and
every other key is global)."""
import os

from ..errors import OCIError, describe
from ..model import Spec

IPC_KEYS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
            "kernel.shmmni", "kernel.shm_rmid_forced"}
UTS_KEYS = {"kernel.hostname", "kernel.domainname"}


def _own(spec: Spec, ns_type: str) -> bool:
    """The container has a namespace of this type that is not the runtime's own."""
    ns = spec.linux.namespace(ns_type)
    if ns is None:
        return False
    if not ns.path:
        return True
    try:
        return os.stat(ns.path).st_ino != os.stat(f"/proc/self/ns/{'net' if ns_type == 'network' else ns_type}").st_ino
    except OSError:
        return True  # namespaces.py reports a bad path


def check(spec: Spec) -> None:
    for key in spec.linux.sysctl:
        if "/" in key:
            raise OCIError(f"linux.sysctl[{key!r}]: not a sysctl name")
        if key in IPC_KEYS or key.startswith("fs.mqueue."):
            needs = "ipc"
        elif key.startswith("net."):
            needs = "network"
        elif key in UTS_KEYS:
            needs = "uts"
        else:
            raise OCIError(f"linux.sysctl[{key!r}]: not namespaced: setting it would change the host")
        if not _own(spec, needs):
            raise OCIError(f"linux.sysctl[{key!r}]: needs a {needs} namespace of the container's own "
                           "(it would change the host's)")


def apply(spec: Spec) -> None:
    for key, value in spec.linux.sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        if "/" in key:  # checked at create already; a path outside /proc/sys is never opened
            raise OCIError(f"linux.sysctl[{key!r}]: not a sysctl name")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OCIError(f"linux.sysctl[{key!r}]: {describe(e)}") from None
