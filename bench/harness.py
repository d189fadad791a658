"""Process plumbing for the benchmark: spawning runtimes, bundles, crun's namespace, memory, cleanup.

Every runtime command is started the same way (fork, optional setns, exec) and reaped with wait4, so
the three runtimes pay identical harness costs and we get the child's peak RSS for free.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE_BUNDLE = REPO / "bundles" / "busybox"
UNIFIED = "/sys/fs/cgroup/unified"
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
# One id prefix per bench process: leftovers (cgroup dirs, processes) are recognisable by it.
PREFIX = f"ocibench{os.getpid()}x"

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
_libc = ctypes.CDLL(None, use_errno=True)
# Python ignores these at start-up; exec keeps SIG_IGN, so children must get them back as runc's callers do.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
_HOLD = {signal.SIGINT, signal.SIGTERM}


class CommandFailed(Exception):
    """A runtime command exited non-zero or timed out."""


class Interrupted(BaseException):
    """SIGTERM, handled like Ctrl-C so that the cleanup still runs."""


class _Timeout(BaseException):
    """Raised by our SIGALRM handler to interrupt a blocking wait4."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


signal.signal(signal.SIGALRM, _on_alarm)


@dataclass
class Outcome:
    """One finished command: exit code, wall seconds, the child's ru_maxrss (KiB) and its output."""

    argv: list[str]
    code: int
    seconds: float
    maxrss_kib: int
    out: str
    err: str
    pid: int = 0

    def check(self) -> Outcome:
        """Raise CommandFailed unless the command exited 0; return self for chaining."""
        if self.code != 0:
            what = f"exited {self.code}" if self.code > 0 else f"killed by signal {-self.code}"
            tail = self.err.strip().splitlines()[-3:]
            raise CommandFailed(f"`{' '.join(self.argv)}` {what}: {' / '.join(tail) or '(no stderr)'}")
        return self


@dataclass
class _Proc:
    pid: int
    argv: list[str]
    out: object
    err: object
    t0: float


class Launcher:
    """posix_spawn children with a clean environment, in their own process group, and reap them with wait4.

    posix_spawn (vfork underneath), not fork: forking this ~14 MB interpreter costs 2-8 ms on this VM, as
    much as a whole runc command. For crun the bench itself setns()es into crun's mount namespace around
    the spawn (posix_spawn cannot), then back; those two syscalls are inside crun's timed window.
    Own process group: a Ctrl-C on the terminal reaches only the bench, which then cleans up, instead of
    killing a runtime half-way through a create. Output goes to unlinked temp files, not pipes: a detached
    container inherits create's stdio and would keep a pipe open forever. The cwd is tmpdir for everyone.
    """

    def __init__(self, tmpdir: Path) -> None:
        self.tmpdir = tmpdir
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.host_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        self.inflight: dict[int, _Proc] = {}
        os.chdir(tmpdir)

    def _setns(self, fd: int) -> None:
        """Move the bench into a mount namespace; setns resets the cwd, so restore it."""
        if _libc.setns(fd, CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), f"setns: {os.strerror(ctypes.get_errno())}")
        os.chdir(self.tmpdir)

    def spawn(self, argv: list[str], mntns: int | None = None) -> _Proc:
        """Start argv (in mount namespace mntns when given)."""
        # Closed by _finish once the child is reaped, so no `with`.
        out = tempfile.TemporaryFile(dir=self.tmpdir)  # noqa: SIM115
        err = tempfile.TemporaryFile(dir=self.tmpdir)  # noqa: SIM115
        actions = [(os.POSIX_SPAWN_DUP2, self.devnull, 0), (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        # Ctrl-C held off until the child is registered, so an interrupted bench never loses track of one.
        signal.pthread_sigmask(signal.SIG_BLOCK, _HOLD)
        try:
            t0 = time.perf_counter()
            if mntns is not None:
                self._setns(mntns)
            try:
                pid = os.posix_spawn(argv[0], argv, CLEAN_ENV, file_actions=actions, setpgroup=0,
                                     setsigmask=(), setsigdef=_RESET_SIGNALS)
            finally:
                if mntns is not None:
                    self._setns(self.host_ns)
            proc = _Proc(pid, argv, out, err, t0)
            self.inflight[pid] = proc
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HOLD)
        return proc

    def _finish(self, proc: _Proc, status: int, rusage: object, t1: float) -> Outcome:
        """Turn a reaped child into an Outcome and drop its temp files."""
        self.inflight.pop(proc.pid, None)
        texts = []
        for f in (proc.out, proc.err):
            f.seek(0)  # type: ignore[attr-defined]
            texts.append(f.read().decode(errors="replace"))  # type: ignore[attr-defined]
            f.close()  # type: ignore[attr-defined]
        code = os.waitstatus_to_exitcode(status)
        return Outcome(proc.argv, code, t1 - proc.t0, rusage.ru_maxrss, texts[0], texts[1], proc.pid)  # type: ignore[attr-defined]

    def wait(self, proc: _Proc, timeout: float = 120.0) -> Outcome:
        """Reap proc; on timeout kill its process group and fail."""
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            t1 = time.perf_counter()
        except _Timeout:
            self.kill(proc)
            raise CommandFailed(f"`{' '.join(proc.argv)}` timed out after {timeout:.0f} s") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return self._finish(proc, status, rusage, t1)

    def wait_any(self, timeout: float = 300.0) -> Outcome:
        """Reap whichever of our children ends first."""
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            while True:
                pid, status, rusage = os.wait4(-1, 0)
                t1 = time.perf_counter()
                if pid in self.inflight:
                    break
        except _Timeout:
            for proc in list(self.inflight.values()):
                self.kill(proc)
            raise CommandFailed(f"no command finished within {timeout:.0f} s") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return self._finish(self.inflight[pid], status, rusage, t1)

    def kill(self, proc: _Proc) -> None:
        """SIGKILL proc's process group and reap it."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(proc.pid, 0)
        except ChildProcessError:
            pass
        self.inflight.pop(proc.pid, None)

    def run(self, argv: list[str], mntns: int | None = None, timeout: float = 120.0) -> Outcome:
        """Spawn and wait for one command."""
        return self.wait(self.spawn(argv, mntns), timeout)

    def drain(self, grace: float = 30.0) -> None:
        """After an interruption: give in-flight children grace seconds, then kill them."""
        deadline = time.monotonic() + grace
        for proc in list(self.inflight.values()):
            left = deadline - time.monotonic()
            try:
                self.wait(proc, max(left, 0.1))
            except CommandFailed:
                pass

    def close(self) -> None:
        """Release our fds and leave tmpdir (so that it can be removed)."""
        os.close(self.devnull)
        os.close(self.host_ns)
        os.chdir("/")


@dataclass
class Runtime:
    """A runtime under test: its binary, private home (bundles and --root), and the ids it may still hold."""

    name: str
    binary: str
    home: Path
    mntns: int | None = None  # crun: a mount namespace with cgroup2 hidden
    live: set[str] = field(default_factory=set)
    counter: int = 0

    @property
    def tag(self) -> str:
        """Short name used in container ids: ours, runc, crun."""
        return "ours" if self.name == "oci-runtime" else self.name[:4]

    @property
    def root(self) -> Path:
        """The private --root state directory."""
        return self.home / "root"

    def bundle(self, kind: str) -> Path:
        """Path of this runtime's bundle of the given kind ('true' or 'sleep')."""
        return self.home / f"bundle-{kind}"

    def argv(self, *args: str) -> list[str]:
        """The full command line for `<runtime> --root R args...`."""
        return [self.binary, "--root", str(self.root), *args]

    def new_id(self) -> str:
        """A fresh container id, remembered for cleanup until deleted."""
        self.counter += 1
        cid = f"{PREFIX}{self.tag}{self.counter}"
        self.live.add(cid)
        return cid


BUNDLE_ARGS = {"true": ["/bin/true"], "sleep": ["sleep", "1000000"], "seccomp": ["/bin/true"]}
# a config an engine generated (its linux.seccomp, for the "seccomp" bundle): podman's default profile
CLIENT_PROFILE = REPO.parent / "shared" / "fixtures" / "client-configs" / "podman-init.json"


def make_bundles(rt: Runtime, seccomp: dict | None = None) -> None:
    """Give rt its own bundles: the demo config (process.args replaced) and a private copy of the rootfs;
    the "seccomp" one also has `seccomp` as its linux.seccomp (made only with a profile).

    ociVersion is set to 1.0.2-dev for all runtimes because crun 1.8.1 rejects 1.3.0 ("unknown version").
    A copy rather than a bind mount: no host mounts to undo, and 2 MB per bundle is cheap.
    """
    config = json.loads((SOURCE_BUNDLE / "config.json").read_text())
    config["ociVersion"] = "1.0.2-dev"
    config["root"] = {"path": "rootfs", "readonly": True}
    rt.root.mkdir(parents=True)
    for kind, args in BUNDLE_ARGS.items():
        if kind == "seccomp" and seccomp is None:
            continue
        bundle = rt.bundle(kind)
        bundle.mkdir()
        kind_config = {**config, "process": {**config["process"], "args": args}}
        if kind == "seccomp":
            kind_config["linux"] = {**config["linux"], "seccomp": seccomp}
        (bundle / "config.json").write_text(json.dumps(kind_config, indent=2))
        shutil.copytree(SOURCE_BUNDLE / "rootfs", bundle / "rootfs", symlinks=True)


def unified_is_cgroup2() -> bool:
    """True on a cgroup 'hybrid' host: v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[4] == UNIFIED and fields[sep + 1] == "cgroup2":
            return True
    return False


def hidden_cgroup2_namespace() -> int:
    """Return an fd to a private mount namespace where an empty tmpfs covers /sys/fs/cgroup/unified.

    crun 1.8.1 refuses hybrid hosts whose cgroup2 offers any controller ("cgroups in hybrid mode not
    supported, drop all controllers from cgroupv2"); over the tmpfs it finds none and uses the v1
    controllers (its cgroup2 bookkeeping lands in the tmpfs, which dies with the namespace). A forked helper
    unshares, remounts / recursively private (nothing leaks to the host) and mounts the tmpfs; we keep only
    the namespace fd, so crun's invocations setns into it for the price of one syscall.
    """
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            steps = (
                lambda: _libc.unshare(CLONE_NEWNS),
                lambda: _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None),
                lambda: _libc.mount(b"tmpfs", UNIFIED.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                    b"size=64m,mode=0755"),
            )
            for n, step in enumerate(steps):
                if step() != 0:
                    os.write(ready_w, f"step {n}: {os.strerror(ctypes.get_errno())}".encode())
                    os._exit(1)
            os.write(ready_w, b"ok")
            os.read(hold_r, 1)  # EOF once the parent has opened our namespace
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        msg = os.read(ready_r, 200).decode()
        if msg != "ok":
            raise OSError(f"cannot build crun's mount namespace: {msg or 'helper died'}")
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)


def shebang(script: str) -> list[str]:
    """The words of a script's #! line (interpreter, then its options); [] without one or unreadable."""
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace")
    except OSError:
        return []
    return first[2:].split() if first.startswith("#!") else []


def install_fingerprint(python: str, script: str) -> str:
    """Newest mtime among the installed oci_runtime package's files and the script: other people reinstall
    the package while the bench runs, and figures that mix two versions should say so."""
    code = ("import os, oci_runtime; d = os.path.dirname(oci_runtime.__file__); "
            "print(max(os.stat(os.path.join(r, f)).st_mtime_ns for r, _, fs in os.walk(d) for f in fs))")
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=False, timeout=60,
                             cwd="/").stdout.strip()
        return f"{out}:{os.stat(script).st_mtime_ns}"
    except OSError as exc:
        return f"unknown ({exc})"


REINSTALL_SIGNS = ("can't open file", "ModuleNotFoundError", "ImportError", "No module named")


def reinstall_failure(o: Outcome, binary: str) -> bool:
    """Did this command fail because someone was reinstalling the package into .venv just then?"""
    return o.code != 0 and (any(sign in o.err for sign in REINSTALL_SIGNS) or not os.path.exists(binary))


def await_install(python: str, script: str, timeout: float = 180.0) -> None:
    """Wait until the installed package has stopped changing (same fingerprint 2 s apart)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        now = install_fingerprint(python, script)
        if now == last and not now.startswith("unknown") and ":" in now and now.split(":")[0]:
            return
        last = now
        time.sleep(2.0)
    raise CommandFailed(f"oci-runtime's installation did not settle within {timeout:.0f} s")


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, cmdline) for every process we can read."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(entry.name)] = (ppid, cmdline)
    return table


def staying_alive(init_pid: int, marker: str) -> set[int]:
    """The processes a created container keeps: its init, init's descendants, and any process whose
    command line mentions marker (the runtime's private --root, which catches shims and monitors)."""
    table = process_table()
    found = {init_pid} | {pid for pid, (_, cmd) in table.items() if marker in cmd}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def rss_pss_kib(pids: set[int]) -> tuple[int, int, int]:
    """Sum of Rss, Pss and Pss_Anon (KiB) over pids, from /proc/<pid>/smaps_rollup."""
    rss = pss = anon = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key == "Rss":
                rss += int(value.split()[0])
            elif key == "Pss":
                pss += int(value.split()[0])
            elif key == "Pss_Anon":
                anon += int(value.split()[0])
    return rss, pss, anon


def meminfo_kib(key: str) -> int:
    """One /proc/meminfo value in KiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def mountinfo_lines() -> int:
    """Line count of /proc/self/mountinfo (the host's mount table as the bench sees it)."""
    return len(Path("/proc/self/mountinfo").read_text().splitlines())


def cgroup_dirs(max_depth: int = 4) -> set[str]:
    """Directories under the cgroup v1 hierarchies and the cgroup2 mount, to spot leftovers."""
    found: set[str] = set()
    base = Path("/sys/fs/cgroup")

    def walk(path: Path, depth: int) -> None:
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                found.add(e.path)
                if depth < max_depth:
                    walk(Path(e.path), depth + 1)

    walk(base, 0)
    return found


def remove_stale_cgroups() -> list[str]:
    """rmdir the (empty) cgroup dirs named after our containers, deepest first; return what was removed.

    A runtime whose create failed half-way may leave them (crun does); rmdir only succeeds on a cgroup
    without processes, so nothing alive is touched.
    """
    removed = []
    for d in sorted((d for d in cgroup_dirs(6) if PREFIX in d), key=lambda p: p.count("/"), reverse=True):
        try:
            os.rmdir(d)
            removed.append(d)
        except OSError:
            pass
    return removed


def leftovers(workdir: Path) -> list[str]:
    """Everything of ours still alive after cleanup: processes and cgroup dirs named by our id prefix."""
    problems = []
    me = os.getpid()
    for pid, (_, cmd) in process_table().items():
        if pid == me:
            continue
        try:
            root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            root = ""
        if str(workdir) in cmd or PREFIX in cmd or root.startswith(str(workdir)):
            problems.append(f"process {pid}: {cmd.strip()[:120]} (root {root})")
    problems += [f"cgroup dir {d}" for d in sorted(cgroup_dirs(6)) if PREFIX in d]
    return problems
