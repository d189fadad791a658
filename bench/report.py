"""Machine description and the Markdown table: figures are only comparable with the machine beside them."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from pathlib import Path

from figures import CRUN, OURS, RUNC, Results, Row
from harness import REPO


def _first_line(argv: list[str]) -> str:
    """First line of a command's stdout, or why there is none."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30).stdout
    except OSError as exc:
        return f"unknown ({exc})"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def _os_release() -> str:
    """PRETTY_NAME from /etc/os-release."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git() -> str:
    """The working tree's commit and whether it has uncommitted changes."""
    head = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other people's work on the host shows up here."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def now() -> str:
    """UTC date and time, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def machine(binaries: dict[str, str], python: str, crun_how: str, started: str, load_start: str) -> list[tuple[str, str]]:
    """(label, value) pairs describing the host and the runtimes."""
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    info = [
        ("date", f"{started} to {now()}"),
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)"),
        ("memory", f"{mem_kib / 1024 ** 2:.1f} GiB"),
        ("kernel", platform.release()),
        ("distro", _os_release()),
        ("python", f"{_first_line([python, '-VV'])} ({python})"),
        ("load average (1, 5, 15 min)", f"{load_start} at the start, {load_average()} at the end"),
    ]
    versions = {OURS: [binaries.get(OURS, ""), "--version"], RUNC: [binaries.get(RUNC, ""), "--version"],
                CRUN: [binaries.get(CRUN, ""), "--version"]}
    for name, argv in versions.items():
        if binaries.get(name):
            extra = f", tree {_git()}" if name == OURS else ""
            info.append((name, f"{_first_line(argv)} ({binaries[name]}{extra})"))
    info.append(("crun set-up", crun_how))
    return info


def _quantile90(data: list[float]) -> float:
    """90th percentile (inclusive method, so small samples stay inside their range)."""
    return statistics.quantiles(data, n=10, method="inclusive")[8]


def _num(value: float, unit: str) -> str:
    """A number at a precision that suits its unit and size."""
    if unit == "KiB":
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _cell(row: Row, name: str) -> str:
    """median (p90) [note] for one runtime."""
    data = row.samples.get(name)
    note = row.notes.get(name, "")
    if not data:
        return note or "—"
    text = _num(statistics.median(data), row.unit)
    if row.unit in ("ms", "s") and len(data) >= 5:
        text += f" ({_num(_quantile90(data), row.unit)})"
    return f"{text} · {note}" if note else text


def table(results: Results, columns: list[str]) -> list[str]:
    """The Markdown table: one row per figure that has data."""
    head = "| figure | unit | " + " | ".join(columns) + " | ours/runc |"
    lines = [head, "|---|---|" + "---:|" * (len(columns) + 1)]
    for row in results.rows.values():
        if not row.samples and not row.notes:
            continue
        ours = statistics.median(row.samples[OURS]) if row.samples.get(OURS) else None
        runc = statistics.median(row.samples[RUNC]) if row.samples.get(RUNC) else None
        ratio = f"{ours / runc:.2f}" if row.ratio and ours is not None and runc else "—"
        cells = " | ".join(_cell(row, name) for name in columns)
        lines.append(f"| {row.label} | {row.unit} | {cells} | {ratio} |")
    return lines
