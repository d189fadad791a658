"""bench/: not run by the suite for its figures (they depend on the machine and its load; no timing
is asserted here), but it must run against runc on a real bundle, leave nothing behind, and read
what the tools it drives print."""
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OCI_RUNTIME

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def stages():
    sys.path.insert(0, str(BENCH))
    try:
        import stages

        yield stages
    finally:
        sys.path.remove(str(BENCH))


def test_a_quick_bench_runs_both_runtimes_and_leaves_nothing_behind():
    results = (BENCH / "RESULTS.md").read_bytes()
    proc = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--quick", "--only", "run,commands",
                           "--crun", "none", "--oci-runtime", OCI_RUNTIME], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for figure in ("`run` /bin/true", "`create`", "`start`", "`state`", "`exec` /bin/true", "`kill`", "`delete`"):
        row = next(line for line in proc.stdout.splitlines() if line.startswith(f"| {figure}"))
        ours, runc, ratio = (cell.strip() for cell in row.split("|")[3:6])
        assert float(ours) > 0 and float(runc) > 0 and float(ratio) == pytest.approx(float(ours) / float(runc), 0.05)
    assert "- nothing left behind" in proc.stdout, proc.stdout
    assert (BENCH / "RESULTS.md").read_bytes() == results, "written only with --write"


def test_importtime_is_read_as_the_interpreter_prints_it(stages):
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import json"], capture_output=True,
                         text=True, check=True).stderr
    starts, total, top = stages.parse_importtime(err)
    assert starts == 1
    assert "json" in top and "json.decoder" not in top, "nested imports count in their parent"
    assert total >= top["json"] > 0


def test_strace_summary_rows_sorted_by_time(stages):
    text = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 52.00    0.002600          13       200           openat
 40.00    0.002000        2000         1           wait4
  8.00    0.000400           2       200        12 close
------ ----------- ----------- --------- --------- ----------------
100.00    0.005000          12       401        12 total
"""
    assert stages.parse_strace_summary(text) == (0.005, 401, [("openat", 0.0026, 200), ("wait4", 0.002, 1),
                                                              ("close", 0.0004, 200)])


PERF_TRACE = """\
         ? (         ): oci-runtime/996  ... [continued]: execve())                                = 0
     8.695 (         ): oci-runtime/996 clone3(uargs: 0x7ffea4c42910, size: 88)                 ...
     8.924 ( 0.206 ms): 8/997 execve(filename: 0x6322bd40, argv: 0x7f8c6303a010)                 = 0
     8.695 ( 0.374 ms): oci-runtime/996  ... [continued]: clone3())                              = 997
    19.000 ( 0.020 ms): oci-runtime/996 sendmsg(fd: 6, msg: 0x7ffd6bddd000)                      = 900
    20.100 ( 0.010 ms): 8/997 recvmsg(fd: 5, msg: 0x7ffd6bddd100, flags: CMSG_CLOEXEC)           = 900
    22.994 ( 0.554 ms): 8/997 clone3(uargs: 0x7ffd6bddd920, size: 88)                            = 998
    25.000 ( 0.042 ms): 8/998 pivot_root(new_root: 0xa5e390, put_old: 0xa5e390)                  = 0
    27.623 ( 0.556 ms): true/998 execve(filename: 0xbee9a450, argv: 0x7f45befec200)              = 0
    30.050 (         ): oci-runtime/996 exit_group()                                             = ?
"""


def test_the_timeline_of_run_from_perf_trace(stages):
    events = stages.parse_perf_trace(PERF_TRACE)
    assert [pid for pid, _, _ in events] == [996, 997, 996, 996, 997, 997, 998, 998, 996], "no time: skipped"
    pid, seconds, call = events[1]
    assert (pid, seconds) == (997, pytest.approx(0.008924)) and call.startswith("execve(filename: 0x6322bd40,")
    at = stages.parse_timeline(events)
    labels = [label for label, _ in stages.MARKERS]
    expected = {"spawns": 0.0, "is exec'd": 0.229, "waits for its orders": 11.405, "sends the orders": 10.305,
                "forks the init": 14.299, "switches root": 16.305, "program is exec'd": 18.928, "exits": 21.355}
    for key, ms in expected.items():
        i = next(i for i, label in enumerate(labels) if key in label)
        assert at[i] == pytest.approx(ms, abs=1e-6), labels[i]


def test_the_timeline_from_strace_lines(stages):
    text = "996 1700000000.100000 clone3({flags=CLONE_VM|CLONE_VFORK}, 88) = 997\n" \
           "997 1700000000.100300 execve(\"/proc/self/fd/8\", [...]) = 0\n" \
           "998 1700000000.112000 pivot_root(\".\", \".\") = 0\n"
    events = stages.parse_strace(text)
    assert events[0] == (996, 1700000000.1, "clone3({flags=CLONE_VM|CLONE_VFORK}, 88) = 997")
    at = stages.parse_timeline(events)
    assert at[0] == 0.0 and at[1] == pytest.approx(0.3, abs=1e-3)
    pivot = next(i for i, (label, _) in enumerate(stages.MARKERS) if "switches root" in label)
    assert at[pivot] == pytest.approx(12.0, abs=1e-3)
