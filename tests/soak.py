"""Soak: many create/start/exec/kill/delete cycles of real busybox containers, then a count of what
leaked. Expected: zero of everything.

    .venv/bin/python tests/soak.py [--cycles 1000] [--runtime PATH]

(the suite runs a short version: tests/test_soak.py). Reports the mounts, cgroup directories,
processes, open fds and state directories that are left compared with before, and the RSS of any
process of ours still running (there should be none: between commands nothing of oci-runtime
stays alive but the containers' own processes)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conftest import OCI_RUNTIME as RUNTIME  # tests/ is this script's directory
from conftest import REPO, reap


def snapshot(root: Path, tag: str) -> dict:
    """What a leak would show up in, counting only what is this soak's (its container ids start
    with `tag`, its files are under root's parent): other work on the machine doesn't count."""
    cgroups = sum(1 for _, dirs, _ in os.walk("/sys/fs/cgroup") for d in dirs if d.startswith(tag))
    ours = [pid for pid in filter(str.isdigit, os.listdir("/proc")) if _is_ours(pid, tag, str(root.parent))]
    return {
        "mounts": Path("/proc/self/mountinfo").read_text().count(str(root.parent)),
        "cgroup dirs": cgroups,
        "processes of ours": len(ours),
        "fds of this process": len(os.listdir("/proc/self/fd")),
        "state dirs": len(os.listdir(root)) if root.exists() else 0,
        "rss of ours (KiB)": sum(_rss(pid) for pid in ours),
    }


def _is_ours(pid: str, tag: str, work: str) -> bool:
    """A runtime process working under our dir, or any process in one of our containers' cgroups."""
    try:
        return int(pid) != os.getpid() and (work.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
                                             or tag in Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return False


def _rss(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run(runtime: str, root: Path, *args: str) -> None:
    with tempfile.TemporaryFile() as err:  # a file: a detached container keeps its stdio open
        proc = subprocess.run([runtime, "--root", str(root), *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}: {err.read().decode(errors='replace')}")


def cycle(runtime: str, root: Path, bundle: str, cid: str) -> None:
    _run(runtime, root, "create", "--bundle", bundle, cid)
    _run(runtime, root, "start", cid)
    _run(runtime, root, "exec", cid, "true")
    _run(runtime, root, "kill", cid, "KILL")
    deadline = time.monotonic() + 10
    while True:
        with tempfile.TemporaryFile() as out:
            subprocess.run([runtime, "--root", str(root), "state", cid], stdout=out, stderr=subprocess.DEVNULL,
                           timeout=60)
            out.seek(0)
            if json.loads(out.read() or b"{}").get("status") == "stopped" or time.monotonic() > deadline:
                break
        time.sleep(0.01)
    _run(runtime, root, "delete", cid)


def soak(cycles: int, runtime: str = RUNTIME) -> dict:
    """Run the cycles in a temp dir, as a child subreaper like the engines; return
    {what: (before, after)} for everything counted."""
    import prctl

    prctl.set_child_subreaper(True)
    work = Path(tempfile.mkdtemp(prefix="oci-soak-"))
    try:
        shutil.copytree(REPO / "bundles" / "busybox" / "rootfs", work / "rootfs", symlinks=True)
        config = json.loads((REPO / "bundles" / "busybox" / "config.json").read_text())
        config["process"]["args"] = ["sleep", "1000"]
        config["root"]["path"] = str(work / "rootfs")
        (work / "config.json").write_text(json.dumps(config))
        root = work / "state"
        tag = f"soak-{os.getpid()}-"
        before = snapshot(root, tag)
        for i in range(cycles):
            cycle(runtime, root, str(work), f"{tag}{i}")
            reap()
        after = snapshot(root, tag)
        return {what: (before[what], after[what]) for what in before}
    finally:
        prctl.set_child_subreaper(False)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--runtime", default=RUNTIME)
    args = parser.parse_args()
    start = time.monotonic()
    result = soak(args.cycles, args.runtime)
    print(f"{args.cycles} cycles in {time.monotonic() - start:.1f} s")
    leaked = False
    for what, (before, after) in result.items():
        print(f"  {what:22} before {before:7}  after {after:7}  leaked {after - before}")
        leaked |= after != before
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
