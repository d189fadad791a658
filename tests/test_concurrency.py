"""oci-runtime raced against itself (issue 8, item 2): the same id created by many processes at once, one
container hit by concurrent `delete --force`, `kill` and `state`, and many full lifecycles in parallel.

Every command is a separate `oci-runtime` process, started from threads; the runtime serialises them with its
per-container lock (the state directory, flock'd) and its create-by-rename. What must hold: exit codes are 0 or
1 with exactly one logrus error line, never a traceback or an "internal error"; state.json is only ever seen
whole; and nothing (state, processes, mounts) is left at the end (the `runtime` fixture checks that too).
"""
import json
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import Runtime

LOGRUS = re.compile(r'time="[^"]+" level=(debug|info|warning|error) msg=.*')
N_CREATES = 8


def assert_clean_outcome(proc: subprocess.CompletedProcess, what: str) -> None:
    """Exit 0 with no error line, or exit 1 with exactly one logrus error line; no traceback, no internal error."""
    stderr = proc.stderr or ""
    assert "Traceback" not in stderr, f"{what}: traceback on stderr:\n{stderr}"
    assert "internal error" not in stderr, f"{what}: an internal error (a bug) was reported: {stderr!r}"
    assert proc.returncode in (0, 1), f"{what}: exit code {proc.returncode}, stderr {stderr!r}"
    lines = stderr.splitlines()
    assert all(LOGRUS.fullmatch(line) for line in lines), f"{what}: stderr is not logrus lines: {stderr!r}"
    errors = [line for line in lines if " level=error " in line]
    assert len(errors) == (1 if proc.returncode else 0), f"{what}: exit {proc.returncode}, stderr {stderr!r}"


def race(calls: list, workers: int | None = None) -> list:
    """Run the zero-argument callables at (nearly) the same moment, each in its own thread; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=workers or len(calls)) as pool:
        return list(pool.map(go, calls))


def sleeper_bundle(bundle) -> str:
    bundle.config["process"]["args"] = ["sleep", "1000"]
    return bundle.write()


def bundle_copies(bundle, n: int) -> list[str]:
    """n more bundle directories holding the same config.json (all pointing at the one private rootfs)."""
    source = Path(sleeper_bundle(bundle))
    copies = []
    for i in range(n):
        copy = source.parent / f"bundle-copy-{i}"
        shutil.copytree(source, copy)
        copies.append(str(copy))
    return copies


def check_one_create_won(runtime: Runtime, results: list[subprocess.CompletedProcess]) -> None:
    for i, proc in enumerate(results):
        assert_clean_outcome(proc, f"create #{i}")
    winners = [p for p in results if p.returncode == 0]
    losers = [p for p in results if p.returncode != 0]
    assert len(winners) == 1, [(p.returncode, p.stderr) for p in results]
    for proc in losers:
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and 'msg="container with id c1 already exists"' in proc.stderr, proc.stderr
    assert runtime.ids() == ["c1"]
    assert sorted(p.name for p in runtime.root.iterdir()) == ["c1"], "a hidden half-made directory was left"
    state = runtime.state("c1")
    assert state["status"] == "created" and Path(f"/proc/{state['pid']}").exists()
    runtime("delete", "--force", "c1", check=True)
    assert runtime.ids() == []
    assert list(runtime.root.iterdir()) == []
    assert not Path(f"/proc/{state['pid']}").exists() or "Z" in Path(f"/proc/{state['pid']}/stat").read_text()


def test_parallel_creates_of_one_id_from_one_bundle_make_exactly_one_container(runtime, bundle):
    """Race: N `create c1` from the same bundle directory. Exactly one wins; every other exits 1 with runc's
    one-line `container with id c1 already exists`; after delete --force nothing is left."""
    path = sleeper_bundle(bundle)
    results = race([lambda: runtime("create", "--bundle", path, "c1", stdin=subprocess.DEVNULL)] * N_CREATES)
    check_one_create_won(runtime, results)


def test_parallel_creates_of_one_id_from_separate_bundles_make_exactly_one_container(runtime, bundle):
    """Race: N `create c1`, each from its own copy of the bundle directory: the same outcome as from one bundle."""
    paths = bundle_copies(bundle, N_CREATES)
    results = race([lambda p=p: runtime("create", "--bundle", p, "c1", stdin=subprocess.DEVNULL) for p in paths])
    check_one_create_won(runtime, results)
    assert {json.loads((Path(p) / "config.json").read_text())["process"]["args"][0] for p in paths} == {"sleep"}


class StateFileWatcher(threading.Thread):
    """Reads <root>/<id>/state.json over and over while commands race, and json-parses it whenever it exists:
    a reader must only ever see a whole document (state.json is written with temp file + rename)."""

    def __init__(self, root: Path, cid: str) -> None:
        super().__init__(daemon=True)
        self.path = root / cid / "state.json"
        self.stop = threading.Event()
        self.reads = 0
        self.corrupt: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                text = self.path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                continue
            self.reads += 1
            try:
                doc = json.loads(text)
                assert isinstance(doc, dict) and "pid" in doc
            except (ValueError, AssertionError):
                self.corrupt.append(text[:200].decode(errors="replace"))


def test_concurrent_delete_kill_and_state_on_one_running_container(runtime, bundle):
    """Race: many `delete --force`, `kill c1 KILL` and `state c1` at once on one running container. Each
    command exits 0 or 1 with one error line and no traceback; state.json is never seen corrupt; the container
    ends up gone, with no process or mount left (the fixture checks those)."""
    runtime("create", "--bundle", sleeper_bundle(bundle), "c1", check=True, stdin=subprocess.DEVNULL)
    runtime("start", "c1", check=True)
    pid = runtime.state("c1")["pid"]
    watcher = StateFileWatcher(runtime.root, "c1")
    watcher.start()
    commands = [("delete", "--force", "c1"), ("kill", "c1", "KILL"), ("state", "c1")] * 6
    commands += [("kill", "--all", "c1", "KILL"), ("delete", "c1"), ("list",)] * 2
    try:
        results = race([lambda c=c: runtime(*c) for c in commands], workers=len(commands))
    finally:
        watcher.stop.set()
        watcher.join()
    for args, proc in zip(commands, results):
        assert_clean_outcome(proc, " ".join(args))
        if proc.returncode == 1:
            assert any(s in proc.stderr for s in ("does not exist", "container not running", "not stopped")), (
                args, proc.stderr)
        if args[0] == "state" and proc.returncode == 0:
            assert json.loads(proc.stdout)["id"] == "c1"
    assert not watcher.corrupt, f"state.json read corrupt: {watcher.corrupt[:3]}"
    assert any(p.returncode == 0 for args, p in zip(commands, results) if args[:2] == ("delete", "--force"))
    assert runtime.ids() == []
    assert list(runtime.root.iterdir()) == [], "hidden debris left in the root"
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]:
        assert time.monotonic() < deadline, "the container's init outlived delete --force"
        time.sleep(0.02)


def lifecycle(runtime: Runtime, bundle_path: str, cid: str) -> list[str]:
    """create, start, exec true, kill KILL, wait for stopped, delete: the failures, as text."""
    failures = []

    def step(*args: str, **kw) -> subprocess.CompletedProcess:
        proc = runtime(*args, stdin=subprocess.DEVNULL, **kw)
        if proc.returncode != 0 or "Traceback" in (proc.stderr or ""):
            failures.append(f"{cid}: {' '.join(args)} -> {proc.returncode}: {proc.stderr!r}")
        return proc

    if step("create", "--bundle", bundle_path, cid).returncode != 0:
        return failures
    step("start", cid)
    step("exec", cid, "true")
    step("kill", cid, "KILL")
    deadline = time.monotonic() + 10
    while True:
        proc = runtime("state", cid)
        if proc.returncode != 0 or json.loads(proc.stdout)["status"] == "stopped":
            break
        if time.monotonic() > deadline:
            failures.append(f"{cid}: not stopped 10 s after kill KILL")
            break
        time.sleep(0.02)
    step("delete", cid)
    return failures


def test_fifty_lifecycles_in_parallel_all_succeed_and_leave_nothing(runtime, bundle):
    """Load: 50 containers, each created, started, exec'd into, killed and deleted by one of 8 workers (all from
    one bundle and rootfs). Every step succeeds; at the end no state, process or mount remains."""
    path = sleeper_bundle(bundle)
    ids = [f"p{i:02d}" for i in range(50)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = [f for result in pool.map(lambda cid: lifecycle(runtime, path, cid), ids) for f in result]
    assert not failures, "\n".join(failures)
    assert runtime.ids() == []
    assert list(runtime.root.iterdir()) == []
    assert time.monotonic() - started < 60
