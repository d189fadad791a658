"""`linux.namespaces` (config-linux.md "Namespaces"): join the ones with a `path`, create the rest.

Runs in the intermediate process: unshare() of pid and time namespaces only affects children,
so the container's init is forked afterwards and becomes pid 1 of the new pid namespace.
"""
import os

from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Spec

FLAGS = {
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "ipc": sc.CLONE_NEWIPC,
    "mount": sc.CLONE_NEWNS,
    "network": sc.CLONE_NEWNET,
    "pid": sc.CLONE_NEWPID,
    "time": sc.CLONE_NEWTIME,
    "uts": sc.CLONE_NEWUTS,
}


def apply(spec: Spec) -> None:
    """Enter the container's namespaces: joins first (user first of all), then one unshare()."""
    joins = sorted((ns for ns in spec.linux.namespaces if ns.path), key=lambda ns: ns.type != "user")
    for ns in joins:
        try:
            fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise OCIError(f"linux.namespaces: {ns.type} namespace {describe(e)}") from None
        try:
            sc.setns(fd, FLAGS[ns.type])
        except OSError as e:
            raise OCIError(f"linux.namespaces: joining {ns.type} namespace {ns.path}: {describe(e)}") from None
        finally:
            os.close(fd)
    new = [ns.type for ns in spec.linux.namespaces if not ns.path]
    if "user" in new:
        raise OCIError("linux.namespaces: creating a user namespace is not supported by oci-runtime yet")
    flags = 0
    for ns_type in new:
        flags |= FLAGS[ns_type]
    if flags:
        try:
            sc.unshare(flags)
        except OSError as e:
            raise OCIError(f"linux.namespaces: unshare({', '.join(new)}): {describe(e)}") from None
    if "time" in new and spec.linux.time_offsets:
        write_time_offsets(spec.linux.time_offsets)


def write_time_offsets(offsets: dict) -> None:
    """linux.timeOffsets: must be written before the first process enters the time namespace."""
    lines = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n" for clock, o in offsets.items())
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)
    except OSError as e:
        raise OCIError(f"linux.timeOffsets: {describe(e)}") from None


def is_new(spec: Spec, ns_type: str) -> bool:
    """True when the container gets a namespace of this type of its own (created or joined)."""
    return spec.linux.namespace(ns_type) is not None
