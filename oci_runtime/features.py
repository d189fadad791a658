"""`oci-runtime features` (features.md, features-linux.md): what this build really supports,
derived from the appliers' own tables so it can't drift from the code."""
from .appliers import capabilities, memorypolicy, mounts, namespaces, seccomp
from .state import OCI_VERSION


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted([*mounts.FLAGS, *mounts.PROPAGATION, *mounts.RECURSIVE, *mounts.INSTRUCTIONS]),
        "linux": {
            "namespaces": sorted(namespaces.FLAGS),
            "capabilities": sorted(capabilities.NAMES),
            "cgroup": {"v1": True, "v2": False, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": True},  # profiles are applied (lsm.py); mount labels are not
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": True, "schemata": True, "monitoring": True},
            "netDevices": {"enabled": True},
            "mountExtensions": {"idmap": {"enabled": True}},
            "memoryPolicy": {"modes": sorted(memorypolicy.MODES), "flags": sorted(memorypolicy.FLAGS)},
        },
    }
