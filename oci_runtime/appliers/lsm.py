"""Linux security module labels: `process.apparmorProfile`, `process.selinuxLabel` (config.md
"Linux Process") and `linux.mountLabel` (config-linux.md "Mount Label").

The process labels are requested for the next exec through /proc/self/attr, as runc does (no
libapparmor/libselinux): the program starts confined, the runtime's own setup does not. Without
the LSM on the host, check() fails `create` for a profile or process label, as runc does, and
ignores a mount label, as runc does (its label helpers are no-ops when SELinux is disabled).
"""
import os

from ..errors import OCIError, describe
from ..model import Process, Spec


def apparmor_enabled() -> bool:
    """As runc: securityfs shows AppArmor and the module says it is enabled."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return os.path.isdir("/sys/kernel/security/apparmor") and f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """selinuxfs is mounted where the SELinux userland looks for it."""
    return os.path.exists("/sys/fs/selinux/enforce")


def check(spec: Spec) -> None:
    p = spec.process
    if p and p.apparmor_profile and not apparmor_enabled():
        raise OCIError(f"process.apparmorProfile: {p.apparmor_profile}: AppArmor is not enabled on this host")
    if p and p.selinux_label and not selinux_enabled():
        raise OCIError(f"process.selinuxLabel: {p.selinux_label}: SELinux is not enabled on this host")
    if spec.linux.mount_label and selinux_enabled():
        raise OCIError("linux.mountLabel: SELinux mount labels are not supported by oci-runtime yet")


def _write_attr(field: str, paths: tuple[str, ...], value: str) -> None:
    path = next((p for p in paths if os.path.exists(p)), paths[-1])
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise OCIError(f"{field}: {describe(e)}") from None


def apply(p: Process) -> None:
    """Label the program for its exec (after the user switch: the attr belongs to our task)."""
    if p.apparmor_profile:
        _write_attr("process.apparmorProfile", ("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"),
                    f"exec {p.apparmor_profile}")
    if p.selinux_label:
        _write_attr("process.selinuxLabel", ("/proc/self/attr/exec",), p.selinux_label)
