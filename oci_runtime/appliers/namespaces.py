"""`linux.namespaces`, `linux.uidMappings`/`gidMappings`, `linux.timeOffsets`
(config-linux.md "Namespaces", "User namespace mappings", "Offset for Time Namespace").

Runs in the intermediate process, in this order: join the namespaces given by `path` (user
first: joining it decides which privileges the other joins have); create a new user namespace,
whose maps the parent writes from outside; then unshare every other new namespace at once.
unshare() of pid and time namespaces only affects children, so init is forked afterwards.
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


def join(spec: Spec) -> None:
    """setns() into every namespace that has a `path`, the user namespace first."""
    for ns in sorted((ns for ns in spec.linux.namespaces if ns.path), key=lambda ns: ns.type != "user"):
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


def creates_user_namespace(spec: Spec) -> bool:
    ns = spec.linux.namespace("user")
    return ns is not None and not ns.path


def in_user_namespace(spec: Spec) -> bool:
    """True when the container runs in a user namespace other than ours (made or joined)."""
    return spec.linux.namespace("user") is not None


def unshare_user() -> None:
    try:
        sc.unshare(sc.CLONE_NEWUSER)
    except OSError as e:
        raise OCIError(f"linux.namespaces: creating a user namespace: {describe(e)}") from None


def write_id_maps(pid: int, spec: Spec) -> None:
    """Parent side: linux.uidMappings/gidMappings into /proc/<pid>/{uid,gid}_map.

    Written by the parent, which holds CAP_SETUID/CAP_SETGID in the parent user namespace, so any
    mapping is allowed (and setgroups needs no "deny")."""
    for field, name, mappings in (("linux.uidMappings", "uid_map", spec.linux.uid_mappings),
                                  ("linux.gidMappings", "gid_map", spec.linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise OCIError(f"{field}: writing {name}: {describe(e)}") from None


def become_root() -> None:
    """In the new user namespace, act as its uid/gid 0 (mapped to the host ids of the config)."""
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as e:
        raise OCIError(f"linux.uidMappings/gidMappings: container root (0) is not mapped: {describe(e)}") from None


def unshare_others(spec: Spec) -> None:
    """One unshare() for every new namespace but user; then the time offsets."""
    new = [ns.type for ns in spec.linux.namespaces if not ns.path and ns.type != "user"]
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
