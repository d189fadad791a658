#!/usr/bin/env python3
"""Benchmark oci-runtime against runc (and crun where it runs): latency, memory and scale, side by side.

Run as root from anywhere: `.venv/bin/python bench/bench.py [--quick] [--only NAME] [--stages] [--write]`.
See bench/README.md for what each figure means. Standard library only, so it measures nothing of ours by
accident and needs nothing installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from figures import CRUN, FIGURES, OURS, RUNC, Bench, Results, Settings, budget_lines, scan_root
from harness import (
    CLIENT_PROFILE,
    PREFIX,
    REPO,
    CommandFailed,
    Interrupted,
    Launcher,
    Runtime,
    cgroup_dirs,
    hidden_cgroup2_namespace,
    install_fingerprint,
    leftovers,
    make_bundles,
    mountinfo_lines,
    remove_stale_cgroups,
    shebang,
    unified_is_cgroup2,
)
from report import load_average, machine, now, table
from stages import stages

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
QUICK = Settings(n=3, warmup=1, run100_count=10, run100_reps=1, concurrent=10, concurrent_reps=1, levels=(10,),
                 scale_reps=2, stage_reps=3, rss_reps=1)


def parse_args() -> argparse.Namespace:
    """Command-line options (see README)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few repetitions and small counts: a smoke run")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"run only these figures (repeatable or comma-separated): {', '.join(FIGURES)}, stages")
    p.add_argument("--stages", action="store_true", help="also break oci-runtime's create and run into stages")
    p.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS_MD.relative_to(REPO)}")
    p.add_argument("-n", "--repetitions", type=int, help="repetitions per single-command figure (default 30)")
    p.add_argument("--levels", help="comma-separated container counts for the scale figure (default 10,100,1000)")
    p.add_argument("--oci-runtime", default=str(REPO / ".venv" / "bin" / "oci-runtime"), help="our runtime")
    p.add_argument("--runc", default="/usr/sbin/runc", help="reference runtime (default /usr/sbin/runc)")
    p.add_argument("--crun", default="/usr/bin/crun", help="third runtime; 'none' to leave it out")
    p.add_argument("--python", help="interpreter for the floor figures (default: the oci-runtime script's #!)")
    p.add_argument("--seccomp-profile", default=str(CLIENT_PROFILE), metavar="CONFIG",
                   help="a config.json whose linux.seccomp the seccomp figure uses (default: podman's, from "
                        "the shared client fixtures beside the clone; 'none' to leave the figure out)")
    args = p.parse_args()
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = set(names) - set(FIGURES) - {"stages"}
    if unknown:
        p.error(f"unknown figure(s) {', '.join(sorted(unknown))}; choose from {', '.join(FIGURES)}, stages")
    args.only = names
    for opt in ("oci_runtime", "runc"):
        if not os.access(getattr(args, opt), os.X_OK):
            p.error(f"{getattr(args, opt)} is not executable")
    if args.repetitions is not None and args.repetitions < 1:
        p.error("--repetitions must be at least 1")
    return args


def client_profile(path: str) -> dict | None:
    """linux.seccomp of the config at path; None for 'none', a missing file or a config without one."""
    try:
        with open(path) as f:
            return json.load(f).get("linux", {}).get("seccomp") if path != "none" else None
    except OSError:
        return None


def interpreter_of(script: str) -> str:
    """The interpreter a console script runs under (its #! line), else the one running us."""
    return (shebang(script) or [sys.executable])[0]


def settings_from(args: argparse.Namespace) -> Settings:
    """Defaults, shrunk by --quick, overridden by explicit options."""
    s = QUICK if args.quick else Settings()
    if args.repetitions:
        s.n = args.repetitions
    if args.levels:
        s.levels = tuple(sorted({int(x) for x in args.levels.split(",") if x.strip()}))
    s.python = args.python or interpreter_of(args.oci_runtime)
    return s


def setup_crun(b: Bench, rt: Runtime) -> str:
    """Make crun runnable here and smoke-test it; return how (for the report). Raises on failure."""
    if unified_is_cgroup2():
        rt.mntns = hidden_cgroup2_namespace()
        how = ("cgroup hybrid host: each crun invocation first setns()es into a private mount namespace "
               "where an empty tmpfs covers /sys/fs/cgroup/unified (the others run in the host namespace)")
    else:
        how = "no cgroup2 at /sys/fs/cgroup/unified: crun runs in the host namespace like the others"
    cid = rt.new_id()
    b.cmd(rt, "run", "--bundle", str(rt.bundle("true")), cid)
    rt.live.discard(cid)
    return how


def cleanup(b: Bench, workdir: Path) -> list[str]:
    """Force-delete every container we may have left, drop the temp dir; return what could not be undone.

    Empty cgroup dirs named after our containers are removed too (with a note saying whose they were).
    """
    problems: list[str] = []
    b.launcher.drain()
    for rt in b.runtimes:
        ids = sorted(rt.live | set(scan_root(rt, PREFIX)))
        try:
            if ids:
                b.force_delete_all(rt, ids)
        except (CommandFailed, OSError) as exc:
            problems.append(f"{rt.name}: delete --force: {exc}")
        problems += [f"{rt.name}: container {cid} still in {rt.root}" for cid in scan_root(rt, PREFIX)]
        if rt.mntns is not None:
            os.close(rt.mntns)
            rt.mntns = None
    b.launcher.close()
    stale = remove_stale_cgroups()
    if stale:
        owners = sorted({rt.name for rt in b.runtimes for d in stale if f"{PREFIX}{rt.tag}" in d})
        b.results.notes.append(f"clean-up removed {len(stale)} empty cgroup dirs left behind by "
                               f"{', '.join(owners) or 'unknown'} (e.g. {stale[0]})")
    problems += leftovers(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    if workdir.exists():
        problems.append(f"could not remove {workdir}")
    return problems


def main() -> int:
    """Run the selected figures, clean up whatever happens, print (and maybe write) the report."""
    args = parse_args()
    if os.geteuid() != 0:
        print("bench: must run as root (the runtimes need it)", file=sys.stderr)
        return 2
    s = settings_from(args)
    wanted = args.only or [*FIGURES, *(["stages"] if args.stages else [])]

    def on_term(signum: int, frame: object) -> None:
        raise Interrupted

    signal.signal(signal.SIGTERM, on_term)
    installed = install_fingerprint(s.python, args.oci_runtime)
    started, load_start = now(), load_average()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
    mounts_before, cgroups_before = mountinfo_lines(), cgroup_dirs()
    workdir = Path(tempfile.mkdtemp(prefix="oci-bench-"))
    results = Results()
    binaries = {OURS: args.oci_runtime, RUNC: args.runc}
    runtimes = [Runtime(OURS, args.oci_runtime, workdir / OURS), Runtime(RUNC, args.runc, workdir / RUNC)]
    crun_how = "not used (--crun none)"
    if args.crun != "none":
        if os.access(args.crun, os.X_OK):
            runtimes.append(Runtime(CRUN, args.crun, workdir / CRUN))
        else:
            crun_how = f"not found at {args.crun}"
    b = Bench(Launcher(workdir), runtimes, s, results)
    if not b.rss_probe:
        results.notes.append("GNU time (/usr/bin/time) not found: peak RSS comes from the bench's own wait4, "
                             "whose ru_maxrss starts at the bench's own RSS; values near it are that floor")
    status = 0
    problems: list[str] = []
    stage_lines: list[str] = []
    try:
        profile = client_profile(args.seccomp_profile)
        if profile is not None:
            b.seccomp_syscalls = sum(len(rule.get("names", [])) for rule in profile.get("syscalls", []))
        for rt in runtimes:
            make_bundles(rt, profile)
        crun = next((rt for rt in runtimes if rt.name == CRUN), None)
        if crun is not None:
            try:
                crun_how = setup_crun(b, crun)
                binaries[CRUN] = crun.binary
            except Exception as exc:  # noqa: BLE001 - any reason at all: leave crun out, say why
                crun_how = f"left out: {exc}"
                b.runtimes = [rt for rt in runtimes if rt is not crun]  # `runtimes` keeps it for the cleanup
        for name in wanted:
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            if name == "stages":
                stage_lines = stages(b, workdir)
            else:
                FIGURES[name](b)
    except (KeyboardInterrupt, Interrupted):
        print("bench: interrupted, cleaning up", file=sys.stderr)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b.runtimes = runtimes
        problems = cleanup(b, workdir)
        mounts_after, cgroups_after = mountinfo_lines(), cgroup_dirs()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    checks = [f"/proc/self/mountinfo: {mounts_before} lines before, {mounts_after} after"]
    if mounts_after != mounts_before:
        problems.append(f"mountinfo changed: {mounts_before} -> {mounts_after} lines")
    new, gone = sorted(cgroups_after - cgroups_before), sorted(cgroups_before - cgroups_after)
    checks.append(f"cgroup dirs: {len(cgroups_before)} before, {len(cgroups_after)} after"
                  + (f"; new: {', '.join(new[:5])}{' …' if len(new) > 5 else ''}" if new else "")
                  + (f"; gone: {', '.join(gone[:5])}{' …' if len(gone) > 5 else ''}" if gone else ""))
    if new or gone:
        checks.append(f"(ours would be named {PREFIX}…, and any of those is listed as a problem below; other "
                      "changes come from whoever else runs containers on this host)")
    if status == 130:
        print("\n".join(f"cleanup: {line}" for line in checks + problems), file=sys.stderr)
        return status

    if b.reinstalls:
        results.notes.append(f"{b.reinstalls} time(s) a command of oci-runtime failed because .venv was being "
                             "reinstalled; the bench waited for the installation to settle and retried it")
    if install_fingerprint(s.python, args.oci_runtime) != installed:
        results.notes.append("oci-runtime was reinstalled in .venv during this run: its figures may mix two versions; "
                             "rerun for clean ones")
    columns = [rt.name for rt in b.runtimes if rt.name in binaries]
    info = machine(binaries, s.python, crun_how, started, load_start)
    command = "bench/bench.py " + " ".join(sys.argv[1:])
    lines = [
        "# oci-runtime benchmark results",
        "",
        (f"Produced by `{command.strip()}` (see bench/README.md). Cells: median (p90) over the repetitions; "
         "ours/runc = ratio of medians."),
        "",
        *[f"- {k}: {v}" for k, v in info],
        (f"- repetitions: {s.n} per command figure after {s.warmup} warm-up; {s.run100_reps} × {s.run100_count} "
         f"runs; {s.concurrent_reps} × {s.concurrent} concurrent creates; scale levels "
         f"{', '.join(map(str, s.levels))} with {s.scale_reps} repetitions each"),
        "",
        *table(results, columns),
        "",
    ]
    budget = budget_lines(results)
    if budget:
        lines += ["## Short commands against the interpreter floor", "", *budget, ""]
    lines += stage_lines
    if results.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in results.notes], ""]
    if results.errors:
        status = 1
        lines += ["## Errors", "", *[f"- {e}" for e in results.errors], ""]
    lines += ["## Clean-up check", "", *[f"- {c}" for c in checks],
              *([f"- PROBLEM: {p}" for p in problems] if problems else ["- nothing left behind"]), ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        RESULTS_MD.write_text(text)
        print(f"bench: wrote {RESULTS_MD}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
