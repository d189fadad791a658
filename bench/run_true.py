#!/usr/bin/env python3
"""Compare the per-command latency of oci-runtime and runc.

Times `run` of /bin/true and, on a `sleep 1000` container, `create`,
`start`, `state`, `kill KILL` and `delete`, alternating the two runtimes
iteration by iteration. Stdlib only; must run as root.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SOURCE_BUNDLE = REPO / "bundles" / "busybox"
COMMANDS = ("run", "create", "start", "state", "kill", "delete")
STOP_TIMEOUT = 10.0
_ids = itertools.count()


class CommandFailed(Exception):
    """A runtime command exited non-zero."""


@dataclass
class Runtime:
    """One runtime under test: binary, private --root, samples, leftovers."""

    name: str
    binary: str
    root: str
    samples: dict[str, list[float]] = field(
        default_factory=lambda: {c: [] for c in COMMANDS})
    live: set[str] = field(default_factory=set)
    error: str | None = None


def make_bundle(parent: Path, name: str, args: list[str]) -> Path:
    """Write a bundle under parent whose process runs args on the busybox rootfs."""
    config = json.loads((SOURCE_BUNDLE / "config.json").read_text())
    config["process"]["args"] = args
    config["root"] = {"path": str((SOURCE_BUNDLE / "rootfs").resolve()),
                      "readonly": True}
    bundle = parent / name
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


def invoke(rt: Runtime, args: list[str], sample: str | None = None) -> str:
    """Run `<rt> --root R args`; record wall ms under sample; return stdout.

    Output goes to files, not pipes: a detached container inherits the
    create's stdio and would otherwise keep a pipe open.
    """
    cmd = [rt.binary, "--root", rt.root, *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=err, check=False).returncode
        elapsed_ms = (time.perf_counter() - start) * 1000
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace").strip()
    if rc != 0:
        raise CommandFailed(f"`{' '.join(cmd)}` exited {rc}: {stderr or '(no stderr)'}")
    if sample is not None:
        rt.samples[sample].append(elapsed_ms)
    return stdout


def fresh_id(rt: Runtime, kind: str) -> str:
    """Return a container id never used before and remember it for cleanup."""
    cid = f"bench-{os.getpid()}-{kind}-{next(_ids)}"
    rt.live.add(cid)
    return cid


def wait_stopped(rt: Runtime, cid: str) -> None:
    """Poll `state` (untimed) until the container is stopped."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while json.loads(invoke(rt, ["state", cid]))["status"] != "stopped":
        if time.monotonic() > deadline:
            raise CommandFailed(f"{cid} not stopped {STOP_TIMEOUT:.0f}s after kill")
        time.sleep(0.005)


def cycle(rt: Runtime, true_bundle: Path, sleep_bundle: Path, record: bool) -> None:
    """One iteration: run /bin/true, then the sleep container's lifecycle."""
    def step(args: list[str]) -> None:
        invoke(rt, args, args[0] if record else None)

    cid = fresh_id(rt, "run")
    step(["run", "--bundle", str(true_bundle), cid])
    rt.live.discard(cid)

    cid = fresh_id(rt, "sleep")
    step(["create", "--bundle", str(sleep_bundle), cid])
    step(["start", cid])
    step(["state", cid])
    step(["kill", cid, "KILL"])
    wait_stopped(rt, cid)
    step(["delete", cid])
    rt.live.discard(cid)


def cleanup(rt: Runtime) -> None:
    """Force-delete every container this runtime may have left, drop its root."""
    for cid in sorted(rt.live):
        subprocess.run([rt.binary, "--root", rt.root, "delete", "--force", cid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    rt.live.clear()
    shutil.rmtree(rt.root, ignore_errors=True)


def version(binary: str) -> str:
    """First line of `binary --version`, or why it is unknown."""
    try:
        proc = subprocess.run([binary, "--version"], capture_output=True,
                              text=True, check=False, timeout=30)
    except OSError as exc:
        return f"unknown ({exc})"
    lines = proc.stdout.strip().splitlines()
    return lines[0] if lines else "unknown"


def machine() -> dict[str, Any]:
    """Describe the host the figures come from."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def summarize(ours: Runtime, runc: Runtime) -> list[dict[str, Any]]:
    """Per-command medians (ms) and the ours/runc ratio; None where no data."""
    rows = []
    for cmd in COMMANDS:
        row: dict[str, Any] = {"command": cmd}
        for key, rt in (("oci_runtime", ours), ("runc", runc)):
            data = rt.samples[cmd]
            row[key] = {
                "n": len(data),
                "median_ms": statistics.median(data) if data else None,
                "min_ms": min(data) if data else None,
                "max_ms": max(data) if data else None,
            }
        a, b = row["oci_runtime"]["median_ms"], row["runc"]["median_ms"]
        row["ratio"] = a / b if a is not None and b else None
        rows.append(row)
    return rows


def fmt(value: float | None, spec: str) -> str:
    """Format a number, or 'n/a' when it is missing."""
    return "n/a" if value is None else format(value, spec)


def print_report(info: dict[str, Any], rows: list[dict[str, Any]],
                 runtimes: list[Runtime]) -> None:
    """Print the human-readable table, the machine line and any failures."""
    print(f"date {info['date']}  nproc {info['nproc']}  kernel {info['kernel']}  "
          f"python {info['python']}  iterations {info['iterations']} "
          f"(+{info['warmup']} warm-up)")
    for rt in runtimes:
        print(f"{rt.name}: {rt.binary} ({info['versions'][rt.name]})")
    print()
    header = ("command", "oci-runtime median ms", "runc median ms", "ratio ours/runc")
    table = [header] + [
        (r["command"], fmt(r["oci_runtime"]["median_ms"], ".2f"),
         fmt(r["runc"]["median_ms"], ".2f"), fmt(r["ratio"], ".2f"))
        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for n, line in enumerate(table):
        print(" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(line, widths))))
        if n == 0:
            print("-+-".join("-" * w for w in widths))
    for rt in runtimes:
        if rt.error:
            print(f"\n{rt.name} FAILED: {rt.error}")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oci-runtime", default=str(REPO / ".venv" / "bin" / "oci-runtime"),
                        help="oci-runtime binary (default: .venv/bin/oci-runtime)")
    parser.add_argument("--runc", default="/usr/sbin/runc",
                        help="runc binary (default: /usr/sbin/runc)")
    parser.add_argument("-n", "--iterations", type=int, default=30,
                        help="timed iterations per runtime (default: 30)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed warm-up iterations per runtime (default: 3)")
    parser.add_argument("--json", action="store_true",
                        help="also print the results as JSON")
    args = parser.parse_args()
    for opt in ("oci_runtime", "runc"):
        if not os.access(getattr(args, opt), os.X_OK):
            parser.error(f"{getattr(args, opt)} is not an executable")
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")
    return args


def main() -> int:
    """Benchmark both runtimes; return 1 if any runtime command failed."""
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    workdir = Path(tempfile.mkdtemp(prefix="oci-bench-"))
    runtimes = [Runtime("oci-runtime", args.oci_runtime,
                        tempfile.mkdtemp(prefix="root-ours-", dir=workdir)),
                Runtime("runc", args.runc,
                        tempfile.mkdtemp(prefix="root-runc-", dir=workdir))]
    info = machine()
    try:
        true_bundle = make_bundle(workdir, "true", ["/bin/true"])
        sleep_bundle = make_bundle(workdir, "sleep", ["sleep", "1000"])
        for i in range(args.warmup + args.iterations):
            for rt in runtimes:
                if rt.error is None:
                    try:
                        cycle(rt, true_bundle, sleep_bundle, record=i >= args.warmup)
                    except (CommandFailed, OSError, ValueError, KeyError) as exc:
                        rt.error = str(exc) if isinstance(exc, CommandFailed) else repr(exc)
            if all(rt.error for rt in runtimes):
                break
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        for rt in runtimes:
            cleanup(rt)
        shutil.rmtree(workdir, ignore_errors=True)

    info |= {"iterations": args.iterations, "warmup": args.warmup,
             "versions": {rt.name: version(rt.binary) for rt in runtimes}}
    rows = summarize(*runtimes)
    print_report(info, rows, runtimes)
    if args.json:
        print(json.dumps({"machine": info, "results": rows,
                          "errors": {rt.name: rt.error for rt in runtimes}}, indent=2))
    return 1 if any(rt.error for rt in runtimes) else 0


if __name__ == "__main__":
    sys.exit(main())
