"""Container state on disk (runtime.md "State"): one directory per container under --root.

Layout of <root>/<id>/: state.json (written atomically: temp file + rename), config.json (the
validated config, for later commands), exec.fifo (present from create until start).
The directory itself is the per-container lock (flock). A new container's directory is
prepared under a temporary name and renamed into place, so no command ever sees a half-made one.
Status is derived, never stored: from the init's pid and start time in /proc, and the fifo.
"""
import errno
import fcntl
import os
import time

from . import jsonio
from .errors import ContainerExists, ContainerNotFound, OCIError

DEFAULT_ROOT = "/run/oci-runtime"
OCI_VERSION = "1.3.0"
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
EXEC_FIFO = "exec.fifo"

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-.")


MAX_ID = 200  # the hidden ".<id>.creating.<pid>" it is built under must fit in a file name (255)


def validate_id(container_id: str) -> None:
    """Ids become directory names: letters, digits and _ + - . (as runc), not starting with a dot
    (hidden names are our half-made containers'; runc allows it), at most MAX_ID long."""
    if not container_id or not _ID_CHARS.issuperset(container_id) or container_id.startswith("."):
        raise OCIError(f"invalid container id {container_id!r}: use letters, digits and _ + - . only, "
                       "not starting with a dot")
    if len(container_id) > MAX_ID:
        raise OCIError(f"invalid container id: longer than {MAX_ID} characters")


def now_rfc3339nano() -> str:
    """UTC time as Go's RFC3339Nano (runc's `created` field)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + (".%09d" % (ns % 10**9)).rstrip("0").rstrip(".") + "Z"


def proc_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live, non-zombie pid; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class Container:
    """A container's state directory, opened (and optionally locked) by id."""

    def __init__(self, root: str, container_id: str, dirfd: int, data: dict) -> None:
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.dirfd = dirfd
        self.data = data

    @property
    def pid(self) -> int:
        return self.data["pid"]

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def status(self) -> str:
        """created, running, paused (its cgroup frozen) or stopped (creating while create is
        still at work)."""
        pid = self.data["pid"]
        if pid == 0:
            creator = self.data["creator_pid"]
            return "creating" if proc_start_time(creator) == self.data["creator_start_time"] else "stopped"
        if proc_start_time(pid) != self.data["init_start_time"]:
            return "stopped"
        if self.data.get("cgroup"):
            from . import cgroups  # stdlib only

            if cgroups.frozen(self.data["cgroup"]):
                return "paused"
        try:
            os.stat(EXEC_FIFO, dir_fd=self.dirfd)
            return "created"
        except FileNotFoundError:
            return "running"

    def oci_state(self, status: str | None = None) -> dict:
        """The runtime-spec state object, with runc's extra fields, in runc's key order."""
        status = status or self.status()
        d = self.data
        state = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": d["pid"] if status in ("created", "running", "paused") else 0,
            "status": status,
            "bundle": d["bundle"],
            "rootfs": d["rootfs"],
            "created": d["created"],
        }
        if d.get("annotations"):
            state["annotations"] = d["annotations"]
        state["owner"] = ""
        return state

    def save(self) -> None:
        write_json_atomic(self.dirfd, STATE_FILE, self.data)

    def load_config(self) -> dict:
        """The config saved at create time (raw JSON, already validated)."""
        return read_json(self.dirfd, CONFIG_FILE)

    def lock(self) -> None:
        """Serialise commands on this container; fails if it was deleted while we waited."""
        fcntl.flock(self.dirfd, fcntl.LOCK_EX)
        if os.fstat(self.dirfd).st_nlink == 0:
            raise ContainerNotFound(self.id)
        self.data = read_json(self.dirfd, STATE_FILE)

    def close(self) -> None:
        os.close(self.dirfd)

    def remove(self) -> None:
        """Delete the state directory (the caller holds the lock)."""
        for name in os.listdir(self.dirfd):
            os.unlink(name, dir_fd=self.dirfd)
        os.rmdir(self.dir)


def read_json(dirfd: int, name: str) -> dict:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        return jsonio.loads(os.read(fd, os.fstat(fd).st_size + 1))
    finally:
        os.close(fd)


def write_json_atomic(dirfd: int, name: str, obj: object) -> None:
    """Write to a temp file and rename over `name`: readers, and a command killed at any point, see
    the old or the new file, whole. No fsync (nor does runc): the state describes processes that a
    machine crash ends anyway, and create writes it five times (~0.4 ms each on a disk-backed /run)."""
    tmp = f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
    try:
        os.write(fd, jsonio.dumps(obj).encode())
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)


def open_container(root: str, container_id: str, lock: bool = False) -> Container:
    """Open an existing container's state; ContainerNotFound if there is none."""
    validate_id(container_id)
    try:
        dirfd = os.open(os.path.join(root, container_id), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise ContainerNotFound(container_id) from None
    c = Container(root, container_id, dirfd, {})
    try:
        if lock:
            c.lock()
        else:
            c.data = read_json(dirfd, STATE_FILE)
    except FileNotFoundError:
        c.close()
        raise ContainerNotFound(container_id) from None
    except BaseException:
        c.close()
        raise
    return c


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith("."))


def new_container(root: str, container_id: str, data: dict, config: dict) -> Container:
    """Make <root>/<id> holding state.json and config.json, locked, or raise ContainerExists.

    The directory is filled under a hidden temporary name and renamed into place: rename onto a
    non-empty directory fails, so exactly one of several concurrent creates wins.
    """
    validate_id(container_id)
    os.makedirs(root, mode=0o700, exist_ok=True)
    final = os.path.join(root, container_id)
    tmp = os.path.join(root, f".{container_id}.creating.{os.getpid()}")
    os.mkdir(tmp, 0o700)
    dirfd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    os.fchmod(dirfd, 0o711)  # modes set explicitly: the caller's umask must not change them
    fcntl.flock(dirfd, fcntl.LOCK_EX)
    c = Container(root, container_id, dirfd, data)
    try:
        write_json_atomic(dirfd, CONFIG_FILE, config)
        c.save()
        os.mkfifo(EXEC_FIFO, 0o600, dir_fd=dirfd)
        os.chmod(EXEC_FIFO, 0o622, dir_fd=dirfd)
        try:
            os.rename(tmp, final)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise ContainerExists(container_id) from None
            raise
    except BaseException:
        for name in os.listdir(dirfd):
            os.unlink(name, dir_fd=dirfd)
        os.rmdir(tmp)
        os.close(dirfd)
        raise
    return c


def remove_abandoned(root: str, container_id: str) -> None:
    """Remove the hidden directories of creates of this id whose `create` process died before
    renaming them into place (a create killed at that step): they name no container."""
    prefix = f".{container_id}.creating."
    for name in list_hidden(root, prefix):
        pid = name[len(prefix):]
        if pid.isdigit() and proc_start_time(int(pid)) is None:
            path = os.path.join(root, name)
            for entry in os.listdir(path):
                os.unlink(os.path.join(path, entry))
            os.rmdir(path)


def list_hidden(root: str, prefix: str) -> list[str]:
    try:
        return [n for n in os.listdir(root) if n.startswith(prefix)]
    except FileNotFoundError:
        return []
