"""The measured figures. Each one alternates the runtimes inside every repetition (A B C A B C ...), so
drift on a shared machine (other people's test runs) hits all runtimes alike."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from harness import (
    CommandFailed,
    Launcher,
    Outcome,
    Runtime,
    await_install,
    meminfo_kib,
    reinstall_failure,
    rss_pss_kib,
    staying_alive,
)

OURS, RUNC, CRUN = "oci-runtime", "runc", "crun"
SHORT_COMMANDS = ("start", "state", "kill", "delete")


@dataclass
class Settings:
    """How many repetitions of what; --quick shrinks them all."""

    n: int = 30  # repetitions of each single-command figure
    warmup: int = 2  # untimed repetitions first
    run100_count: int = 100
    run100_reps: int = 3
    concurrent: int = 100
    concurrent_reps: int = 3
    levels: tuple[int, ...] = (10, 100, 1000)
    scale_reps: int = 10
    jobs: int = max(2, 2 * (os.cpu_count() or 1))  # parallel creates/deletes when populating or cleaning up
    stage_reps: int = 10
    rss_reps: int = 5  # extra repetitions of run/commands under the peak-RSS probe
    python: str = ""


@dataclass
class Row:
    """One figure: per-runtime samples plus a per-runtime note (failures, skips)."""

    label: str
    unit: str  # "ms", "s" or "KiB"
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    ratio: bool = True


class Results:
    """All rows in display order, plus errors and free-form notes for the report."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.extra_sections: list[str] = []

    def define(self, key: str, label: str, unit: str, ratio: bool = True) -> None:
        """Declare a row (its position is the order of definition)."""
        if key not in self.rows:
            self.rows[key] = Row(label, unit, ratio=ratio)

    def add(self, key: str, runtime: str, value: float) -> None:
        """Record one sample."""
        self.rows[key].samples.setdefault(runtime, []).append(value)

    def note(self, key: str, runtime: str, text: str) -> None:
        """Attach text to a cell."""
        self.rows[key].notes[runtime] = text

    def median(self, key: str, runtime: str) -> float | None:
        """Median of a cell, None when it has no samples."""
        row = self.rows.get(key)
        data = row.samples.get(runtime) if row else None
        return statistics.median(data) if data else None


class Bench:
    """Shared state of one benchmark run: the launcher, the runtimes, the results, failure bookkeeping."""

    def __init__(self, launcher: Launcher, runtimes: list[Runtime], settings: Settings, results: Results) -> None:
        self.launcher = launcher
        self.runtimes = runtimes
        self.s = settings
        self.results = results
        self.failed: dict[tuple[str, str], str] = {}
        self.anon_kib: dict[str, float] = {}  # created-state Pss_Anon per runtime, for scale's memory estimate
        self.rss_probe = gnu_time()  # see cmd()
        self.probing = False
        self.reinstalls = 0  # commands retried because oci-runtime was being reinstalled
        self.seccomp_syscalls: int | None = None  # names in the client profile of the "seccomp" bundles, if any

    def active(self, figure: str) -> list[Runtime]:
        """The runtimes that have not failed in this figure yet."""
        return [rt for rt in self.runtimes if (figure, rt.name) not in self.failed]

    @contextmanager
    def attempt(self, figure: str, rt: Runtime) -> Iterator[None]:
        """Run a block for one runtime; a failure drops that runtime from this figure only."""
        try:
            yield
        except (CommandFailed, OSError, ValueError, KeyError) as exc:
            self.failed[(figure, rt.name)] = str(exc)
            self.results.errors.append(f"{figure}: {rt.name}: {exc}")

    def cmd(self, rt: Runtime, *args: str, timeout: float = 120.0) -> Outcome:
        """Run `<rt> --root R args` and insist on success.

        While self.probing, the command runs under GNU time and maxrss_kib is its %M. Our own wait4 cannot
        tell: the kernel starts a child's ru_maxrss at the RSS of the process that spawned it (exec records
        the old mm's high-water mark), i.e. at this bench's ~14 MB, which hides runc's and crun's peaks.
        GNU time forks the runtime from a ~1 MB image instead, and reports wait4's ru_maxrss for it.
        """
        argv = rt.argv(*args)
        o = self._run(rt, argv, timeout)
        if self.survive_reinstall(rt, [o]):
            o = self._run(rt, argv, timeout)
        return o.check()

    def _run(self, rt: Runtime, argv: list[str], timeout: float) -> Outcome:
        """One attempt of cmd(), under the RSS probe while probing."""
        if not (self.probing and self.rss_probe):
            return self.launcher.run(argv, rt.mntns, timeout)
        report = self.launcher.tmpdir / "maxrss.txt"
        o = self.launcher.run([self.rss_probe, "-f", "%M", "-o", str(report), "--", *argv], rt.mntns, timeout)
        o.argv = argv
        if o.code == 0:
            o.maxrss_kib = int(report.read_text().split()[-1])
        return o

    def survive_reinstall(self, rt: Runtime, outcomes: list[Outcome]) -> bool:
        """If any of these failed because .venv was being reinstalled (other people do that while we run),
        wait for the installation to settle and return True: the caller retries. Failures of that kind
        happen before the runtime does anything, so a retry with the same arguments is safe."""
        if rt.name != OURS or not any(reinstall_failure(o, rt.binary) for o in outcomes):
            return False
        await_install(self.s.python, rt.binary)
        self.reinstalls += 1
        return True

    # -- lifecycle helpers (untimed unless the caller records the Outcome) --

    def create(self, rt: Runtime, kind: str = "sleep") -> tuple[str, Outcome]:
        """Create a detached container from rt's bundle of the given kind."""
        cid = rt.new_id()
        return cid, self.cmd(rt, "create", "--bundle", str(rt.bundle(kind)), cid)

    def state(self, rt: Runtime, cid: str) -> dict:
        """The container's state JSON."""
        return json.loads(self.cmd(rt, "state", cid).out)

    def wait_stopped(self, rt: Runtime, cid: str, timeout: float = 15.0) -> None:
        """Poll `state` until the container is stopped (after a kill)."""
        deadline = time.monotonic() + timeout
        while self.state(rt, cid)["status"] != "stopped":
            if time.monotonic() > deadline:
                raise CommandFailed(f"{rt.name}: {cid} not stopped {timeout:.0f} s after kill")
            time.sleep(0.005)

    def delete(self, rt: Runtime, cid: str, force: bool = False) -> Outcome:
        """Delete a container and forget it."""
        out = self.cmd(rt, "delete", *(["--force"] if force else []), cid)
        rt.live.discard(cid)
        return out

    def pool(self, rt: Runtime, argvs: list[list[str]], may_launch: Callable[[], bool] = lambda: True,
             timeout: float = 300.0) -> list[Outcome]:
        """Run rt's commands, settings.jobs at a time; stop launching once may_launch() says no."""
        outcomes: list[Outcome] = []
        pending = list(argvs)
        mine: set[int] = set()
        while pending or mine:
            while pending and len(mine) < self.s.jobs and may_launch():
                mine.add(self.launcher.spawn(pending.pop(0), rt.mntns).pid)
            if not mine:
                break
            done = self.launcher.wait_any(timeout)
            mine.discard(done.pid)
            outcomes.append(done)
        return outcomes

    def force_delete_all(self, rt: Runtime, ids: list[str]) -> list[str]:
        """`delete --force` every id (in parallel); return the errors of those that failed."""
        outcomes = self.pool(rt, [rt.argv("delete", "--force", cid) for cid in ids])
        errors = []
        for out in outcomes:
            cid = out.argv[-1]
            if out.code == 0:
                rt.live.discard(cid)
            else:
                errors.append(out.err.strip() or f"exit {out.code}")
        return errors


def gnu_time() -> str | None:
    """/usr/bin/time if it is GNU time (busybox's applet misreports %M), else None."""
    path = shutil.which("time", path="/usr/bin:/bin")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if "GNU" in out.stdout + out.stderr else None


def ms(o: Outcome) -> float:
    """Wall time of an Outcome in milliseconds."""
    return o.seconds * 1000.0


def fig_run(b: Bench) -> None:
    """`run` of /bin/true: create + start + wait + delete, the figure crun's README leads with."""
    r = b.results
    r.define("run", "`run` /bin/true (create+start+wait+delete)", "ms")
    r.define("rss:run", "peak RSS of `run` (ru_maxrss, via GNU time)", "KiB")
    for i in range(b.s.warmup + b.s.n + b.s.rss_reps):
        timing, b.probing = _phase(b, i)
        for rt in b.active("run"):
            with b.attempt("run", rt):
                cid = rt.new_id()
                o = b.cmd(rt, "run", "--bundle", str(rt.bundle("true")), cid)
                rt.live.discard(cid)
                if timing:
                    r.add("run", rt.name, ms(o))
                if b.probing:
                    r.add("rss:run", rt.name, o.maxrss_kib)
    b.probing = False


def fig_seccomp(b: Bench) -> None:
    """`run` of /bin/true with the seccomp profile an engine passes (podman's, --seccomp-profile): what
    every container of a real client pays. The first `run` of each runtime is a warm-up (ours then
    compiles the profile once and keeps it; the others compile it every time)."""
    r = b.results
    if b.seccomp_syscalls is None:
        r.notes.append("no client seccomp profile (--seccomp-profile): the seccomp figure was left out")
        return
    r.define("seccomp", f"`run` /bin/true with a client's seccomp profile ({b.seccomp_syscalls} syscalls)", "ms")
    for i in range(b.s.warmup + b.s.n):
        for rt in b.active("seccomp"):
            with b.attempt("seccomp", rt):
                cid = rt.new_id()
                o = b.cmd(rt, "run", "--bundle", str(rt.bundle("seccomp")), cid)
                rt.live.discard(cid)
                if i >= b.s.warmup:
                    r.add("seccomp", rt.name, ms(o))


def _phase(b: Bench, i: int) -> tuple[bool, bool]:
    """For repetition i of a figure with a peak-RSS phase: (record timings?, probe RSS?).

    Warm-up, then the timed repetitions, then rss_reps repetitions under the probe (timed separately, so
    the probe's extra fork and exec never get into a time figure).
    """
    timed_end = b.s.warmup + b.s.n
    return b.s.warmup <= i < timed_end, i >= timed_end


def fig_run100(b: Bench) -> None:
    """N `run`s of /bin/true back to back, total seconds (crun README's '100 /bin/true' figure)."""
    count = b.s.run100_count
    key = "run100"
    b.results.define(key, f"{count} × `run` /bin/true one after another (total)", "s")
    for _ in range(b.s.run100_reps):
        for rt in b.active(key):
            with b.attempt(key, rt):
                for _attempt in range(3):  # a repetition that waited out a reinstall is not a figure: redo it
                    seen = b.reinstalls
                    t0 = time.perf_counter()
                    for _ in range(count):
                        cid = rt.new_id()
                        b.cmd(rt, "run", "--bundle", str(rt.bundle("true")), cid)
                        rt.live.discard(cid)
                    if b.reinstalls == seen:
                        b.results.add(key, rt.name, time.perf_counter() - t0)
                        break


def fig_commands(b: Bench) -> None:
    """Each lifecycle command timed alone on a `sleep` container, plus memory of the created state.

    Order per repetition and runtime: create*, (state + memory scan), start*, state*, exec*, kill*, (poll
    until stopped), delete* -- starred ones are timed, one command each.
    """
    r = b.results
    labels = {
        "create": "`create`", "start": "`start`", "state": "`state` (running container)",
        "exec": "`exec` /bin/true into a running container", "kill": "`kill` KILL", "delete": "`delete` (stopped)",
    }
    for cmd, label in labels.items():
        r.define(cmd, label, "ms")
    r.define("mem:rss", "created state: RSS of what stays alive (init)", "KiB")
    r.define("mem:pss", "created state: PSS of what stays alive (init)", "KiB")
    for cmd in labels:
        r.define(f"rss:{cmd}", f"peak RSS of `{cmd}` (ru_maxrss, via GNU time)", "KiB")

    for i in range(b.s.warmup + b.s.n + b.s.rss_reps):
        rec, b.probing = _phase(b, i)
        for rt in b.active("commands"):
            with b.attempt("commands", rt):
                timed: list[tuple[str, Outcome]] = []
                cid, o = b.create(rt)
                timed.append(("create", o))
                st = b.state(rt, cid)
                if st["status"] != "created":
                    raise CommandFailed(f"{cid} is {st['status']} after create")
                rss, pss, anon = rss_pss_kib(staying_alive(int(st["pid"]), str(rt.root)))
                timed.append(("start", b.cmd(rt, "start", cid)))
                timed.append(("state", b.cmd(rt, "state", cid)))
                timed.append(("exec", b.cmd(rt, "exec", cid, "/bin/true")))
                timed.append(("kill", b.cmd(rt, "kill", cid, "KILL")))
                b.wait_stopped(rt, cid)
                timed.append(("delete", b.delete(rt, cid)))
                if rec:
                    for cmd, o in timed:
                        r.add(cmd, rt.name, ms(o))
                    r.add("mem:rss", rt.name, rss)
                    r.add("mem:pss", rt.name, pss)
                    b.anon_kib[rt.name] = anon
                if b.probing:
                    for cmd, o in timed:
                        r.add(f"rss:{cmd}", rt.name, o.maxrss_kib)
    b.probing = False


def fig_concurrent(b: Bench) -> None:
    """N `create`s launched at once into one --root: all must succeed; wall time until the last exits."""
    key = "concurrent"
    b.results.define(key, f"{b.s.concurrent} concurrent `create` (wall time until all exit; failures)", "s")
    failures: dict[str, int] = {}
    tried: dict[str, int] = {}
    for _ in range(b.s.concurrent_reps):
        for rt in b.active(key):
            with b.attempt(key, rt):
                for _attempt in range(3):  # a repetition hit by a reinstall of .venv is cleared up and redone
                    if _concurrent_once(b, rt, key, failures, tried):
                        break
    for name, bad in failures.items():
        b.results.note(key, name, f"{bad}/{tried[name]} failed")


def _concurrent_once(b: Bench, rt: Runtime, key: str, failures: dict[str, int], tried: dict[str, int]) -> bool:
    """One repetition of fig_concurrent for rt; False if it must be redone (a reinstall got in the way)."""
    n = b.s.concurrent
    ids = [rt.new_id() for _ in range(n)]
    argvs = [rt.argv("create", "--bundle", str(rt.bundle("sleep")), cid) for cid in ids]
    t0 = time.perf_counter()
    procs = [b.launcher.spawn(argv, rt.mntns) for argv in argvs]
    outs = [b.launcher.wait(p, 600.0) for p in procs]
    wall = time.perf_counter() - t0
    if b.survive_reinstall(rt, outs):
        b.force_delete_all(rt, ids)
        return False
    listed = json.loads(b.cmd(rt, "list", "--format", "json").out or "[]") or []
    created = {c["id"] for c in listed if c.get("status") == "created"}
    bad = sum(1 for cid, o in zip(ids, outs) if o.code != 0 or cid not in created)
    failures[rt.name] = failures.get(rt.name, 0) + bad
    tried[rt.name] = tried.get(rt.name, 0) + n
    b.results.add(key, rt.name, wall)
    errors = b.force_delete_all(rt, ids)
    if errors:
        raise CommandFailed(f"delete --force failed {len(errors)}×: {errors[0]}")
    if bad:
        first = next(o for cid, o in zip(ids, outs) if o.code != 0 or cid not in created)
        b.results.errors.append(f"{key}: {rt.name}: {bad} of {n} failed, e.g. "
                                f"{first.err.strip() or 'not listed as created'}")
    return True


def fig_scale(b: Bench) -> None:
    """Cost of create/state/start/delete/list for one more container with 10, 100, 1000 others present.

    The others are created, not started (a created container's init is the cheapest thing to keep). Before
    each level the memory it needs is estimated from what the previous one cost; levels that would leave
    less than max(2 GiB, 10 % of RAM) available are skipped and reported.
    """
    r = b.results
    cmds = ("create", "state", "start", "delete", "list")
    for cmd in cmds:
        for level in b.s.levels:
            r.define(f"{cmd}@{level}", f"`{cmd}`, {level} other containers present", "ms")
    r.define("scale:mem", "host memory per created container (MemAvailable drop)", "KiB")
    floor_kib = max(2 * 1024 * 1024, meminfo_kib("MemTotal") // 10)
    # Until measured: created-state Pss_Anon (+25 % for kernel objects), or 32 MiB when unknown.
    per_kib = {rt.name: b.anon_kib.get(rt.name, 32 * 1024) * 1.25 for rt in b.runtimes}
    background: dict[str, list[str]] = {rt.name: [] for rt in b.runtimes}
    key = "scale"
    try:
        for level in sorted(b.s.levels):
            need = sum(max(0, level - len(background[rt.name])) * per_kib[rt.name] for rt in b.active(key))
            avail = meminfo_kib("MemAvailable")
            if avail - need < floor_kib:
                r.notes.append(f"scale: level {level} skipped: it needs about {need / 1024 ** 2:.1f} GiB, "
                               f"{avail / 1024 ** 2:.1f} GiB available, keeping {floor_kib / 1024 ** 2:.1f} GiB free")
                break
            for rt in b.active(key):
                with b.attempt(key, rt):
                    _populate(b, rt, background[rt.name], level, floor_kib, per_kib)
            for i in range(1 + b.s.scale_reps):  # one warm-up
                for rt in b.active(key):
                    with b.attempt(key, rt):
                        timed = []
                        cid, o = b.create(rt)
                        timed.append(("create", o))
                        timed.append(("state", b.cmd(rt, "state", cid)))
                        timed.append(("start", b.cmd(rt, "start", cid)))
                        b.cmd(rt, "kill", cid, "KILL")
                        b.wait_stopped(rt, cid)
                        timed.append(("delete", b.delete(rt, cid)))
                        timed.append(("list", b.cmd(rt, "list", timeout=300.0)))
                        if i:
                            for cmd, o in timed:
                                r.add(f"{cmd}@{level}", rt.name, ms(o))
    finally:
        for rt in b.runtimes:
            if background[rt.name]:
                errors = b.force_delete_all(rt, background[rt.name])
                if errors:
                    r.errors.append(f"scale: {rt.name}: cleanup delete --force failed {len(errors)}×: {errors[0]}")


def _populate(b: Bench, rt: Runtime, background: list[str], level: int, floor_kib: int,
              per_kib: dict[str, float]) -> None:
    """Create containers until rt has `level` in the background; measure the host memory they take."""
    if len(background) >= level:
        return
    before = meminfo_kib("MemAvailable")
    outs: list[Outcome] = []
    ok: list[str] = []
    for _attempt in range(3):  # creates that failed during a reinstall of .venv are made again
        ids = [rt.new_id() for _ in range(level - len(background) - len(ok))]
        batch = b.pool(rt, [rt.argv("create", "--bundle", str(rt.bundle("sleep")), cid) for cid in ids],
                       may_launch=lambda: meminfo_kib("MemAvailable") > floor_kib)
        outs += batch
        ok += [o.argv[-1] for o in batch if o.code == 0]
        if not b.survive_reinstall(rt, batch):
            break
        outs = [o for o in outs if not reinstall_failure(o, rt.binary)]
    background.extend(ok)  # failed ones stay in rt.live: the final clean-up force-deletes them
    time.sleep(0.5)  # let page cache and slab settle a little before reading MemAvailable
    drop = before - meminfo_kib("MemAvailable")
    if ok:  # a measurement over many containers beats the estimate; over a few it is mostly noise
        measured = drop / len(ok)
        per_kib[rt.name] = measured * 1.15 if len(ok) >= 50 else max(per_kib[rt.name], measured)
        b.results.rows["scale:mem"].samples[rt.name] = [drop / len(ok)]
        b.results.note("scale:mem", rt.name, f"at {len(background)}")
    if len(background) < level:
        failed = [o for o in outs if o.code != 0]
        why = failed[0].err.strip() if failed else "stopped launching: memory floor reached"
        raise CommandFailed(f"only {len(background)} of {level} background containers: {why}")


def fig_floor(b: Bench) -> None:
    """The interpreter floor (python -c pass, with and without site) and the harness's own spawn cost."""
    r = b.results
    r.define("floor:pass", "floor: `python -c pass` (same interpreter as oci-runtime)", "ms", ratio=False)
    r.define("floor:S", "floor: `python -S -c pass`", "ms", ratio=False)
    r.define("floor:true", "harness: spawn + reap `/bin/true` (crun: incl. setns)", "ms", ratio=False)
    r.define("floor:rss", "peak-RSS floor: `/bin/true` under the probe (GNU time)", "KiB", ratio=False)
    py = b.s.python
    for i in range(b.s.warmup + b.s.n):
        rec = i >= b.s.warmup
        for key, argv in (("floor:pass", [py, "-c", "pass"]), ("floor:S", [py, "-S", "-c", "pass"])):
            o = b.launcher.run(argv).check()
            if rec:
                r.add(key, OURS, ms(o))
        for rt in b.runtimes:
            o = b.launcher.run(["/bin/true"], rt.mntns).check()
            if rec:
                r.add("floor:true", rt.name, ms(o))
    if b.rss_probe:
        report = b.launcher.tmpdir / "maxrss.txt"
        for rt in b.runtimes:
            b.launcher.run([b.rss_probe, "-f", "%M", "-o", str(report), "--", "/bin/true"], rt.mntns).check()
            r.add("floor:rss", rt.name, int(report.read_text().split()[-1]))


def budget_lines(results: Results) -> list[str]:
    """The issue's budget: each short command at most 5 ms over a bare `python -c pass`."""
    floor = results.median("floor:pass", OURS)
    if floor is None:
        return []
    lines = []
    for cmd in SHORT_COMMANDS:
        med = results.median(cmd, OURS)
        if med is not None:
            over = med - floor
            verdict = "within" if over <= 5.0 else "OVER"
            lines.append(f"- `{cmd}`: {med:.1f} ms = floor {floor:.1f} ms {over:+.1f} ms ({verdict} the 5 ms budget)")
    return lines


FIGURES: dict[str, Callable[[Bench], None]] = {
    "floor": fig_floor,
    "run": fig_run,
    "seccomp": fig_seccomp,
    "commands": fig_commands,
    "run100": fig_run100,
    "concurrent": fig_concurrent,
    "scale": fig_scale,
}


def scan_root(rt: Runtime, prefix: str) -> list[str]:
    """Container ids of ours still present in rt's --root (state dirs named by id)."""
    try:
        return sorted(e.name for e in os.scandir(rt.root) if e.name.startswith(prefix))
    except FileNotFoundError:
        return []

