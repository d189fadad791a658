"""The runtime's operations (runtime.md "Operations", plus runc's list/run): the library API.

Nothing here prints. Hot commands (state, start, kill, delete, list) import only the standard
library; create pulls in validation, the model and the appliers when it runs.
"""
import _signal as signal  # the signal module builds enums at import (~3 ms); the numbers are all we need
import os
import select
import time

from . import faults
from . import state as st
from .errors import ContainerNotFound, HookError, InvalidState, OCIError, describe

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

    from .model import Spec

SIGNAL_MAX = 64  # SIGRTMAX on Linux
SIGNALS = {name: value for name, value in vars(signal).items()
           if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(value, int)}


def parse_signal(text: str) -> int:
    """A signal as runc takes it: a number, `KILL` or `SIGKILL` (any case)."""
    if text.isascii() and text.isdigit():
        if not 0 < int(text) <= SIGNAL_MAX:
            raise OCIError(f'unknown signal "{text}"')
        return int(text)
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name not in SIGNALS:
        raise OCIError(f'unknown signal "{text}"')
    return SIGNALS[name]


STOP_SIGNAL = "org.opencontainers.image.stopSignal"


def _stop_signal(annotations: dict[str, str]) -> int | None:
    """The stopSignal annotation as a number, checked at create (config.md: its value MUST be a
    valid signal) so that `kill` without a signal can use it."""
    if STOP_SIGNAL not in annotations:
        return None
    try:
        return parse_signal(annotations[STOP_SIGNAL])
    except OCIError as e:
        raise OCIError(f"config.json: annotations[{STOP_SIGNAL!r}]: {e}") from None


def _check_terminal(terminal: bool, console_socket: str | None, detached: bool) -> None:
    if terminal or console_socket:  # appliers.terminal imports socket, termios, tty: only for those
        from .appliers import terminal as applier

        applier.check(terminal, console_socket, detached)


def create(root: str, container_id: str, bundle: str, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False, no_new_keyring: bool = False,
           preserve_fds: int = 0, foreground: bool = False, systemd_cgroup: bool = False) -> tuple[int, int | None]:
    """Build the container up to its program, leaving init blocked on the exec fifo. Returns the
    init's pid and, with foreground (for `run` without --detach) and process.terminal and no
    console_socket, the pty master (the caller proxies it), else None."""
    listen_fds = _listen_fds()
    with _Launch() as launch:
        return _create(root, container_id, bundle, launch, listen_fds, pid_file, console_socket, no_pivot,
                       no_new_keyring, preserve_fds, foreground, systemd_cgroup)


class _Launch:
    """What create and exec start early, to run beside their own work: the intermediate (the one
    the command's script started, early.py), and when we are to move it into the cgroup, the
    migration lock's warm-up child (plan_cgroup). On the way out, whatever happened, both are gone."""

    def __init__(self) -> None:
        from . import early

        self.intermediate = early.take()
        self.self_joining = True
        self.cgroups_warm: "Callable[[], None]" = lambda: None  # reaps the warm-up child, if any

    def plan_cgroup(self, spec: "Spec") -> None:
        """Whether the intermediate moves itself into the container's cgroup (intermediate.join_cgroup:
        no wait for the global migration lock) or is moved by us (cgroup.add), the lock then warmed
        up from now. It can't move itself when it enters a user namespace (the host's cgroupfs would
        refuse its writes) or a cgroup namespace (whose root must be the container's cgroup in every
        hierarchy, while its own cgroup2 cgroup stays ours: only its child is born in the container's)."""
        self.self_joining = not {ns.type for ns in spec.linux.namespaces} & {"user", "cgroup"}
        if not self.self_joining:
            from . import cgroups

            self.cgroups_warm = cgroups.warm_up_migration()

    def hand_over_cgroup(self, opts, cgroup) -> None:
        """Tell the intermediate (Options, ExecOptions) how it gets into the container's cgroup, if
        there is one: it moves itself (the driver's self_join()), or we move it (the driver)."""
        if cgroup is None:
            return
        if self.self_joining:
            opts.cgroup_join = cgroup.self_join()
        else:
            opts.cgroup = cgroup

    def __enter__(self) -> "_Launch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.intermediate.abandon()  # gone once it has its orders; if it never got them, now
        self.cgroups_warm()  # reaped already unless the command failed early


def _listen_fds() -> int:
    """systemd socket activation, as runc: when LISTEN_FDS/LISTEN_PID name fds passed to us, they
    go to the container as fds 3.., before the --preserve-fds ones (appliers/process.py)."""
    try:
        return int(os.environ.get("LISTEN_FDS", "0")) if int(os.environ.get("LISTEN_PID", "0")) == os.getpid() else 0
    except ValueError:
        return 0


def _create(root: str, container_id: str, bundle: str, launch: _Launch, listen_fds: int, pid_file: str | None,
            console_socket: str | None, no_pivot: bool, no_new_keyring: bool, preserve_fds: int, foreground: bool,
            systemd_cgroup: bool) -> tuple[int, int | None]:
    from . import cgroups, model, processes, validate
    from .appliers import (
        capabilities,
        idmap,
        iopriority,
        lsm,
        memorypolicy,
        process,
        rlimits,
        scheduler,
        seccomp,
        sysctl,
    )

    st.validate_id(container_id)
    bundle = os.path.abspath(bundle)
    config = validate.load_config(bundle)
    validate.validate_config(config)
    spec = model.load_spec(config, bundle)
    launch.plan_cgroup(spec)
    # What the schema can't express fails here, naming the field; capabilities only warn: last.
    for section in (rlimits, scheduler, iopriority, lsm, sysctl, capabilities, memorypolicy):
        section.check(spec)  # seccomp: compiled below, a ConfigError if refused
    if spec.linux.net_devices:  # netdevices imports socket, enum, typing: only when needed
        from . import netdevices

        netdevices.check(spec.linux.net_devices, any(ns.type == "network" for ns in spec.linux.namespaces))
    rdt = None
    if spec.linux.intel_rdt is not None:  # without it, resctrl is never looked at (config-linux.md)
        from .intelrdt import IntelRdt

        rdt = IntelRdt.from_config(spec.linux.intel_rdt, container_id)
    spec = process.socket_activation(spec, listen_fds)
    if not os.path.isdir(spec.root.path):
        raise OCIError(f"root.path: {spec.root.path}: no such directory")
    _check_terminal(spec.process.terminal, console_socket, not foreground)
    launch.intermediate.send_config(config, bundle, spec.process.env)
    # while the intermediate models the config:
    compiled_seccomp = seccomp.compile_bpf(spec, os.path.join(root, seccomp.CACHE_DIR))
    data = {
        "pid": 0,
        "init_start_time": None,
        "creator_pid": os.getpid(),
        "creator_start_time": st.proc_start_time(os.getpid()),
        "bundle": bundle,
        "rootfs": spec.root.path,
        "created": st.now_rfc3339nano(),
        "annotations": spec.annotations,
        "no_new_keyring": no_new_keyring,  # exec joins the container's session keyring unless set
        "stop_signal": _stop_signal(spec.annotations),
        # what start and delete need from the config, without reading the model
        "hooks": {k: v for k, v in config.get("hooks", {}).items() if k in ("poststart", "poststop")},
    }
    cgroup = cgroups.new_driver(spec.linux.cgroups_path, container_id, systemd_cgroup)
    # what `delete` needs: the driver, its paths and the directories it will make, saved before
    # they exist (a create killed while making them leaves nothing delete --force can't find)
    data["cgroup"] = {**cgroup.to_state(), "created": cgroup.missing()}
    c = st.new_container(root, container_id, data, config)
    faults.point("create:state-dir")
    pid = 0
    fifo = -1
    console = master = None
    idmapped: dict[int, int] = {}
    try:
        fifo = os.open(c.path(st.EXEC_FIFO), os.O_PATH | os.O_CLOEXEC)
        launch.cgroups_warm()
        try:
            cgroup.create()
        finally:  # saved with the init's pid: until then the list above is a superset of it
            c.data["cgroup"] = cgroup.to_state()
        faults.point("create:cgroup")
        if cgroup.kind == "v2" and (uid := cgroups.delegation_uid(spec)) is not None:
            cgroup.delegate(uid)
        cgroup.apply((config.get("linux") or {}).get("resources") or {})
        faults.point("create:resources")
        if rdt is not None:
            rdt.create()
            c.data["intel_rdt"] = rdt.to_state()
            c.save()
        if spec.linux.namespace("mount") is None:  # init's mounts will be the host's: note what is there
            from . import hostmounts

            c.data["host_mounts"] = {"root": spec.root.path, "before": hostmounts.before(spec.root.path)}
            c.save()
        idmapped = idmap.prepare(spec, bundle)
        opts = processes.Options(container_id, bundle, fifo, hook_state(c), no_pivot, not no_new_keyring,
                                 listen_fds + preserve_fds)
        opts.idmapped = idmapped
        opts.seccomp = compiled_seccomp
        launch.hand_over_cgroup(opts, cgroup)
        if spec.process.terminal:  # connected here: the path is the host's
            from .appliers.terminal import ConsoleSocket

            console = ConsoleSocket(console_socket)
            opts.console = console.init_fd
        pid = processes.spawn_init(spec, opts, launch.intermediate)
        faults.point("create:ready")
        if rdt is not None:
            rdt.add(pid)
        c.data["pid"] = pid
        c.data["init_start_time"] = st.proc_start_time(pid)
        c.save()
        faults.point("create:saved")
        if pid_file:
            write_pid_file(pid_file, pid)
            faults.point("create:pid-file")
        if console and console.receiver:
            master = console.receive()
    except BaseException as e:
        if pid:
            _kill_wait(pid, signal.SIGKILL)
        _release(c, pid, None, warn=True)  # the create error is the one to report
        c.remove()
        if isinstance(e, HookError):  # runtime.md: a failed create hook continues at destroy + poststop
            from . import hooks

            hooks.run_poststop(data["hooks"].get("poststop", []), {**hook_state(c), "status": "stopped"})
        raise
    finally:
        if fifo >= 0:
            os.close(fifo)
        for fd in idmapped.values():
            os.close(fd)
        if console:
            console.close()
        c.close()
    return pid, master


def _release(c: st.Container, init_pid: int, init_start_time: int | None, warn: bool) -> None:
    """Undo what create made for the container besides its state dir, as recorded there: its cgroup
    (killing what still runs in it), its resctrl group, and the mounts its init made in the host's
    mount namespace when it had none of its own (hostmounts.py). warn: a failure is a warning (after
    a failed create, whose error is the one to report) instead of the error."""
    steps = []
    if c.data.get("cgroup"):
        from . import cgroups

        steps.append(("cgroup", lambda: _destroy_cgroup(cgroups.load(c.data["cgroup"]), init_pid, init_start_time)))
    if c.data.get("intel_rdt"):
        from . import intelrdt

        steps.append(("resctrl group", intelrdt.IntelRdt.load(c.data["intel_rdt"]).destroy))
    if c.data.get("host_mounts"):
        from . import hostmounts

        steps.append(("mounts", lambda: hostmounts.remove_added(c.data["host_mounts"]["root"],
                                                                c.data["host_mounts"]["before"])))
    for what, step in steps:
        try:
            step()
        except OCIError as e:
            if not warn:
                raise
            from . import log

            log.warning(f"removing the container's {what}: {e}")


def hook_state(c: st.Container) -> dict:
    """The state hooks get on stdin (runtime.md "State"); status and pid are filled per hook."""
    state = {"ociVersion": st.OCI_VERSION, "id": c.id, "status": "", "pid": 0, "bundle": c.data["bundle"]}
    if c.data.get("annotations"):
        state["annotations"] = c.data["annotations"]
    return state


def write_pid_file(path: str, pid: int) -> None:
    """Atomically, with no trailing newline (clients parse it strictly)."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as e:
        raise OCIError(f"writing pid file: {describe(e)}") from None


def start(root: str, container_id: str) -> None:
    """Release the init blocked on the exec fifo; it runs the startContainer hooks, reports back
    through the fifo and execs the user's program. Then the poststart hooks run here."""
    c = st.open_container(root, container_id, lock=True)
    try:
        status = c.status()
        if status != "created":
            raise InvalidState(_START_ERRORS.get(status, f"cannot start a container in the {status} state"))
        outcome = _release_init(c)
        faults.point("start:released")
        if outcome != START_OK:  # START_OK then EOF: the program was exec'd
            _destroy(c, "stopped")
            if not outcome:
                raise InvalidState("cannot start a container that has stopped")
            raise OCIError(outcome.removeprefix(START_OK).decode(errors="replace"))
        os.unlink(st.EXEC_FIFO, dir_fd=c.dirfd)
        faults.point("start:fifo-removed")
        poststart = c.data.get("hooks", {}).get("poststart")
        if poststart:
            from . import hooks

            try:
                hooks.run("poststart", poststart, {**hook_state(c), "status": "running", "pid": c.pid})
            except OCIError:
                _destroy(c, "running")
                raise
    finally:
        c.close()


START_OK = b"0"  # what init writes into the exec fifo when it is about to exec (processes.START_OK)


def _release_init(c: st.Container) -> bytes:
    """Open the exec fifo for reading (init's blocked open then returns) and read init's
    outcome until its end closes, which exec does: START_OK alone, START_OK and the error that
    stopped it on the way to exec, an error text (startContainer hook), or nothing if it died."""
    fd = os.open(c.path(st.EXEC_FIFO), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        data = b""
        while True:
            if not poller.poll(100):
                if c.status() == "stopped":
                    return data
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return data
            data += chunk
    finally:
        os.close(fd)


def _destroy(c: st.Container, status: str) -> None:
    """runtime.md lifecycle step 12-13 after a failed start: stop, delete, run poststop hooks."""
    if not c.data.get("cgroup") and status != "stopped" and c.pid:  # else the cgroup's removal kills them
        for pid in container_pids(c):
            _kill_wait(pid, signal.SIGKILL)
    _release(c, c.pid, c.data.get("init_start_time"), warn=False)
    state = {**hook_state(c), "status": "stopped"}
    c.remove()
    poststop = c.data.get("hooks", {}).get("poststop")
    if poststop:
        from . import hooks

        hooks.run_poststop(poststop, state)


_START_ERRORS = {
    "running": "cannot start an already running container",
    "stopped": "cannot start a container that has stopped",
    "paused": "cannot start a paused container",
    "creating": "cannot start a container that is still being created",
}


def state(root: str, container_id: str) -> dict:
    c = st.open_container(root, container_id)
    try:
        return c.oci_state()
    finally:
        c.close()


def list_states(root: str) -> list[dict]:
    out = []
    for cid in st.list_ids(root):
        try:
            out.append(state(root, cid))
        except (ContainerNotFound, OCIError, ValueError):
            continue  # deleted meanwhile, or a directory that is not ours
    return out


def kill(root: str, container_id: str, sig: int | None, all_processes: bool = False) -> None:
    """sig None: the signal the image's stopSignal annotation names (config.md: runtimes SHOULD
    send it to kill the container), else SIGTERM as runc."""
    c = st.open_container(root, container_id)
    try:
        if c.status() not in ("created", "running", "paused"):
            raise InvalidState("container not running")
        if sig is None:
            sig = c.data.get("stop_signal") or signal.SIGTERM
        if all_processes and c.data.get("cgroup"):
            from . import cgroups

            cgroup = cgroups.load(c.data["cgroup"])
            if cgroup.owned():  # a cgroup the container joined may hold others' processes
                _signal_cgroup(cgroup, sig)
                return
            all_processes = False
        for pid in container_pids(c) if all_processes else [c.pid]:
            _signal(pid, c.data["init_start_time"] if pid == c.pid else None, sig)
    finally:
        c.close()


def _signal(pid: int, start_time: int | None, sig: int) -> None:
    """Signal through a pidfd, after checking it is still the same process (no pid reuse)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise InvalidState("container not running") from None
    try:
        if start_time is not None and st.proc_start_time(pid) != start_time:
            raise InvalidState("container not running")
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise InvalidState("container not running") from None
    except OSError as e:
        raise OCIError(f"sending signal {sig}: {describe(e)}") from None
    finally:
        os.close(pidfd)


def _destroy_cgroup(cgroup, init_pid: int, init_start_time: int | None) -> None:
    """Kill whatever is left in the container's cgroup (frozen meanwhile, then thawed so that
    the kills land, as runc), wait for it to empty, remove the directories we made. A cgroup the
    container joined rather than made (an existing cgroupsPath) may hold processes that are not
    the container's: there only the init is killed (with it, its pid namespace)."""
    if not cgroup.owned():
        if init_pid and st.proc_start_time(init_pid) is not None and \
                init_start_time in (None, st.proc_start_time(init_pid)):
            _kill_wait(init_pid, signal.SIGKILL)
        cgroup.destroy()
        return
    deadline = time.monotonic() + 10
    while pids := cgroup.pids():
        _signal_cgroup(cgroup, signal.SIGKILL, keep_frozen=False)
        if time.monotonic() > deadline:
            raise OCIError(f"processes {pids} of the container's cgroup did not exit within 10s of SIGKILL")
        time.sleep(0.01)
    faults.point("delete:killed")
    cgroup.destroy()
    faults.point("delete:cgroup-removed")


def _signal_cgroup(cgroup, sig: int, keep_frozen: bool = True) -> None:
    """Signal every process of the cgroup with it frozen, so none can fork meanwhile; a paused
    container stays paused unless keep_frozen is False."""
    try:
        was_frozen = cgroup.frozen()
        cgroup.freeze()
    except OCIError:  # no freezer: signal as they are
        was_frozen = None
    try:
        for pid in cgroup.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    finally:
        if was_frozen is not None and not (was_frozen and keep_frozen):
            cgroup.thaw()


def container_pids(c: st.Container) -> list[int]:
    """Every process of the container: its cgroup's; without one, the init and every process
    sharing its pid namespace (its descendants, with a private one)."""
    if c.data.get("cgroup"):
        from . import cgroups

        return cgroups.load(c.data["cgroup"]).pids()
    try:
        ns = os.stat(f"/proc/{c.pid}/ns/pid").st_ino
        if ns == os.stat("/proc/self/ns/pid").st_ino:
            return [c.pid]  # host pid namespace: only init is known to be the container's
    except FileNotFoundError:
        return [c.pid]
    pids = [c.pid]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != c.pid:
            try:
                if os.stat(f"/proc/{name}/ns/pid").st_ino == ns:
                    pids.append(int(name))
            except (FileNotFoundError, PermissionError):
                continue
    return pids


def _kill_wait(pid: int, sig: int, timeout: float = 10.0) -> None:
    """Signal pid and wait (through a pidfd) until it has exited."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(pidfd, sig)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(timeout * 1000)):
            raise OCIError(f"process {pid} did not exit within {timeout:.0f}s after signal {sig}")
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


def delete(root: str, container_id: str, force: bool = False) -> None:
    """Remove a stopped (or, as runc does, a created) container; --force kills it first."""
    try:
        c = st.open_container(root, container_id, lock=True)
    except ContainerNotFound:
        if force:
            st.remove_abandoned(root, container_id)
            return
        raise
    try:
        status = c.status()
        if status in ("running", "paused", "creating") and not force:
            raise InvalidState(f"cannot delete container {container_id} that is not stopped: {status}")
        _destroy(c, status)
    finally:
        c.close()


def run(root: str, container_id: str, bundle: str, detach: bool = False, **create_args) -> int:
    """create + start; unless detached, wait for the program and delete: returns its exit status.
    With process.terminal and no --console-socket, the caller's stdin/stdout are proxied to the
    container's pty meanwhile (the only output of the library: it is the job)."""
    pid, master = create(root, container_id, bundle, foreground=not detach, **create_args)
    try:
        start(root, container_id)
    except BaseException:
        if master is not None:
            os.close(master)
        delete(root, container_id, force=True)
        raise
    if detach:
        return 0
    try:
        return wait_foreground(pid, master)
    finally:
        delete(root, container_id, force=True)


def wait_foreground(pid: int, master: int | None) -> int:
    """Wait for our child pid, forwarding signals to it (and proxying the caller's terminal to
    its pty master, if any); its exit status as runc returns it (128 + signal if killed)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, lambda signum, _frame: _forward(pid, signum))
    if master is not None:
        from .appliers import terminal

        status = terminal.proxy(master, pid)
    else:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


# --- cgroup commands: pause, resume, ps, update, events ---------------------------------------

def _cgroup(c: st.Container):
    from . import cgroups

    if not c.data.get("cgroup"):
        raise OCIError(f"container {c.id} has no cgroup")
    return cgroups.load(c.data["cgroup"])


def pause(root: str, container_id: str) -> None:
    c = st.open_container(root, container_id, lock=True)
    try:
        if c.status() not in ("created", "running"):
            raise InvalidState("container not running")
        _cgroup(c).freeze()
    finally:
        c.close()


def resume(root: str, container_id: str) -> None:
    c = st.open_container(root, container_id, lock=True)
    try:
        if c.status() != "paused":
            raise InvalidState("container not paused")
        _cgroup(c).thaw()
    finally:
        c.close()


def pids(root: str, container_id: str) -> list[int]:
    """The host pids of the container's processes (`ps`)."""
    c = st.open_container(root, container_id)
    try:
        return _cgroup(c).pids()  # as runc: a stopped container just has none
    finally:
        c.close()


def update(root: str, container_id: str, resources: dict) -> None:
    """Apply LinuxResources (device rules excepted, as runc) to a live container's cgroup and
    keep the saved config in step, for later commands."""
    c = st.open_container(root, container_id, lock=True)
    try:
        if c.status() == "stopped":
            raise InvalidState("container not running")
        _cgroup(c).apply({k: v for k, v in resources.items() if k != "devices"})  # as runc
        config = c.load_config()
        saved = config.setdefault("linux", {}).setdefault("resources", {})
        for key, value in resources.items():
            if key != "devices" and isinstance(value, dict) and isinstance(saved.get(key), dict):
                saved[key].update(value)
            elif key != "devices":
                saved[key] = value
        st.write_json_atomic(c.dirfd, st.CONFIG_FILE, config)
    finally:
        c.close()


def events(root: str, container_id: str, interval: float) -> "Iterator[dict]":  # noqa: F821 (not imported: ~1 ms)
    """runc's `events` stream: a stats event every `interval` seconds and an `oom` event as soon
    as the OOM killer has struck in the container's cgroup, until the container stops."""
    c = st.open_container(root, container_id)
    try:
        driver = _cgroup(c)
        ooms = driver.oom_kills()
        due = time.monotonic()
        while c.status() != "stopped":
            now = time.monotonic()
            if now >= due:
                yield {"type": "stats", "id": container_id, "data": driver.stats()}
                due = now + interval
            count = driver.oom_kills()
            if count > ooms:
                ooms = count
                yield {"type": "oom", "id": container_id}
            time.sleep(min(0.1, max(0.0, due - time.monotonic())))
    finally:
        c.close()


def stats(root: str, container_id: str) -> dict:
    """runc's `events --stats` object: {"type": "stats", "id": ..., "data": {...}}."""
    c = st.open_container(root, container_id)
    try:
        if c.status() == "stopped":
            raise InvalidState(f"container with id {container_id} is not running")
        return {"type": "stats", "id": container_id, "data": _cgroup(c).stats()}
    finally:
        c.close()


# --- exec --------------------------------------------------------------------------------------

_EXEC_ERRORS = {
    "paused": "cannot exec in a paused container",
    "stopped": "cannot exec in a stopped container",
    "creating": "cannot exec in a container that is still being created",
}


def exec_process(root: str, container_id: str, process_obj: dict, detach: bool = False,
                 pid_file: str | None = None, console_socket: str | None = None, preserve_fds: int = 0) -> int:
    """runc's exec: run `process_obj` (an OCI process object) in the container's namespaces and
    cgroup, with the container's config otherwise. Detached: returns 0 once it runs (its pid in
    pid_file); else waits and returns its exit status (128 + signal if killed)."""
    with _Launch() as launch:
        return _exec(root, container_id, process_obj, launch, detach, pid_file, console_socket, preserve_fds)


def _exec(root: str, container_id: str, process_obj: dict, launch: _Launch, detach: bool,
          pid_file: str | None, console_socket: str | None, preserve_fds: int) -> int:
    from . import cgroups, model, processes, validate
    from .appliers import (
        capabilities,
        cpuaffinity,
        iopriority,
        lsm,
        memorypolicy,
        rlimits,
        scheduler,
        seccomp,
    )

    c = st.open_container(root, container_id)
    console = None
    ns_fds: list[tuple[str, int]] = []
    try:
        status = c.status()
        if status not in ("created", "running"):
            raise InvalidState(_EXEC_ERRORS.get(status, f"cannot exec in a {status} container"))
        config = c.load_config()
        config["process"] = process_obj
        try:  # the rest of the config was validated by create: a problem is the process's
            validate.validate_config(config)
        except OCIError as e:
            raise OCIError(str(e).removeprefix("config.json: ")) from None
        spec = model.load_spec(config, c.data["bundle"])
        launch.plan_cgroup(spec)
        for section in (rlimits, scheduler, iopriority, lsm, capabilities, memorypolicy):
            section.check(spec)  # seccomp: compiled below, a ConfigError if refused
        cpuaffinity.check(spec.process)
        _check_terminal(spec.process.terminal, console_socket, detach)
        launch.intermediate.send_config(config, c.data["bundle"], spec.process.env)
        compiled_seccomp = seccomp.compile_bpf(spec, os.path.join(root, seccomp.CACHE_DIR))
        try:
            ns_fds = processes.open_namespaces(spec, c.pid)
        except OCIError:
            if st.proc_start_time(c.pid) != c.data["init_start_time"]:
                raise InvalidState(_EXEC_ERRORS["stopped"]) from None
            raise
        # the fds are the init's namespaces only if it is still the container's init
        if st.proc_start_time(c.pid) != c.data["init_start_time"]:
            raise InvalidState(_EXEC_ERRORS["stopped"])
        cgroup = cgroups.load(c.data["cgroup"]) if c.data.get("cgroup") else None
        opts = processes.ExecOptions(ns_fds, preserve_fds=preserve_fds)
        launch.hand_over_cgroup(opts, cgroup)
        opts.keyring = None if c.data.get("no_new_keyring") else container_id
        opts.seccomp = compiled_seccomp
        if spec.process.terminal:
            from .appliers.terminal import ConsoleSocket

            console = ConsoleSocket(console_socket)
            opts.console = console.init_fd
        launch.cgroups_warm()
        pid = processes.spawn_exec(spec, opts, launch.intermediate)
        faults.point("exec:forked")
        try:
            master = console.receive() if console and console.receiver else None
        except BaseException:
            _kill_wait(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
    finally:
        for _, fd in ns_fds:
            os.close(fd)
        if console:
            console.close_init_fd()
        c.close()
    if pid_file:
        try:
            write_pid_file(pid_file, pid)
        except BaseException:
            _kill_wait(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        faults.point("exec:pid-file")
    if detach:
        return 0
    try:
        return wait_foreground(pid, master)
    finally:
        if console:
            console.close()
