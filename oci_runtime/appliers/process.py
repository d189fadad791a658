"""`process` (config.md "Process"): args, env, cwd, user and umask, then execve.

prepare() runs before create reports success, so a missing program fails `create` with runc's
wording (`exec: "x": stat x: no such file or directory`, which podman maps to exit 127).
execute() runs after `start`: it switches user and execs (every fd of ours is close-on-exec by then).
"""
import _signal as signal  # the signal module builds enums at import (~3 ms); the numbers are all we need
import fcntl
import os
import stat

from .. import fs
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Process, Spec, evolve
from . import capabilities, iopriority, lsm, memorypolicy, nonewprivs, oom, personality, rlimits, scheduler, seccomp

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def find_executable(name: str, env: dict[str, str]) -> str:
    """Look `name` up like Go's exec.LookPath, in the container's root and PATH."""
    if "/" in name:
        _check_executable(name, name)
        return name
    for d in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(d or ".", name)
        try:
            _check_executable(name, candidate)
            return candidate
        except OCIError:
            continue
    raise OCIError(f'exec: "{name}": executable file not found in $PATH')


def _check_executable(name: str, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        raise OCIError(f'exec: "{name}": stat {path}: {describe(OSError(e.errno, e.strerror))}') from None
    if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
        raise OCIError(f'exec: "{name}": permission denied')


def home_of(uid: int) -> str:
    """HOME for the container user from the container's /etc/passwd, "/" if not listed."""
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5]
    except OSError:
        pass
    return "/"


def socket_activation(spec: Spec, listen_fds: int) -> Spec:
    """systemd socket activation, as runc: the LISTEN_FDS fds passed to us (counted by the command)
    go to the container as fds 3.., with LISTEN_FDS=n and LISTEN_PID=1 added to its environment."""
    if listen_fds <= 0:
        return spec
    env = [*spec.process.env, f"LISTEN_FDS={listen_fds}", "LISTEN_PID=1"]
    return evolve(spec, process=evolve(spec.process, env=env))


def make_cwd(p: Process, rootfd: int) -> None:
    """Create process.cwd in the rootfs if missing (as runc does), before it may turn read-only."""
    try:
        os.close(fs.make_in_root(rootfd, p.cwd))
    except OSError as e:
        raise OCIError(f"process.cwd: {p.cwd}: {describe(e)}") from None


class Prepared:
    """What execute() needs, computed inside the container before `start`."""

    def __init__(self, path: str, args: list[str], env: dict[str, str], cwd_fd: int,
                 caps: "capabilities.Plan | None") -> None:
        self.path = path
        self.args = args
        self.env = env
        self.cwd_fd = cwd_fd
        self.caps = caps


def prepare(spec: Spec) -> Prepared:
    """Everything that can fail before `create` reports success, inside the container (after the
    root switch): cwd and the executable resolved, and the settings the program inherits applied
    to init already (oomScoreAdj, rlimits, scheduler, ioPriority, personality, memoryPolicy) as runc does."""
    p = spec.process
    env = env_dict(p.env)
    env.setdefault("HOME", home_of(p.user.uid))
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # cwd resolved with RESOLVE_IN_ROOT and no magic links: never a leaked host fd (CVE-2024-21626)
        cwd_fd = fs.open_in_root(root, p.cwd, os.O_PATH | os.O_DIRECTORY)
    except OSError as e:
        raise OCIError(f"process.cwd: {p.cwd}: {describe(e)}") from None
    finally:
        os.close(root)
    os.fchdir(cwd_fd)
    if not p.args:
        raise OCIError("process.args: no program to run")
    path = find_executable(p.args[0], env)
    oom.apply(p)  # opens a file: before an RLIMIT_NOFILE could forbid it
    rlimits.apply(p)
    scheduler.apply(p)
    iopriority.apply(p)
    personality.apply(spec)
    memorypolicy.apply(spec)
    return Prepared(path, list(p.args), env, cwd_fd, capabilities.plan(p))


def switch_user(p: Process) -> None:
    """process.user: supplementary groups, then gid, then uid (the order the kernel needs)."""
    user = p.user
    try:
        os.setgroups(user.additional_gids)
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as e:
        raise OCIError(f"process.user: {describe(e)}") from None


def close_fds_on_exec(preserve_fds: int) -> None:
    """Right before seccomp (a filter written before close_range existed would refuse it later):
    every fd above the preserved ones closes at exec, whatever opened it meanwhile."""
    sc.close_range(3 + preserve_fds, flags=sc.CLOSE_RANGE_CLOEXEC)


def execute(spec: Spec, prep: Prepared) -> None:
    """Become the configured user and exec the program; only returns by raising."""
    p = spec.process
    capabilities.before_user_switch(prep.caps)
    switch_user(p)
    capabilities.after_user_switch(prep.caps)
    os.umask(0o022 if p.user.umask is None else p.user.umask)
    os.fchdir(prep.cwd_fd)
    os.close(prep.cwd_fd)
    # Python ignores SIGPIPE and SIGXFSZ; ignored dispositions survive exec, so restore them.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    lsm.apply(p)
    nonewprivs.apply(p)
    seccomp.apply(spec)  # with noNewPrivileges: as late as possible (see seccomp.py)
    try:
        os.execve(prep.path, prep.args, prep.env)
    except OSError as e:
        raise OCIError(f'exec: "{prep.args[0]}": {describe(OSError(e.errno, e.strerror))}') from None
