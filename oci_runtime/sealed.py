"""Start the process that enters a container from a sealed interpreter (the CVE-2019-5736 class).

The container's init, and each process `exec` adds, is Python until it execs the program, so its
/proc/<pid>/exe would be the host's interpreter: a container process allowed to follow it
(CAP_SYS_PTRACE without a user namespace passes the non-dumpable check) could keep it open and
overwrite the host's Python once nothing executes it. As runc does with its own binary, that
process is exec'd from a sealed view of the interpreter binary (interpreter_exe): /proc/<pid>/exe
then leads only to a file nobody can write. Libraries (libpython, extension modules) stay mapped
files, which /proc only exposes through map_files, to CAP_SYS_ADMIN in the host's user namespace.

Only those processes need it: the command itself stays in the host's namespaces, where no
container process can see it. So `create`, `run` and `exec` start the sealed interpreter first thing,
as the intermediate process (intermediate.py), before the command imports its command line
(early.py), and do their own work (reading the config, the state directory, the cgroup) while the
second interpreter starts up beside it. This module is the command's side of that hand-over, and
imports next to nothing, so that it starts as early as it can.
"""
import _signal as signal  # the signal module builds enums at import (~3 ms); the numbers are all we need
import _socket  # the socket module costs ~3 ms at import; socketpair, sendmsg are all we need
import fcntl
import posix  # os's C core: os itself costs ~1 ms at import (its environ mapping builds _collections_abc)
import sys

from . import syscalls as sc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from .errors import OCIError

CONFIG = "config"  # the first message: {"type": CONFIG, "config", "bundle", "env"}, sent as soon as it is checked
ORDERS = "orders"  # the second: {"type": ORDERS, "role": "init" | "exec", ...} and the fds the options name
MEMFD_NAME = "oci-runtime"
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class Intermediate:
    """The intermediate process of create or exec (intermediate.py), a sealed interpreter started
    before the command does anything else, waiting for its orders."""

    def __init__(self) -> None:
        self.pid, self.report, self.control = spawn("oci_runtime.intermediate:main")
        self.started = False

    def send_config(self, config: dict, bundle: str, env: list[str]) -> None:
        """The validated config (and process.env as the command changed it), as early as possible:
        the intermediate models it while we work on.
        Length-prefixed, so that its reader never reads into the orders and their fds."""
        from . import jsonio

        data = jsonio.dumps({"type": CONFIG, "config": config, "bundle": bundle, "env": env}).encode()
        try:
            posix.write(self.control, b"%d\n" % len(data))
            view = memoryview(data)
            while view:
                view = view[posix.write(self.control, view):]
        except OSError:  # it is gone: start() says why
            pass

    def start(self, cgroup, orders: dict, fds: list[int]) -> None:
        """Put it in the container's cgroup when we are to (cgroup is not None; else the orders
        tell it to move itself, see intermediate.join_cgroup) before it does anything (its children
        inherit the cgroup), then send its orders and the fds they name, with our log settings and
        fd. We are a child subreaper from now on: the init (or the exec'd process) comes back to us
        when the intermediate exits, and to our caller's subreaper (conmon, containerd's shim) after us."""
        import struct

        import _prctl  # python-prctl's C module

        from . import jsonio, log

        _prctl.prctl(_prctl.PR_SET_CHILD_SUBREAPER, 1)
        log_fd, log_json, log_debug = log.settings()
        log_file = [log_fd] if log_fd != 2 else []
        orders = {**orders, "log": {"file": bool(log_file), "json": log_json, "debug": log_debug}}
        fds = [*log_file, *fds]
        try:
            if cgroup is not None:
                cgroup.add(self.pid)
            data = jsonio.dumps({"type": ORDERS, **orders}).encode() + b"\n"
            sock = _socket.socket(fileno=self.control)
            try:
                rights = struct.pack(f"{len(fds)}i", *fds)
                sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
                if sent < len(data):  # (never sendall(b""): it still sends, and the child may be gone)
                    sock.sendall(data[sent:])
            finally:
                sock.detach()
        except OSError:  # it has exited (a config it refused): its report says why
            reason = self._exit_reason()
            self.abandon()
            if reason is None:
                raise
            raise reason from None
        except BaseException:
            self.abandon()
            raise
        self.started = True

    def _exit_reason(self) -> "OCIError | None":
        """The error the intermediate reported before exiting, if it has exited."""
        from . import jsonio

        if posix.waitpid(self.pid, posix.WNOHANG) == (0, 0):
            return None
        self.pid = 0
        data = b""
        while chunk := posix.read(self.report, 65536):
            data += chunk
        for line in data.splitlines():
            msg = jsonio.loads(line)
            if msg.get("type") == "error":
                return reported_error(msg)
        return None

    def abandon(self) -> None:
        """The command failed before the intermediate got its orders: end and reap it (once)."""
        if not self.started and self.pid:
            posix.kill(self.pid, signal.SIGKILL)
            posix.waitpid(self.pid, 0)
            self.pid = 0
        self.close()

    def close(self) -> None:
        for fd in (self.report, self.control):
            if fd >= 0:
                posix.close(fd)
        self.report = self.control = -1


def reported_error(msg: dict) -> "OCIError":
    """The error a child of ours reported (intermediate._fail): the config's (a ConfigError in the
    child), a hook's, or one of starting the container's process."""
    from .errors import ConfigError, HookError, StartError

    if msg.get("config"):
        return ConfigError(msg["msg"])
    error = HookError if msg.get("hook") else StartError
    return error(f"unable to start container process: {msg['msg']}")


def interpreter_exe() -> int:
    """An fd (close-on-exec) to exec our interpreter binary from, through which nobody can write it.

    First choice, as runc 1.2: the binary seen through a private overlayfs of its own directory over
    an empty one (two lower layers, no upper one: overlayfs then refuses every write, and no remount
    can add an upper layer), mounted detached (no path leads to it). Nothing is copied: its pages
    stay the host file's. The empty layer is a detached tmpfs, reached through /proc/self/fd: nothing
    is made on disk. Where that is refused (no overlayfs, no new mount API, a user namespace), a
    sealed memfd copy (~7 MB for a static build of Python)."""
    try:
        return _overlay_exe()
    except OSError:
        return interpreter_copy()


def _overlay_exe() -> int:
    directory, name = _binary().rpartition("/")[::2]
    empty = _detached_mount("tmpfs", sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV, [])
    try:  # the binary's directory on top: a file of the same name below can't hide it
        mount = _detached_mount("overlay", sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV, [
            ("lowerdir", f"{_escape_layer(directory)}:/proc/self/fd/{empty}", True),
            ("xino", "off", False),  # layers on two filesystems: no inode number remapping (nor its log lines)
        ])
    finally:
        posix.close(empty)  # the overlay holds its layers
    try:
        return posix.open(name, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_CLOEXEC, dir_fd=mount)
    finally:
        posix.close(mount)


def _binary() -> str:
    """The path of the interpreter binary running us (os.path.realpath(sys.executable) without
    importing os.path). Replaced on disk since we started, it ends in " (deleted)": the overlay
    then finds nothing and the memfd copy is made from the binary we run."""
    return posix.readlink("/proc/self/exe")


def _detached_mount(fstype: str, attrs: int, options: list[tuple[str, str, bool]]) -> int:
    """A new filesystem mounted nowhere (fsopen, fsmount): its root's fd, close-on-exec.
    options: (key, value, required); a kernel that refuses an optional one goes without."""
    context = sc.fsopen(fstype)
    try:
        for key, value, required in options:
            try:
                sc.fsconfig(context, key, value)
            except OSError:
                if required:
                    raise
        sc.fsconfig_create(context)
        return sc.fsmount(context, attrs)
    finally:
        posix.close(context)


def _escape_layer(path: str) -> str:
    """A path in overlayfs' lowerdir list, where `:` separates layers and `\\` escapes."""
    return path.replace("\\", "\\\\").replace(":", "\\:")


def interpreter_copy() -> int:
    """A sealed memfd holding a copy of our interpreter binary (close-on-exec)."""
    fd = posix.memfd_create(MEMFD_NAME, posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING)
    try:
        src = posix.open("/proc/self/exe", posix.O_RDONLY | posix.O_CLOEXEC)  # ours, even if replaced on disk
        try:
            while posix.sendfile(fd, src, None, 1 << 24):
                pass
        finally:
            posix.close(src)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    except BaseException:
        posix.close(fd)
        raise
    return fd


def argv(call: str) -> list[str]:
    """The copy's command line, running `call` (Python code, after the imports it names).

    -I -S: it starts faster (no site: the module path site computed here is handed over as it is;
    no PYTHON* variables, no user site, no script directory or cwd on the path); -X options (as
    importtime) are kept. Our own arguments follow, unused, so that the process shows what it is
    working on. argv[0] stays the original interpreter path: Python finds its prefix (and venv)
    from it. The cyclic garbage collector is off: these processes end, or exec the program, within
    milliseconds (the init waiting for `start` allocates nothing), and its passes over the objects
    their imports make cost ~0.8 ms of every create."""
    path = sys.path if sys.flags.safe_path else sys.path[1:]  # [0]: the script's directory or cwd
    xoptions = [f"-X{k}" if v is True else f"-X{k}={v}" for k, v in sys._xoptions.items()]
    return [sys.executable, *xoptions, "-I", "-S", "-c",
            f"import gc; gc.disable(); import sys; sys.path[:] = {path!r}; {call}", *sys.argv[1:]]


def spawn(entry: str) -> tuple[int, int, int]:
    """Start `python -c "from <module> import <function>; <function>(report, control)"` from a sealed
    view of the interpreter (interpreter_exe), as our child; returns (its pid, our end of its report
    pipe, our end of its control socket).

    It inherits the environment the command started with (posix.environ: nothing of ours changes
    it), fds 0-2, its two channel ends and whatever our caller passed us without
    close-on-exec: the fds to preserve (--preserve-fds, LISTEN_FDS), which we may not know yet, and
    any it leaked. The intermediate closes the leaked ones (intermediate.close_leaked_fds) as soon
    as its orders say how many are preserved, before anything else. Every fd we open ourselves is close-on-exec
    (PEP 446, O_CLOEXEC). posix_spawn (vfork), not fork: copying this process's page tables costs
    ~1 ms, all of it before the sealed interpreter can start."""
    from .errors import StartError, describe

    module, function = entry.split(":")
    report_r, report_w = (_above_stdio(fd) for fd in posix.pipe())
    ours, theirs = (_above_stdio(s.detach()) for s in _socket.socketpair(
        _socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC))
    try:
        exe = interpreter_exe()
        try:
            for fd in (report_w, theirs):  # ours are closed right after the spawn
                posix.set_inheritable(fd, True)
            command = argv(f"from {module} import {function}; {function}({report_w}, {theirs})")
            pid = posix.posix_spawn(f"/proc/self/fd/{exe}", command, posix.environ)
        finally:
            posix.close(exe)
    except OSError as e:
        for fd in (report_r, report_w, ours, theirs):
            posix.close(fd)
        raise StartError(f"unable to start container process: starting the sealed interpreter: {describe(e)}") from None
    for fd in (report_w, theirs):
        posix.close(fd)
    return pid, report_r, ours


def _above_stdio(fd: int) -> int:
    """Move fd above 0-2: when our caller closed one of those, a channel must not become the
    stdin, stdout or stderr that the container's process inherits."""
    if fd > 2:
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    posix.close(fd)
    return high
