"""`oci-runtime features` (features.md, features-linux.md): what this build really supports,
derived from the appliers' own tables so it can't drift from the code."""
from .appliers import mounts, namespaces
from .state import OCI_VERSION


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": sorted([*mounts.FLAGS, *mounts.PROPAGATION, *mounts.RECURSIVE, "tmpcopyup"]),
        "linux": {
            "namespaces": sorted(t for t in namespaces.FLAGS if t != "user"),
            "capabilities": [],
            "cgroup": {"v1": False, "v2": False, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
    }
