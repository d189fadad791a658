"""What runs in the sealed interpreter (sealed.py): the intermediate process of `create` and
`exec`, and the processes it forks into the container, the init and exec's new process. The
parent's side, the lifecycle and the messages are in processes.py.

Everything these processes import must be imported before the root switch (the host's files are
out of reach afterwards): this module imports its appliers up front, and _preload() the few that
are imported lazily elsewhere.
"""
from __future__ import annotations

import _socket  # the socket module costs ~3 ms at import; recvmsg is all we need
import errno
import fcntl
import os
import struct

import _prctl as prctl  # python-prctl's C module: its Python wrapper costs ~1 ms at import

from . import faults, fs, hooks, jsonio, log, sealed
from . import syscalls as sc
from .appliers import (
    cpuaffinity,
    devices,
    hostname,
    keyring,
    mounts,
    namespaces,
    network,
    paths,
    process,
    rootfs,
    seccomp,
    sysctl,
)
from .errors import ConfigError, HookError, OCIError, describe
from .model import Spec, evolve, load_spec
from .processes import (
    MSG_CONTINUE,
    MSG_ERROR,
    MSG_INIT_PID,
    MSG_READY,
    MSG_RUNTIME_HOOKS,
    MSG_USERNS,
    ROOT_DIR,
    START_OK,
    ExecOptions,
    Options,
    await_message,
    send_message,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of every `create`)
if TYPE_CHECKING:
    from typing import Callable, NoReturn


def _child(report: int, body: Callable[[], None]) -> NoReturn:
    """Run a forked child's body; any failure is reported as one line and the child exits."""
    code = 1
    try:
        body()
        code = 0
    except OCIError as e:
        _fail(report, str(e), hook=isinstance(e, HookError), config=isinstance(e, ConfigError))
    except OSError as e:
        _fail(report, describe(e))
    except BaseException as e:  # a bug of ours: still one line, never a hang
        _fail(report, f"internal error: {type(e).__name__}: {e}")
    finally:
        os._exit(code)


def _fail(report: int, msg: str, hook: bool = False, config: bool = False) -> None:
    """Report to the parent; after `start` nobody reads the pipe, so tell the container's stderr."""
    try:
        send_message(report, MSG_ERROR, msg=msg, hook=hook, config=config)
    except OSError:
        os.write(2, f"oci-runtime: {msg}\n".encode())


def main(report: int, control: int) -> NoReturn:
    """Where the sealed interpreter starts (sealed.Intermediate): wait for the orders, then be the intermediate
    process of `create` or of `exec`. Its channel ends close when the init (or process) execs."""
    for fd in (report, control):
        os.set_inheritable(fd, False)
    _child(report, lambda: _follow_orders(report, control))


def _follow_orders(report: int, control: int) -> None:
    first = _receive_config(control)
    spec = load_spec(first["config"], first["bundle"])
    spec = evolve(spec, process=evolve(spec.process, env=first["env"]))  # as the parent changed it
    orders, fds = _receive_orders(control)
    close_leaked_fds(3 + orders["preserve_fds"])  # see sealed.spawn: before anything else
    seccomp.adopt(orders["seccomp"])
    settings = orders["log"]
    log.adopt(fds.pop(0) if settings["file"] else 2, settings["json"], settings["debug"])
    _preload(spec, orders["console"])
    if orders["role"] == "init":
        _intermediate(spec, Options.from_orders(orders, fds), report, control)
    else:
        _exec_intermediate(spec, ExecOptions.from_orders(orders, fds), report, control)


def _preload(spec: Spec, console: bool) -> None:
    """Import now, while the host's files are in reach, what the init or the exec'd process needs
    only after its root has changed (the imports that are lazy to keep `create` fast elsewhere)."""
    if console:
        from .appliers import terminal  # noqa: F401
    if spec.hooks.start_container or spec.hooks.create_container:
        import subprocess  # noqa: F401 (hooks.run_one)


def close_leaked_fds(floor: int) -> None:
    """Close the fds from `floor` up that are not close-on-exec. Ours all are (PEP 446, O_CLOEXEC), so
    these are fds the command's caller leaked to it (containerd's listening socket on fd 3...): not
    even the waiting init may hold one, or a container process with CAP_SYS_PTRACE could read it
    through /proc/<init>/fd."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd >= floor and not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                os.close(fd)
        except OSError:  # the listing's own fd, gone by now
            pass


MAX_FDS = 253  # SCM_MAX_FD: the most fds one message carries


def _receive_config(control: int) -> dict:
    """The first message (sealed.Intermediate.send_config): its length on a line, then the JSON."""
    head = b""
    while not head.endswith(b"\n"):
        byte = os.read(control, 1)
        if not byte:  # the command ended (failed, or was killed) before: nothing was started
            os._exit(1)
        head += byte
    size = int(head)
    data = b""
    while len(data) < size:
        chunk = os.read(control, size - len(data))
        if not chunk:
            os._exit(1)
        data += chunk
    message = jsonio.loads(data)
    if message.get("type") != sealed.CONFIG:
        raise OCIError(f"unexpected message from the parent: {data[:100]!r}")
    return message


def _receive_orders(control: int) -> tuple[dict, list[int]]:
    """The orders line and the fds sent with its first bytes (close-on-exec)."""
    sock = _socket.socket(fileno=control)
    try:
        data, ancillary, flags, _ = sock.recvmsg(1 << 16, _socket.CMSG_SPACE(4 * MAX_FDS), _socket.MSG_CMSG_CLOEXEC)
    finally:
        sock.detach()
    if not data:  # the command ended (failed, or was killed) before it gave orders: nothing was started
        os._exit(1)
    fds = [fd for level, kind, payload in ancillary if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
           for fd in struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4])]
    if flags & _socket.MSG_CTRUNC:
        raise OCIError("the runtime's orders came without all their fds")
    while not data.endswith(b"\n"):
        chunk = os.read(control, 1 << 16)
        if not chunk:
            raise OCIError("the runtime's parent process went away in the middle of its orders")
        data += chunk
    orders = jsonio.loads(data)
    if orders.get("type") != sealed.ORDERS:
        raise OCIError(f"unexpected message from the parent: {data[:100]!r}")
    return orders, fds


def _terminal():
    """appliers.terminal, imported only for a process.terminal container (sockets, termios, select)."""
    from .appliers import terminal

    return terminal


def _open_exec_fifo(fifo_path_fd: int, host_proc: int) -> int:
    """Reopen the O_PATH fifo fd for writing; check it is the same fifo (a rootfs could plant a
    fake /proc/self/fd/N: it would only fool its own container, but never unnoticed)."""
    if host_proc >= 0:
        fd = os.open(f"self/fd/{fifo_path_fd}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=host_proc)
    else:
        fd = os.open(f"/proc/self/fd/{fifo_path_fd}", os.O_WRONLY | os.O_CLOEXEC)
    want, got = os.fstat(fifo_path_fd), os.fstat(fd)
    if (want.st_dev, want.st_ino) != (got.st_dev, got.st_ino):
        os.close(fd)
        raise OCIError("the container's /proc/self/fd does not lead to the exec fifo: is /proc a real procfs?")
    return fd


def join_cgroup(join: dict | None) -> int:
    """Move ourselves into the container's cgroup as the command asked (the driver's self_join()),
    first thing, while we are still the host's root in the host's namespaces. A process moved by
    another (cgroup.procs) waits for the global migration lock, whose first writer after a quiet
    spell waits for an RCU grace period (7-17 ms here, the longest wait of a `create`): writing "0"
    into a v1 `tasks` file moves only the writing thread, which skips that lock (we are single-
    threaded: it moves the process), and a cgroup2 directory is where our child is born
    (fork_in). Returns the cgroup2 directory's fd for fork_in, or -1."""
    if join is None:
        return -1
    for path in join["tasks"]:
        try:
            _move_self(path)
        except OSError as e:
            raise OCIError(f"cgroups: joining {describe(e)}") from None
    if join["cgroup2"] is None:
        return -1
    try:
        return os.open(join["cgroup2"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise OCIError(f"cgroups: joining {describe(e)}") from None


def _move_self(path: str, dir_fd: int | None = None) -> None:
    """Write "0", the writer itself, into a cgroup's `tasks` or `cgroup.procs` file."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)


def fork_in(cgroup2: int) -> int:
    """os.fork(), the child born in the cgroup2 directory open at cgroup2 (if >= 0), which both
    processes then close. Without clone3 (before Linux 5.7, or refused by a seccomp filter around
    us) we join it through cgroup.procs first: slower, the same result."""
    if cgroup2 < 0:
        return os.fork()
    try:
        try:
            return sc.fork_into_cgroup(cgroup2)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG):
                raise OCIError(f"cgroups: starting a process in the container's cgroup2 cgroup: {describe(e)}") from None
        try:
            _move_self("cgroup.procs", cgroup2)
        except OSError as e:
            raise OCIError(f"cgroups: joining the container's cgroup2 cgroup: {describe(e)}") from None
        return os.fork()
    finally:
        os.close(cgroup2)


def _intermediate(spec: Spec, opts: Options, report: int, control: int) -> None:
    cgroup2 = join_cgroup(opts.cgroup_join)
    namespaces.join(spec)
    if namespaces.creates_user_namespace(spec):
        namespaces.unshare_user()
        send_message(report, MSG_USERNS)
        await_message(control, MSG_CONTINUE)
    if namespaces.in_user_namespace(spec):  # made or joined: files we create need a mapped owner
        namespaces.become_root()
    namespaces.unshare_others(spec)
    pid = fork_in(cgroup2)
    if pid == 0:
        _child(report, lambda: _init(spec, opts, report, control))
    send_message(report, MSG_INIT_PID, pid=pid)


def _init(spec: Spec, opts: Options, report: int, control: int) -> None:
    # Non-dumpable from the start (CVE-2019-5736): no container process may reach our /proc/<pid>/exe
    # (the host's interpreter) or fds; the kernel makes the program dumpable again at its execve.
    prctl.prctl(prctl.PR_SET_DUMPABLE, 0)
    own = {ns.type for ns in spec.linux.namespaces}
    os.setsid()
    os.umask(0)
    faults.point("init:namespaces")
    keyring.apply(opts.container_id, opts.new_keyring)
    network.apply("network" in own and not spec.linux.namespace("network").path)
    rootfd = rootfs.prepare(spec, "mount" in own)
    mounts.apply(spec, rootfd, opts.bundle, opts.idmapped)
    devices.apply(spec, rootfd, namespaces.in_user_namespace(spec))
    sysctl.apply(spec)
    paths.apply(spec, rootfd)
    hostname.apply(spec, "uts" in own)
    process.make_cwd(spec.process, rootfd)
    faults.point("init:mounts")
    if spec.hooks.prestart or spec.hooks.create_runtime or spec.linux.net_devices:
        send_message(report, MSG_RUNTIME_HOOKS)
        await_message(control, MSG_CONTINUE)
    # pid "as seen by the container" for hooks run in its namespaces (runtime.md, State)
    hooks.run("createContainer", spec.hooks.create_container, {**opts.hook_state, "status": "created", "pid": os.getpid()})
    # The exec fifo is reopened for writing through /proc/self/fd. The container's own /proc is
    # used when it has one: an fd of the host's /proc held while waiting for `start` would let a
    # container process with CAP_SYS_PTRACE reach the host through /proc/<init>/fd.
    has_proc = any(m.type == "proc" and fs.clean(m.destination) == "proc" for m in spec.mounts)
    host_proc = -1 if has_proc else os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    seccomp.connect_listener(spec, opts.container_id, opts.bundle)  # listenerPath is a host path
    rootfs.enter(spec, rootfd, "mount" in own, opts.no_pivot)
    os.close(rootfd)
    # Before root.readonly, as runc: /dev/console may have to be created in the rootfs.
    pty = _terminal().setup(spec.process, opts.console, "mount" in own) if opts.console is not None else None
    rootfs.finish(spec)
    prepared = process.prepare(spec)
    if pty is not None:  # now, not at exec: a client reading create's stdout/stderr to EOF (containerd's
        _terminal().attach(pty, spec.process.user.uid)  # shim) would otherwise wait for `start`
    faults.point("init:ready")
    send_message(report, MSG_READY)
    fifo = _open_exec_fifo(opts.fifo_fd, host_proc)  # blocks until `start` opens it for reading
    for fd in (host_proc, opts.fifo_fd):
        if fd >= 0:
            os.close(fd)
    try:
        hooks.run("startContainer", spec.hooks.start_container,
                  {**opts.hook_state, "status": "created", "pid": os.getpid()})
    except OCIError as e:
        os.write(fifo, str(e).encode())  # `start` reports it
        raise
    os.write(fifo, START_OK)
    # The fifo stays open (close-on-exec) until the program is exec'd: `start` returns, and runs
    # the poststart hooks, only then (config.md: "after the user-specified process is executed").
    # A failure on the way is written after START_OK for `start` to report.
    try:
        process.close_fds_on_exec(opts.preserve_fds)  # before seccomp: close_range may be filtered
        seccomp.apply(spec, late=False)  # without noNewPrivileges: while still privileged, as runc
        process.execute(spec, prepared)
    except (OCIError, OSError) as e:
        os.write(fifo, (str(e) if isinstance(e, OCIError) else describe(e)).encode())
        raise


# --- exec: a new process in a running (or created) container --------------------------------


def _exec_intermediate(spec: Spec, opts: ExecOptions, report: int, control: int) -> None:
    cgroup2 = join_cgroup(opts.cgroup_join)
    for ns_type, fd in opts.ns_fds:
        if ns_type == ROOT_DIR:  # no mount namespace: the container's root is the init's chroot
            os.fchdir(fd)
            os.chroot(".")
            os.close(fd)
            continue
        try:
            sc.setns(fd, namespaces.FLAGS[ns_type])
        except OSError as e:
            raise OCIError(f"joining the container's {ns_type} namespace: {describe(e)}") from None
        os.close(fd)
        if ns_type == "user":
            namespaces.become_root()
    # setns(mount) made the namespace's root (the container's rootfs) our root and cwd
    pid = fork_in(cgroup2)
    if pid == 0:
        _child(report, lambda: _exec_process(spec, opts, report))
    send_message(report, MSG_INIT_PID, pid=pid)


def _exec_process(spec: Spec, opts: ExecOptions, report: int) -> None:
    prctl.prctl(prctl.PR_SET_DUMPABLE, 0)  # as init: no container process may reach our fds or exe until exec
    cpuaffinity.apply(spec.process, "final")  # in every cgroup of the container now (a cpuset resets it)
    os.setsid()
    if opts.keyring is not None:  # as runc: a session keyring named for the container, never the caller's
        keyring.apply(opts.keyring, True)
    pty = _terminal().setup(spec.process, opts.console, False) if opts.console is not None else None
    prepared = process.prepare(spec)  # cwd and program resolved inside the container
    if pty is not None:
        _terminal().attach(pty, spec.process.user.uid)
    process.close_fds_on_exec(opts.preserve_fds)  # before seccomp: close_range may be filtered
    seccomp.apply(spec, late=False)
    process.execute(spec, prepared)
