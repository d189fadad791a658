"""--stages: where oci-runtime's `create` and `run` spend their time.

Two views. The timeline of `run`: when each step happens, from `perf trace` (else `strace -f`) of a few
marker syscalls (the spawn of the sealed interpreter, its exec, its first recvmsg, the parent's sendmsg of its
orders, pivot_root, ...). And the interpreter's share: start-ups (the command's `python -c pass` with its #!
flags; the sealed interpreter's `python -I -S -c pass` runs beside the command's own work), the imports of both
processes (-X importtime) and the largest of them. Optionally
strace -c -f for the kernel time of the syscalls. Only oci-runtime: runc and crun have no interpreter or
imports to split off.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path

from figures import OURS, Bench, ms
from harness import CommandFailed, Runtime, shebang

HEADER = "import time: self [us] | cumulative | imported package"


def parse_importtime(text: str) -> tuple[int, float, dict[str, float]]:
    """From -X importtime's stderr: interpreter start-ups (one header each), the sum of top-level
    cumulative times (ms) and the per-module top-level times (ms)."""
    starts = 0
    total = 0.0
    top: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(HEADER):
            starts += 1
            continue
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or parts[2].startswith("  "):  # nested import: already in its parent's cumulative
            continue
        cumulative = int(parts[1]) / 1000.0
        name = parts[2].strip()
        total += cumulative
        top[name] = top.get(name, 0.0) + cumulative
    return starts, total, top


def parse_strace_summary(text: str) -> tuple[float, int, list[tuple[str, float, int]]]:
    """From `strace -c`: total seconds, total calls, and (syscall, seconds, calls) by time, largest first."""
    rows = []
    total_s, total_calls = 0.0, 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0].replace(".", "", 1).isdigit():
            continue
        seconds, calls, name = float(fields[1]), int(fields[3]), fields[-1]
        if name == "total":
            total_s, total_calls = seconds, calls
        else:
            rows.append((name, seconds, calls))
    rows.sort(key=lambda r: r[1], reverse=True)
    return total_s, total_calls, rows


def _command(rt: Runtime, which: str, cid: str) -> list[str]:
    """Arguments of the staged command (always the /bin/true bundle)."""
    return [which, "--bundle", str(rt.bundle("true")), cid]


def _after(b: Bench, rt: Runtime, which: str, cid: str) -> None:
    """Untimed clean-up of one staged command: a created container is force-deleted."""
    if which == "create":
        b.delete(rt, cid, force=True)
    else:
        rt.live.discard(cid)


def _strace(b: Bench, rt: Runtime, which: str, tmp: Path) -> tuple[float, int, list[tuple[str, float, int]]]:
    """strace -f -c one command. For create, strace also follows the init, which waits for `start`: so we
    wait (untimed) for the created state, start it, and strace ends when /bin/true has exited."""
    out = tmp / f"strace-{which}.txt"
    cid = rt.new_id()
    argv = [shutil.which("strace") or "strace", "-f", "-c", "-o", str(out), "--", *rt.argv(*_command(rt, which, cid))]
    proc = b.launcher.spawn(argv, rt.mntns)
    if which == "create":
        deadline = time.monotonic() + 60
        while True:
            st = b.launcher.run(rt.argv("state", cid), rt.mntns)
            if st.code == 0 and '"created"' in st.out:
                break
            if time.monotonic() > deadline:
                b.launcher.kill(proc)
                raise CommandFailed("strace'd create never reached the created state")
            time.sleep(0.01)
        b.cmd(rt, "start", cid)
    b.launcher.wait(proc, 120).check()
    if which == "create":
        b.delete(rt, cid, force=True)
    else:
        rt.live.discard(cid)
    return parse_strace_summary(out.read_text())


def stages(b: Bench, tmp: Path) -> list[str]:
    """Measure the breakdown and return it as Markdown lines."""
    rt = next((x for x in b.runtimes if x.name == OURS), None)
    if rt is None:
        return []
    reps = b.s.stage_reps
    py = b.s.python

    def importtime(argv: list[str]) -> tuple[int, float, dict[str, float]]:
        o = b.launcher.run(argv)
        if b.survive_reinstall(rt, [o]):
            o = b.launcher.run(argv)
        return parse_importtime(o.check().err)

    flags = shebang(rt.binary)[1:]  # `make install` gives the script -IS
    floor = [ms(b.launcher.run([py, *flags, "-c", "pass"]).check()) for _ in range(reps)]
    floor_runs = [importtime([py, *flags, "-X", "importtime", "-c", "pass"]) for _ in range(reps)]
    t_pass, i_pass = statistics.median(floor), statistics.median(r[1] for r in floor_runs)
    # the sealed interpreter's start-up (oci_runtime/sealed.py: -I -S)
    sealed = [ms(b.launcher.run([py, "-I", "-S", "-c", "pass"]).check()) for _ in range(reps)]
    sealed_runs = [importtime([py, "-X", "importtime", "-I", "-S", "-c", "pass"]) for _ in range(reps)]
    t_sealed, i_sealed = statistics.median(sealed), statistics.median(r[1] for r in sealed_runs)
    startup_mods = set(floor_runs[0][2])  # site, encodings, ...: part of every start-up

    cols: dict[str, dict[str, str]] = {}
    for which in ("create", "run"):
        walls, imports, starts_seen = [], [], []
        tops: dict[str, list[float]] = {}
        for i in range(1 + reps):  # one warm-up
            cid = rt.new_id()
            o = b.cmd(rt, *_command(rt, which, cid))
            _after(b, rt, which, cid)
            cid = rt.new_id()
            starts, total, top = importtime([py, *flags, "-X", "importtime", rt.binary, "--root", str(rt.root),
                                             *_command(rt, which, cid)])
            _after(b, rt, which, cid)
            if i:
                walls.append(ms(o))
                imports.append(total)
                starts_seen.append(starts)
                for name, t in top.items():
                    tops.setdefault(name, []).append(t)
        wall = statistics.median(walls)
        k = max(set(starts_seen), key=starts_seen.count)
        extra = statistics.median(imports) - i_pass - (k - 1) * i_sealed
        slowest = sorted(((statistics.median(v), n) for n, v in tops.items()), reverse=True)
        slowest_txt = ", ".join([f"`{n}` {t:.1f}" for t, n in slowest if n not in startup_mods][:6])
        col = {
            "wall": f"{wall:.1f}",
            "startup": f"{t_pass:.1f} + {k - 1} × {t_sealed:.1f} beside it",
            "imports": f"{extra:.1f}",
            "slowest": slowest_txt,
        }
        if shutil.which("strace"):
            try:
                total_s, calls, rows = _strace(b, rt, which, tmp)
                col["strace"] = f"{total_s * 1000:.1f} ms in {calls} calls"
                col["strace_top"] = ", ".join(f"{n} {s * 1000:.1f} ({c})" for n, s, c in rows[:6])
            except (CommandFailed, OSError, ValueError) as exc:
                col["strace"] = f"failed: {exc}"
                col["strace_top"] = ""
        cols[which] = col

    labels = [
        ("wall", f"wall time, median of {reps}, ms"),
        ("startup", f"interpreter start-ups: the command's `python {' '.join([*flags, '-c pass'])}` + the sealed "
                    "interpreter's `python -I -S -c pass` (in parallel), ms"),
        ("imports", "imports of both processes beyond their start-ups' own (`-X importtime`, top-level "
                    "cumulative; the sealed interpreter's overlap the command's), ms"),
        ("slowest", "largest top-level imports (cumulative ms, under -X importtime)"),
        ("strace", "`strace -c -f`: kernel time in syscalls (all processes)"),
        ("strace_top", "`strace -c -f`: top syscalls, ms (calls)"),
    ]
    lines = [
        "## Stages of oci-runtime's `create` and `run`",
        "",
        (f"`python {' '.join([*flags, '-c pass'])}` (the command's start-up, with its `#!` flags) = {t_pass:.1f} ms, "
         f"of which its own start-up imports (encodings, …) {i_pass:.1f} ms under -X importtime; "
         f"`python -I -S -c pass` (the sealed interpreter's start-up) = {t_sealed:.1f} ms, {i_sealed:.1f} ms of imports."),
        "",
        "| stage | `create` | `run` |",
        "|---|---:|---:|",
    ]
    for key, label in labels:
        if any(key in c for c in cols.values()):
            lines.append(f"| {label} | {cols['create'].get(key, '')} | {cols['run'].get(key, '')} |")
    lines += [
        "",
        ("-X importtime inflates what it measures a little; strace -c reports system time spent in syscalls "
         "(not wall time) while slowing everything else down, so read it only for proportions."),
        "",
    ]
    if shutil.which("perf") or shutil.which("strace"):
        lines += timeline(b, rt, tmp, reps)
    return lines


# (label, test(pid, syscall text "name(args...", the command's pid, the sealed interpreter's pid)): the
# first event that passes marks the step; the steps are listed in the order they happened
MARKERS = [
    ("the command spawns the sealed interpreter (after its own start-up and first imports)",
     lambda pid, text, main, copy: pid == main and text.startswith(("clone(", "clone3(", "vfork("))),
    ("the sealed interpreter is exec'd",
     lambda pid, text, main, copy: pid == copy and text.startswith("execve(")),
    ("it waits for its orders (its start-up and imports done)",
     lambda pid, text, main, copy: pid == copy and text.startswith("recvmsg(")),
    ("the command sends the orders (config read and checked, state dir, cgroup)",
     lambda pid, text, main, copy: pid == main and text.startswith("sendmsg(")),
    ("the intermediate forks the init (in its cgroup, namespaces made)",
     lambda pid, text, main, copy: pid == copy and text.startswith(("clone(", "clone3("))),
    ("the init switches root (mounts, devices done; it is ready soon after)",
     lambda pid, text, main, copy: text.startswith("pivot_root(")),
    ("the program is exec'd", lambda pid, text, main, copy: pid not in (main, copy) and text.startswith("execve(")),
    ("the command exits (after wait and delete)",
     lambda pid, text, main, copy: pid == main and text.startswith("exit_group(")),
]
TRACED = "execve,recvmsg,sendmsg,clone,clone3,vfork,pivot_root,exit_group"


def parse_strace(text: str) -> list[tuple[int, float, str]]:
    """(pid, seconds, "name(args...") of each line of `strace -f -ttt -o` output."""
    events = []
    for line in text.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[1].replace(".", "", 1).isdigit():
            events.append((int(fields[0]), float(fields[1]), fields[2]))
    return events


def parse_perf_trace(text: str) -> list[tuple[int, float, str]]:
    """(pid, seconds, "name(args...") of each event of `perf trace` output, whose lines read
    `  16.544 ( 0.541 ms): comm/pid name(args) = result` (ms since perf started)."""
    events = []
    for line in text.splitlines():
        head, sep, rest = line.partition("): ")
        stamp = head.split(" (")[0].strip()
        task, _, call = rest.partition(" ")
        pid = task.rpartition("/")[2]
        if sep and stamp.replace(".", "", 1).isdigit() and pid.isdigit() and "(" in call:
            events.append((int(pid), float(stamp) / 1000, call.strip()))
    return events


def parse_timeline(events: list[tuple[int, float, str]]) -> list[float | None]:
    """Milliseconds from the command's spawn of the sealed interpreter to each marker (None: not seen)."""
    if not events:
        return [None] * len(MARKERS)
    main = events[0][0]
    spawn = next((t for pid, t, text in events if MARKERS[0][1](pid, text, main, None)), None)
    copy = next((pid for pid, _, text in events if pid != main and text.startswith("execve(")), None)
    if spawn is None:
        return [None] * len(MARKERS)
    return [next(((t - spawn) * 1000 for pid, t, text in events if test(pid, text, main, copy)), None)
            for _, test in MARKERS]


TRACEFS = "/sys/kernel/tracing"


def _tracefs_mounted() -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == TRACEFS for line in f)


def _traced_runs(b: Bench, rt: Runtime, tmp: Path, reps: int) -> tuple[list[list[float | None]], str | None]:
    """The markers' times of each traced `run`, and perf's path if perf traced them (else strace did)."""
    perf = shutil.which("perf")
    runs = []
    for _ in range(reps):
        out = tmp / "timeline.txt"
        cid = rt.new_id()
        command = rt.argv(*_command(rt, "run", cid))
        if perf:
            argv = [perf, "trace", "-f", "-e", TRACED, "-o", str(out), "--", *command]
        else:
            argv = [shutil.which("strace") or "strace", "-f", "--seccomp-bpf", "-ttt", "-o", str(out),
                    "-e", f"trace={TRACED}", "--", *command]
        o = b.launcher.run(argv, rt.mntns)
        rt.live.discard(cid)
        if perf and o.code != 0:  # perf is there but may not trace here (perf_event_paranoid...): strace
            perf = None
            continue
        o.check()
        text = out.read_text()
        runs.append(parse_timeline(parse_perf_trace(text) if perf else parse_strace(text)))
    return runs, perf


def timeline(b: Bench, rt: Runtime, tmp: Path, reps: int) -> list[str]:
    """Median time of each marker of `run`, from `perf trace` where it works (a small slow-down), else
    from strace -f (only the marker syscalls, filtered in the kernel with --seccomp-bpf; it still
    slows down what a process does between them, the init's mounts most)."""
    tracefs_before = _tracefs_mounted()
    try:
        runs, perf = _traced_runs(b, rt, tmp, reps)
    finally:  # perf trace mounts tracefs for itself and leaves it there: put the host's mount table back
        if not tracefs_before and _tracefs_mounted():
            subprocess.run(["umount", TRACEFS], check=False)
    tool = "`perf trace -f`" if perf else "`strace -f --seccomp-bpf` (perf is not installed: read the init's step as inflated)"
    lines = ["## Timeline of oci-runtime's `run`", "",
             (f"Median over {len(runs)} runs under {tool}, marker syscalls only; ms since the command spawned the "
              "sealed interpreter. Before that: the command's start-up (its `python -IS -c pass`, above) and the "
              "imports the spawn needs (early.py, sealed.py, the cffi shim for the overlay), not yet its command line's."),
             "", "| step | at, ms | since the step before, ms |", "|---|---:|---:|"]
    medians = []
    for i, (label, _) in enumerate(MARKERS):
        times = [r[i] for r in runs if r[i] is not None]
        medians.append((statistics.median(times) if times else None, label))
    before = 0.0
    for at, label in sorted(medians, key=lambda m: float("inf") if m[0] is None else m[0]):
        if at is None:
            lines.append(f"| {label} | — | — |")
            continue
        lines.append(f"| {label} | {at:.1f} | {at - before:.1f} |")
        before = at
    return [*lines, ""]
