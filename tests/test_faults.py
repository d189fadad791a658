"""Killed at any step, nothing leaks: OCI_RUNTIME_FAULT=<step> (oci_runtime/faults.py) makes the
command die by SIGKILL at that step of create, start, exec or delete, or the container's init die
during create. Afterwards `state` answers sensibly (a state object, or "does not exist"),
`delete --force` succeeds, and nothing of the container remains: no state directory or fifo, no
cgroup directory, no process, no process holding a file under the state root, no mount (the
`runtime` fixture compares the host's mount table)."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import Runtime, cgroup_dirs

from oci_runtime import faults

CID = "f1"


def faulty(step: str) -> dict:
    return {**os.environ, "OCI_RUNTIME_FAULT": step}


def holders(root: Path) -> list[str]:
    """Processes with an fd or cwd under the runtime's state root (an init still blocked on its fifo)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            links.append(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        if any(link.startswith(str(root) + "/") for link in links):
            found.append(pid)
    return found


def check_sensible_then_clean(runtime: Runtime, cid: str = CID) -> None:
    proc = runtime("state", cid)
    if proc.returncode == 0:
        state = json.loads(proc.stdout)
        assert state["id"] == cid and state["status"] in ("creating", "created", "running", "stopped", "paused")
    else:
        assert proc.returncode == 1 and "does not exist" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    proc = runtime("delete", "--force", cid)
    assert proc.returncode == 0, proc.stderr
    assert runtime.ids() == [] and not [n for n in os.listdir(runtime.root) if cid in n]
    assert cgroup_dirs(cid) == []
    assert holders(runtime.root) == []


def sleeper(bundle) -> str:
    bundle.config["process"]["args"] = ["sleep", "1000"]
    return bundle.write()


@pytest.mark.parametrize("step", faults.CREATE)
def test_create_killed_at_each_step(runtime, bundle, tmp_path, step):
    proc = runtime("create", "--bundle", sleeper(bundle), "--pid-file", str(tmp_path / "pid"), CID,
                   env=faulty(step), stdin=subprocess.DEVNULL)
    assert proc.returncode == -9, f"create did not reach {step}: {proc.stderr}"
    check_sensible_then_clean(runtime)


@pytest.mark.parametrize("step", faults.INIT)
def test_init_dying_during_create_fails_it_cleanly(runtime, bundle, step):
    proc = runtime("create", "--bundle", sleeper(bundle), CID, env=faulty(step), stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert runtime.ids() == [] and cgroup_dirs(CID) == [] and holders(runtime.root) == []


@pytest.mark.parametrize("step", faults.START)
def test_start_killed_at_each_step(runtime, bundle, step):
    runtime("create", "--bundle", sleeper(bundle), CID, check=True, stdin=subprocess.DEVNULL)
    proc = runtime("start", CID, env=faulty(step))
    assert proc.returncode == -9, f"start did not reach {step}: {proc.stderr}"
    check_sensible_then_clean(runtime)


@pytest.mark.parametrize("step", faults.EXEC)
def test_exec_killed_at_each_step(runtime, bundle, tmp_path, step):
    runtime("run", "-d", "--bundle", sleeper(bundle), CID, check=True, stdin=subprocess.DEVNULL)
    proc = runtime("exec", "-d", "--pid-file", str(tmp_path / "exec.pid"), CID, "sleep", "1000", env=faulty(step))
    assert proc.returncode == -9, f"exec did not reach {step}: {proc.stderr}"
    check_sensible_then_clean(runtime)


@pytest.mark.parametrize("step", faults.DELETE)
def test_delete_killed_at_each_step(runtime, bundle, step):
    runtime("run", "-d", "--bundle", sleeper(bundle), CID, check=True, stdin=subprocess.DEVNULL)
    proc = runtime("delete", "--force", CID, env=faulty(step))
    assert proc.returncode == -9, f"delete did not reach {step}: {proc.stderr}"
    check_sensible_then_clean(runtime)


def test_a_hook_hanging_past_its_timeout_fails_create_cleanly(runtime, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1}]}
    proc = runtime("create", "--bundle", sleeper(bundle), CID, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "timed out" in proc.stderr, proc.stderr
    assert runtime.ids() == [] and cgroup_dirs(CID) == [] and holders(runtime.root) == []


def test_every_step_is_reached_by_some_test():
    """The lists above are the steps faults.point() is called with in the code."""
    src = "\n".join(p.read_text() for p in Path(faults.__file__).parent.rglob("*.py"))
    for step in faults.STEPS:
        assert f'faults.point("{step}")' in src, step


def test_the_intermediate_of_a_create_killed_before_its_orders_exits_quietly(runtime, bundle, tmp_path):
    """The sealed intermediate starts first thing and waits for its orders: when the command dies
    before giving them, it sees the end of its control socket and exits, saying nothing (nothing was
    started) and leaving no process behind."""
    import time

    from conftest import OCI_RUNTIME

    err = tmp_path / "stderr"
    with open(err, "w") as f:
        proc = subprocess.run([OCI_RUNTIME, "--root", str(runtime.root), "create", "--bundle", sleeper(bundle), CID],
                              env=faulty("create:state-dir"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=f, timeout=30)
    assert proc.returncode == -9

    def ours() -> list[str]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if str(runtime.root).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
        return found

    deadline = time.monotonic() + 10
    while ours() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ours() == []
    assert err.read_text() == ""
    check_sensible_then_clean(runtime)
