"""Mounts a container without a mount namespace of its own leaves in the host's.

Without one (config-linux.md: the namespace is then the runtime's), the mounts init makes under
the rootfs (proc, /dev, masked paths...) are the host's, as with runc, and would outlive the
container. create records the mount ids under the rootfs before init runs (before()); delete and
a failed create unmount whatever appeared there since (remove_added()), deepest first. Kept free
of the appliers and the model so that `delete` stays cheap."""
import os


def unescape(field: bytes) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo octal; the rest is raw bytes."""
    out, i = bytearray(), 0
    while i < len(field):
        if field[i:i + 1] == b"\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(int(field[i + 1:i + 4], 8))
            i += 4
        else:
            out += field[i:i + 1]
            i += 1
    return os.fsdecode(bytes(out))


def under(root: str) -> list[tuple[int, str]]:
    """(mount id, mount point) of every mount at or below root, in mount order."""
    root = root.rstrip("/")
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ", 5)
            point = unescape(fields[4])
            if point == root or point.startswith(root + "/"):
                found.append((int(fields[0]), point))
    return found


def before(root: str) -> list[int]:
    return [mount_id for mount_id, _ in under(root)]


def remove_added(root: str, existing: list[int]) -> None:
    """Unmount (lazily: a busy one goes when its last user does) every mount under root that was
    not there when create began, the newest first."""
    from . import syscalls as sc

    for mount_id, point in reversed(under(root)):
        if mount_id not in existing:
            try:
                sc.umount2(point, sc.MNT_DETACH)
            except OSError:
                pass  # gone with its parent already
