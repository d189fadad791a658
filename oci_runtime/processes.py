"""The three processes of `create`, in the order of runtime.md's lifecycle.

parent (the `create` command)  forks ->  intermediate  forks ->  init
- intermediate: enters the container's namespaces (joins, then unshare); because a new pid
  namespace applies to children only, it forks init, reports init's pid and exits.
- init: pid 1 of the container. Builds the root filesystem, reports READY, then blocks opening
  the exec fifo for writing until `start` opens it for reading, and finally execs the program.
- parent: a child subreaper, so init is re-parented to it when the intermediate exits and, when
  the parent itself exits, to the caller's subreaper (conmon, containerd's shim): the container
  ends up as the caller's child, as with runc.
Messages go child -> parent over one pipe, a JSON object per line (atomic: under PIPE_BUF).
"""
import json
import os
import signal
from typing import Callable, NoReturn

import prctl

from . import state as st
from .appliers import devices, hostname, keyring, mounts, namespaces, network, paths, process, rootfs, sysctl
from .errors import OCIError, StartError, describe
from .model import Spec

MSG_INIT_PID = "init-pid"  # intermediate -> parent: {"pid": <init pid in the parent's pid namespace>}
MSG_READY = "ready"  # init -> parent: the container is created, init waits on the exec fifo
MSG_ERROR = "error"  # any child -> parent: {"msg": <one-line error>}; the child then exits


class Options:
    """What `create` was asked for beyond config.json."""

    def __init__(self, container_id: str, state_dir: str, bundle: str, no_pivot: bool = False,
                 new_keyring: bool = True, preserve_fds: int = 0, parent_fds: tuple[int, ...] = ()) -> None:
        self.container_id = container_id
        self.new_keyring = new_keyring
        self.state_dir = state_dir
        self.parent_fds = parent_fds  # the parent's own fds (the state lock): closed in the children
        self.bundle = bundle
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds


def _send(fd: int, msg_type: str, **fields: object) -> None:
    data = json.dumps({"type": msg_type, **fields})
    os.write(fd, data[:3800].encode() + b"\n")


def _child(report: int, body: Callable[[], None]) -> NoReturn:
    """Run a forked child's body; any failure is reported as one line and the child exits."""
    code = 1
    try:
        body()
        code = 0
    except OCIError as e:
        _fail(report, str(e))
    except OSError as e:
        _fail(report, describe(e))
    except BaseException as e:  # a bug of ours: still one line, never a hang
        _fail(report, f"internal error: {type(e).__name__}: {e}")
    finally:
        os._exit(code)


def _fail(report: int, msg: str) -> None:
    """Report to the parent; after `start` the pipe is closed, so tell the container's stderr."""
    try:
        _send(report, MSG_ERROR, msg=msg)
    except OSError:
        os.write(2, f"oci-runtime: {msg}\n".encode())


def spawn_init(spec: Spec, opts: Options) -> int:
    """Create the container's init process; returns its pid once it is READY."""
    prctl.set_child_subreaper(True)
    r, w = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        for fd in (r, *opts.parent_fds):
            os.close(fd)
        _child(w, lambda: _intermediate(spec, opts, w))
    os.close(w)
    init_pid = 0
    try:
        with os.fdopen(r, "rb") as pipe:
            for line in pipe:
                msg = json.loads(line)
                if msg["type"] == MSG_INIT_PID:
                    init_pid = msg["pid"]
                elif msg["type"] == MSG_READY:
                    break
                else:
                    raise StartError(f"unable to start container process: {msg['msg']}")
            else:
                raise StartError("unable to start container process: init exited before reporting")
    except BaseException:
        os.waitpid(intermediate, 0)
        if init_pid:  # re-parented to us (the subreaper) now that the intermediate is gone
            os.kill(init_pid, signal.SIGKILL)
            os.waitpid(init_pid, 0)
        raise
    os.waitpid(intermediate, 0)
    return init_pid


def _intermediate(spec: Spec, opts: Options, report: int) -> None:
    namespaces.apply(spec)
    pid = os.fork()
    if pid == 0:
        _child(report, lambda: _init(spec, opts, report))
    _send(report, MSG_INIT_PID, pid=pid)


def _init(spec: Spec, opts: Options, report: int) -> None:
    own = {ns.type for ns in spec.linux.namespaces}
    os.setsid()
    os.umask(0)
    keyring.apply(opts.container_id, opts.new_keyring)
    network.apply("network" in own and not spec.linux.namespace("network").path)
    rootfd = rootfs.prepare(spec, "mount" in own)
    mounts.apply(spec, rootfd, opts.bundle)
    devices.apply(spec, rootfd)
    sysctl.apply(spec)
    paths.apply(spec, rootfd)
    hostname.apply(spec, "uts" in own)
    process.make_cwd(spec.process, rootfd)
    # Taken before the root switch: the fifo lives in the host's state dir, reopened via host /proc.
    fifo = os.open(os.path.join(opts.state_dir, st.EXEC_FIFO), os.O_PATH | os.O_CLOEXEC)
    proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    rootfs.enter(spec, rootfd, "mount" in own, opts.no_pivot)
    os.close(rootfd)
    rootfs.finish(spec)
    prepared = process.prepare(spec.process)
    _send(report, MSG_READY)
    # Blocks until `start` opens the fifo for reading.
    w = os.open(f"self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=proc)
    os.write(w, b"0")
    for fd in (w, fifo, proc, report):
        os.close(fd)
    process.execute(spec, prepared, opts.preserve_fds)
