"""`idmap` and `ridmap` mount options with the mount's `uidMappings`/`gidMappings` (config.md
"Mounts"): bind mounts whose file ownership is seen through an id mapping (MOUNT_ATTR_IDMAP).

The kernel wants CAP_SYS_ADMIN in the user namespace that owns the source filesystem (the
host's) to idmap a mount, which the container's init may lack. So the `create` parent, on the
host, clones each such source (open_tree), applies the mapping and hands the detached mount to
init as an fd; init only attaches it at the destination (move_mount), inside the rootfs.
"""
import errno
import os

from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import IDMapping, Mount, Spec


def wanted(m: Mount) -> str | None:
    """"idmap" or "ridmap" when the mount asks for an id mapping."""
    return next((o for o in m.options if o in ("idmap", "ridmap")), None)


def prepare(spec: Spec, bundle: str) -> dict[int, int]:
    """Parent side: index in `mounts` -> fd of the detached, idmapped mount for it."""
    prepared: dict[int, int] = {}
    try:
        for i, m in enumerate(spec.mounts):
            option = wanted(m)
            if option is None:
                continue
            uids = m.uid_mappings or spec.linux.uid_mappings
            gids = m.gid_mappings or spec.linux.gid_mappings
            source = os.path.join(bundle, m.source or "")
            recursive = option == "ridmap" or "rbind" in m.options
            try:
                prepared[i] = _idmapped_tree(source, uids, gids, recursive, option == "ridmap")
            except OSError as e:
                raise OCIError(f"mounts[{i}]: {option} mount of {source}: {describe(e)}") from None
    except BaseException:
        for fd in prepared.values():
            os.close(fd)
        raise
    return prepared


def _idmapped_tree(source: str, uids: list[IDMapping], gids: list[IDMapping], clone_recursive: bool,
                   idmap_recursive: bool) -> int:
    tree = sc.open_tree(source, sc.OPEN_TREE_CLONE | (sc.AT_RECURSIVE if clone_recursive else 0))
    try:
        userns = _user_namespace(uids, gids)
        try:
            sc.mount_setattr(tree, sc.MOUNT_ATTR_IDMAP, 0, recursive=idmap_recursive, userns_fd=userns)
        finally:
            os.close(userns)
    except BaseException:
        os.close(tree)
        raise
    return tree


def _user_namespace(uids: list[IDMapping], gids: list[IDMapping]) -> int:
    """An fd of a new user namespace with these maps: a child unshares it, we write its maps
    from outside (as root, any mapping is allowed), keep the namespace fd and end the child."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(hold_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)  # until the parent is done with our namespace
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(errno.EPERM, "could not create a user namespace for the id mapping")
        for name, maps in (("uid_map", uids), ("gid_map", gids)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write("".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)
