"""The three processes of `create`, in the order of runtime.md's lifecycle.

parent (the `create` command)  starts ->  intermediate  forks ->  init
- intermediate: a sealed interpreter (sealed.py), started as soon as the command
  begins so that its start-up overlaps the parent's work. It gets its orders (the config, the
  options, the fds it needs), joins the container's cgroup (moving itself, see
  intermediate.join_cgroup, or moved by the parent before the orders), joins the namespaces
  given by path, creates a user namespace (the parent writes its uid/gid maps), then unshares
  the other new namespaces; because a new pid namespace applies to children only, it forks
  init (in the cgroup: it inherits it, or is born in it), reports init's pid and exits.
- init: pid 1 of the container. Builds the root filesystem; lets the parent run the prestart and
  createRuntime hooks, runs createContainer hooks itself, switches root, reports READY and blocks
  opening the exec fifo until `start`; then runs startContainer hooks, reports the outcome
  through the fifo, and execs the program.
- parent: a child subreaper, so init is re-parented to it when the intermediate exits and, when
  the parent itself exits, to the caller's subreaper (conmon, containerd's shim): the container
  ends up as the caller's child, as with runc.
Messages are JSON objects, one per line (atomic: under PIPE_BUF), child -> parent on `report`
(a pipe) and parent -> child on `control` (a socket: the orders carry fds, SCM_RIGHTS). `exec`
has the same shape: parent -> intermediate (joins the init's namespaces) -> the new process.

This module is the parent's side and the protocol; intermediate.py is what runs in the sealed
interpreter (the intermediate, and the init or exec's process it forks), so that the command itself
does not import the appliers only those need.
"""
from __future__ import annotations

import _signal as signal  # the signal module builds enums at import (~3 ms); the numbers are all we need
import os

from . import faults, hooks, jsonio, sealed
from .appliers import cpuaffinity, namespaces
from .errors import OCIError, StartError, describe
from .model import Spec

# child -> parent
MSG_USERNS = "userns"  # intermediate: it is in its new user namespace; write the id maps
MSG_INIT_PID = "init-pid"  # intermediate: {"pid": <init pid in the parent's pid namespace>}
MSG_RUNTIME_HOOKS = "runtime-hooks"  # init: environment made; move netDevices, run prestart + createRuntime hooks
MSG_READY = "ready"  # init: the container is created, init waits on the exec fifo
MSG_ERROR = "error"  # any child: {"msg": <one-line error>}; the child then exits
# parent -> child
MSG_CONTINUE = "continue"  # the step the child waited for is done

START_OK = b"0"  # init -> `start` through the exec fifo: startContainer hooks ran, exec follows


class Options:
    """What `create` was asked for beyond config.json."""

    def __init__(self, container_id: str, bundle: str, fifo_fd: int, hook_state: dict,
                 no_pivot: bool = False, new_keyring: bool = True, preserve_fds: int = 0,
                 console: int | None = None) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.fifo_fd = fifo_fd  # O_PATH fd of exec.fifo, opened by the parent (init may not reach --root)
        self.hook_state = hook_state  # the state passed to hooks, less status and pid
        self.no_pivot = no_pivot
        self.new_keyring = new_keyring
        self.preserve_fds = preserve_fds
        self.console = console  # process.terminal: connected console socket, init sends the pty master on it
        self.idmapped: dict[int, int] = {}  # mounts index -> detached idmapped mount (appliers/idmap.py)
        self.cgroup = None  # the container's cgroup driver (oci_runtime.cgroups), when we move the intermediate
        self.cgroup_join: dict | None = None  # else its self_join(): the intermediate moves itself
        self.seccomp: dict | None = None  # the filter, compiled by us (appliers/seccomp.py compile_bpf)

    def orders(self) -> tuple[dict, list[int]]:
        """What the intermediate gets: these options as JSON, and the fds (sent with them)."""
        fds = [self.fifo_fd, *([self.console] if self.console is not None else []), *self.idmapped.values()]
        return {"role": "init", "container_id": self.container_id, "bundle": self.bundle,
                "hook_state": self.hook_state, "no_pivot": self.no_pivot, "new_keyring": self.new_keyring,
                "preserve_fds": self.preserve_fds, "console": self.console is not None,
                "idmapped": list(self.idmapped), "cgroup_join": self.cgroup_join, "seccomp": self.seccomp}, fds

    @classmethod
    def from_orders(cls, orders: dict, fds: list[int]) -> Options:
        fifo, *rest = fds
        console = rest.pop(0) if orders["console"] else None
        opts = cls(orders["container_id"], orders["bundle"], fifo, orders["hook_state"], orders["no_pivot"],
                   orders["new_keyring"], orders["preserve_fds"], console)
        opts.idmapped = dict(zip(orders["idmapped"], rest))
        opts.cgroup_join = orders["cgroup_join"]
        return opts


def send_message(fd: int, msg_type: str, **fields: object) -> None:
    """One JSON line, written at once (under PIPE_BUF: an error text is cut short, not the JSON)."""
    if isinstance(fields.get("msg"), str) and len(fields["msg"]) > 2000:
        fields["msg"] = fields["msg"][:2000] + "..."
    os.write(fd, jsonio.dumps({"type": msg_type, **fields}).encode() + b"\n")


def await_message(control: int, msg_type: str) -> None:
    """Block until the parent says the step is done (EOF: the parent died or gave up)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(control, 1)
        if not chunk:
            raise OCIError("the runtime's parent process went away")
        line += chunk
    if jsonio.loads(line)["type"] != msg_type:
        raise OCIError(f"unexpected message from the parent: {line!r}")


def spawn_init(spec: Spec, opts: Options, child: sealed.Intermediate) -> int:
    """Create the container's init process through the waiting intermediate (which has the config:
    sealed.Intermediate.send_config); returns its pid once it is READY."""
    orders, fds = opts.orders()
    child.start(opts.cgroup, orders, fds)
    faults.point("create:forked")
    intermediate, r, control_w = child.pid, child.report, child.control
    child.report = child.control = -1  # ours to close now
    init_pid = 0
    hooks_due = ready = False
    failure: OCIError | None = None
    try:
        with os.fdopen(r, "rb") as pipe:
            for line in pipe:
                msg = jsonio.loads(line)
                if msg["type"] == MSG_USERNS:
                    namespaces.write_id_maps(intermediate, spec)
                    send_message(control_w, MSG_CONTINUE)
                elif msg["type"] == MSG_INIT_PID:
                    init_pid = msg["pid"]
                    faults.point("create:init-pid")
                elif msg["type"] == MSG_RUNTIME_HOOKS:
                    hooks_due = True
                elif msg["type"] == MSG_READY:
                    ready = True
                else:  # read on to EOF: the intermediate may still have init's pid to tell
                    failure = failure or sealed.reported_error(msg)
                # init's messages may overtake the intermediate's: act once init's pid is known
                if hooks_due and init_pid:
                    hooks_due = False
                    if spec.linux.net_devices:  # the init has its network namespace, the program isn't running
                        _move_net_devices(spec.linux.net_devices, init_pid)
                    state = {**opts.hook_state, "status": "created", "pid": init_pid}
                    hooks.run("prestart", spec.hooks.prestart, state)
                    hooks.run("createRuntime", spec.hooks.create_runtime, state)
                    send_message(control_w, MSG_CONTINUE)
                if ready and init_pid:
                    break
            else:
                raise failure or StartError("unable to start container process: init exited before reporting")
    except BaseException:
        _reap_after_failure(intermediate, init_pid)
        raise
    finally:
        os.close(control_w)
    os.waitpid(intermediate, 0)
    return init_pid


def _move_net_devices(net_devices: dict, init_pid: int) -> None:
    from . import netdevices  # sockets and enums: only for the containers that need it

    fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        netdevices.move(net_devices, fd)
    finally:
        os.close(fd)


def _reap_after_failure(intermediate: int, pid: int) -> None:
    """A start that failed: reap the intermediate, then kill and reap the process it forked (if
    it said which), re-parented to us, the subreaper, once the intermediate is gone."""
    os.waitpid(intermediate, 0)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


NS_FILES = {"user": "user", "cgroup": "cgroup", "ipc": "ipc", "mount": "mnt", "network": "net", "pid": "pid",
            "time": "time", "uts": "uts"}


class ExecOptions:
    """What `exec` needs beyond the process: the init's namespaces, the cgroup, the fds."""

    def __init__(self, ns_fds: list[tuple[str, int]], cgroup=None, preserve_fds: int = 0,
                 console: int | None = None) -> None:
        self.ns_fds = ns_fds  # (namespace type, fd of /proc/<init>/ns/<x>), user first
        self.keyring: str | None = None  # the container id, unless it was created with --no-new-keyring
        self.cgroup = cgroup  # as Options.cgroup, cgroup_join and seccomp
        self.cgroup_join: dict | None = None
        self.seccomp: dict | None = None
        self.preserve_fds = preserve_fds
        self.console = console

    def orders(self) -> tuple[dict, list[int]]:
        """What the intermediate gets: these options as JSON, and the fds (sent with them)."""
        fds = [fd for _, fd in self.ns_fds] + ([self.console] if self.console is not None else [])
        return {"role": "exec", "namespaces": [t for t, _ in self.ns_fds], "keyring": self.keyring,
                "preserve_fds": self.preserve_fds, "console": self.console is not None,
                "cgroup_join": self.cgroup_join, "seccomp": self.seccomp}, fds

    @classmethod
    def from_orders(cls, orders: dict, fds: list[int]) -> ExecOptions:
        count = len(orders["namespaces"])
        console = fds[count] if orders["console"] else None
        opts = cls(list(zip(orders["namespaces"], fds[:count])), None, orders["preserve_fds"], console)
        opts.keyring = orders["keyring"]
        opts.cgroup_join = orders["cgroup_join"]
        return opts


ROOT_DIR = "root"  # in ExecOptions.ns_fds: the init's root directory, for containers without a mount namespace


def open_namespaces(spec: Spec, init_pid: int) -> list[tuple[str, int]]:
    """fds of the init's namespaces the container has (user first); the caller checks afterwards
    that init_pid is still the container's init (no pid reuse). Without a mount namespace, the
    init's root directory comes last, as ROOT_DIR: the new process chroots into it."""
    fds: list[tuple[str, int]] = []
    types = sorted({ns.type for ns in spec.linux.namespaces}, key=lambda t: t != "user")
    try:
        for ns_type in types:
            path = f"/proc/{init_pid}/ns/{NS_FILES[ns_type]}"
            try:
                fds.append((ns_type, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as e:
                raise OCIError(f"opening the container's {ns_type} namespace: {describe(e)}") from None
        if "mount" not in types:
            try:
                fds.append((ROOT_DIR, os.open(f"/proc/{init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)))
            except OSError as e:
                raise OCIError(f"opening the container's root directory: {describe(e)}") from None
    except BaseException:
        for _, fd in fds:
            os.close(fd)
        raise
    return fds


def spawn_exec(spec: Spec, opts: ExecOptions, child: sealed.Intermediate) -> int:
    """Start spec.process inside the container: parent -> intermediate (joins the cgroup and the
    init's namespaces, forks: a pid namespace applies to children) -> the process. Returns its
    pid once it has exec'd (the report pipe is close-on-exec) or raises StartError. We are a
    child subreaper, so the process is our child now and the caller's once we exit."""
    cpuaffinity.apply(spec.process, "initial", child.pid)  # until the intermediate is in the cgroup
    orders, fds = opts.orders()
    child.start(opts.cgroup, orders, fds)
    intermediate, r, control_w = child.pid, child.report, child.control
    child.report = child.control = -1  # ours to close now
    pid = 0
    failure: OCIError | None = None
    try:
        with os.fdopen(r, "rb") as pipe:
            for line in pipe:  # to EOF: the process closes its end when it execs (or dies)
                msg = jsonio.loads(line)
                if msg["type"] == MSG_INIT_PID:
                    pid = msg["pid"]
                elif msg["type"] == MSG_ERROR:
                    failure = failure or sealed.reported_error(msg)
        if failure is None and not pid:
            failure = StartError("unable to start container process: the process exited before reporting")
        if failure is not None:
            raise failure
    except BaseException:
        _reap_after_failure(intermediate, pid)
        raise
    finally:
        os.close(control_w)
    os.waitpid(intermediate, 0)
    return pid

