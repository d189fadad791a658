"""The runc lifecycle on real busybox containers: create, start, state, kill, delete, run, list,
and the errors runc gives for illegal transitions (runtime.md "Lifecycle", "Operations")."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import OCI_RUNTIME, Runtime, error_message


def wait_status(rt: Runtime, cid: str, want: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = rt.state(cid)
        if state["status"] == want or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def wait_running(rt: Runtime, cid: str, timeout: float = 10) -> None:
    """Wait for a container started by a background `run` to reach "running"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = rt("state", cid)
        if proc.returncode == 0 and json.loads(proc.stdout)["status"] == "running":
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} never reached running")


def create_sleeper(rt: Runtime, bundle, cid: str = "c1", tmp: Path | None = None, **kw) -> dict:
    bundle.config["process"]["args"] = ["sleep", "1000"]
    rt("create", "--bundle", bundle.write(), cid, check=True, **kw)
    return rt.state(cid)


def test_run_returns_the_program_exit_status(runtime, bundle):
    bundle.config["process"]["args"] = ["sh", "-c", "echo hello; exit 3"]
    proc = runtime("run", "--bundle", bundle.write(), "r1")
    assert proc.returncode == 3
    assert proc.stdout == "hello\n"
    assert runtime.ids() == [], "run deletes the container after it exits"


def test_run_reports_death_by_signal_as_128_plus_signal(runtime, bundle):
    import subprocess

    bundle.config["process"]["args"] = ["sleep", "1000"]
    p = subprocess.Popen([OCI_RUNTIME, "--root", str(runtime.root), "run", "--bundle", bundle.write(), "r2"])
    wait_running(runtime, "r2")
    runtime("kill", "r2", "KILL", check=True)
    assert p.wait(timeout=10) == 128 + 9


def test_create_leaves_init_waiting_and_start_runs_the_program(runtime, bundle, tmp_path):
    out = tmp_path / "out"
    bundle.config["process"]["args"] = ["sh", "-c", "echo started > /dev/shm/x; cat /dev/shm/x; sleep 1000"]
    pidfile = tmp_path / "pid"
    with open(out, "w") as f:
        runtime("create", "--bundle", bundle.write(), "--pid-file", str(pidfile), "c1", check=True, stdout=f)
    state = runtime.state("c1")
    assert state["status"] == "created"
    assert pidfile.read_text() == str(state["pid"]), "pid file: decimal pid, no trailing newline"
    time.sleep(0.2)
    assert out.read_text() == "", "the program must not run before start"
    runtime("start", "c1", check=True)
    assert runtime.state("c1")["status"] == "running"
    deadline = time.monotonic() + 5
    while out.read_text() != "started\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.read_text() == "started\n"
    runtime("kill", "c1", "KILL", check=True)
    assert wait_status(runtime, "c1", "stopped")["pid"] == 0
    runtime("delete", "c1", check=True)
    gone = runtime("state", "c1")
    assert gone.returncode == 1 and "container c1 does not exist" in gone.stderr


def test_state_has_runtime_spec_fields_and_runc_extras(runtime, bundle):
    bundle.config["annotations"] = {"org.example.key": "value"}
    state = create_sleeper(runtime, bundle)
    assert list(state) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"]
    assert state["id"] == "c1" and state["bundle"] == str(bundle.path)
    assert state["rootfs"] == bundle.config["root"]["path"]
    assert state["annotations"] == {"org.example.key": "value"}
    assert Path(f"/proc/{state['pid']}").exists()
    from oci_runtime.validate import validate_state

    validate_state(state)


def test_state_prints_nothing_on_stderr(runtime, bundle):
    create_sleeper(runtime, bundle)
    proc = runtime("state", "c1")
    assert proc.returncode == 0 and proc.stderr == ""


def test_relative_root_path_resolves_against_the_bundle(runtime, bundle):
    os.symlink(bundle.config["root"]["path"], bundle.path / "rootfs")
    bundle.config["root"]["path"] = "rootfs"
    bundle.config["process"]["args"] = ["echo", "relative-ok"]
    proc = runtime("run", "--bundle", bundle.write(), "rel")
    assert proc.returncode == 0 and proc.stdout == "relative-ok\n"


@pytest.mark.parametrize("status_cmd", ["start", "delete"])
def test_illegal_transitions_on_a_running_container_change_nothing(runtime, bundle, status_cmd):
    create_sleeper(runtime, bundle)
    runtime("start", "c1", check=True)
    proc = runtime(status_cmd, "c1")
    assert proc.returncode == 1
    expected = {"start": "cannot start an already running container",
                "delete": "cannot delete container c1 that is not stopped: running"}[status_cmd]
    assert expected in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert runtime.state("c1")["status"] == "running"


def test_start_and_kill_of_a_stopped_container_are_errors(runtime, bundle):
    create_sleeper(runtime, bundle)
    runtime("start", "c1", check=True)
    runtime("kill", "c1", "9", check=True)
    wait_status(runtime, "c1", "stopped")
    start = runtime("start", "c1")
    assert start.returncode == 1 and "cannot start a container that has stopped" in start.stderr
    kill = runtime("kill", "c1")
    assert kill.returncode == 1 and "container not running" in kill.stderr
    runtime("delete", "c1", check=True)
    assert runtime.ids() == []


def test_delete_of_a_created_container_succeeds_without_force(runtime, bundle):
    """containerd's shim deletes never-started tasks without --force (conformance/deviations.md)."""
    pid = create_sleeper(runtime, bundle)["pid"]
    runtime("delete", "c1", check=True)
    assert runtime.ids() == []
    assert not Path(f"/proc/{pid}/stat").exists() or Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"


def test_delete_force_kills_a_running_container(runtime, bundle):
    pid = create_sleeper(runtime, bundle)["pid"]
    runtime("start", "c1", check=True)
    runtime("delete", "--force", "c1", check=True)
    assert runtime.ids() == []
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"


def test_delete_of_a_missing_container(runtime):
    proc = runtime("delete", "nope")
    assert proc.returncode == 1 and "container nope does not exist" in proc.stderr
    forced = runtime("delete", "--force", "nope")
    assert forced.returncode == 0 and forced.stderr == ""


@pytest.mark.parametrize("sig", ["TERM", "SIGTERM", "15", "term"])
def test_kill_takes_signal_names_and_numbers(runtime, bundle, sig):
    bundle.config["process"]["args"] = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done"]
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    runtime("start", "c1", check=True)
    time.sleep(0.2)
    runtime("kill", "c1", sig, check=True)
    assert wait_status(runtime, "c1", "stopped")["status"] == "stopped"


def test_kill_defaults_to_sigterm_and_rejects_unknown_signals(runtime, bundle):
    create_sleeper(runtime, bundle)
    bad = runtime("kill", "c1", "FOO")
    assert bad.returncode == 1 and error_message(bad.stderr) == 'unknown signal "FOO"'
    runtime("start", "c1", check=True)
    runtime("kill", "c1", check=True)  # sleep as pid 1 has no TERM handler: the kernel ignores it
    time.sleep(0.2)
    assert runtime.state("c1")["status"] == "running"


def test_kill_all_signals_every_process_of_the_container(runtime, bundle):
    bundle.config["process"]["args"] = ["sh", "-c", "sleep 1000 & sleep 1000 & wait"]
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    runtime("start", "c1", check=True)
    pid = runtime.state("c1")["pid"]
    deadline = time.monotonic() + 5
    while len(children(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sleepers = children(pid)
    assert len(sleepers) == 2
    runtime("kill", "--all", "c1", "KILL", check=True)
    assert wait_status(runtime, "c1", "stopped")["status"] == "stopped"
    for child in sleepers:
        stat = Path(f"/proc/{child}/stat")
        assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def test_create_with_an_existing_id_fails_and_leaves_the_first(runtime, bundle):
    first = create_sleeper(runtime, bundle)
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and "container with id c1 already exists" in proc.stderr
    assert runtime.state("c1") == first
    assert [p for p in os.listdir(runtime.root) if p.startswith(".")] == []


@pytest.mark.parametrize("bad_id", ["a/b", "..", "a b", ""])
def test_invalid_container_ids_are_refused(runtime, bundle, bad_id):
    proc = runtime("create", "--bundle", bundle.write(), bad_id)
    assert proc.returncode == 1 and "invalid container id" in proc.stderr
    assert runtime.ids() == []


def test_list_formats(runtime, bundle):
    create_sleeper(runtime, bundle, "c1")
    create_sleeper(runtime, bundle, "c2")
    runtime("start", "c2", check=True)
    table = runtime("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert [line.split()[2] for line in table[1:]] == ["created", "running"]
    assert table[0].index("PID") == 12, "columns are at least 12 wide, like runc's tabwriter"
    states = json.loads(runtime("list", "--format", "json", check=True).stdout)
    assert [(s["id"], s["status"]) for s in states] == [("c1", "created"), ("c2", "running")]
    assert runtime("list", "-q", check=True).stdout == "c1\nc2\n"


def test_list_of_an_empty_root(runtime):
    assert runtime("list", "--format", "json", check=True).stdout == "[]\n"
    assert runtime("list", check=True).stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


def test_run_detach_leaves_a_running_container(runtime, bundle):
    bundle.config["process"]["args"] = ["sleep", "1000"]
    proc = runtime("run", "--detach", "--bundle", bundle.write(), "d1")
    assert proc.returncode == 0
    assert runtime.state("d1")["status"] == "running"


def test_run_forwards_signals_to_the_container(runtime, bundle):
    import subprocess

    bundle.config["process"]["args"] = ["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.05; done"]
    p = subprocess.Popen([OCI_RUNTIME, "--root", str(runtime.root), "run", "--bundle", bundle.write(), "f1"])
    wait_running(runtime, "f1")
    time.sleep(0.2)
    p.send_signal(signal.SIGUSR1)
    assert p.wait(timeout=10) == 42


def test_spec_writes_a_valid_default_config(tmp_path, runtime):
    runtime("spec", "--bundle", str(tmp_path), check=True)
    from oci_runtime.validate import validate_config

    config = json.loads((tmp_path / "config.json").read_text())
    validate_config(config)
    assert config["root"] == {"path": "rootfs", "readonly": True}
    again = runtime("spec", "--bundle", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr


def test_features_reports_what_is_supported(runtime):
    from oci_runtime.validate import validate_features

    features = json.loads(runtime("features", check=True).stdout)
    validate_features(features)
    assert "rbind" in features["mountOptions"] and "user" in features["linux"]["namespaces"]
    assert "poststop" in features["hooks"]


def test_version_and_help(runtime):
    assert runtime("--version", check=True).stdout.startswith("oci-runtime version ")
    assert "create" in runtime("--help", check=True).stdout
    assert "--pid-file" in runtime("create", "--help", check=True).stdout
    assert runtime("checkpoint", "--help").returncode != 0, "podman probes checkpoint support this way"


def test_delete_force_removes_what_a_killed_create_left_half_made(runtime, bundle):
    """A create killed before renaming its directory into place leaves `.<id>.creating.<pid>`:
    `delete --force <id>` removes it once that pid is gone, and leaves a live create's alone."""
    import subprocess

    runtime.root.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned = runtime.root / f".c1.creating.{dead.pid}"
    abandoned.mkdir()
    (abandoned / "state.json").write_text("{}")
    alive = runtime.root / f".c1.creating.{os.getpid()}"
    alive.mkdir()
    try:
        assert runtime("delete", "--force", "c1").returncode == 0
        assert not abandoned.exists()
        assert alive.exists()
    finally:
        alive.rmdir()


def test_config_changes_after_create_do_not_affect_start_or_delete(runtime, bundle, tmp_path):
    """runtime.md "Lifecycle": changes to config.json after create MUST NOT affect the container. Rewriting the
    bundle's program and its poststart/poststop hooks between create and start: the original program runs and
    only the original hooks are called."""
    log = tmp_path / "hooks.log"
    out = tmp_path / "out"

    def hook(name: str) -> dict:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"echo {name} >> {log}"]}

    bundle.config["process"]["args"] = ["sh", "-c", "echo original; sleep 1000"]
    bundle.config["hooks"] = {"poststart": [hook("poststart-original")], "poststop": [hook("poststop-original")]}
    with open(out, "w") as f:
        runtime("create", "--bundle", bundle.write(), "c1", check=True, stdout=f)
    bundle.config["process"]["args"] = ["sh", "-c", "echo rewritten; sleep 1000"]
    bundle.config["hooks"] = {"poststart": [hook("poststart-rewritten")],
                              "poststop": [hook("poststop-rewritten"), hook("poststop-added")]}
    bundle.write()
    runtime("start", "c1", check=True)
    deadline = time.monotonic() + 5
    while out.read_text() == "" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.read_text() == "original\n"
    runtime("kill", "c1", "KILL", check=True)
    wait_status(runtime, "c1", "stopped")
    runtime("delete", "c1", check=True)
    assert log.read_text().splitlines() == ["poststart-original", "poststop-original"]


def test_spec_config_mounts_the_default_filesystems(tmp_path, runtime, bundle):
    """config-linux.md "Default Filesystems": proc on /proc, sysfs on /sys, devpts on /dev/pts and tmpfs on
    /dev/shm SHOULD be available. The runtime mounts what config.json lists, so `oci-runtime spec` lists them,
    and a container from that config sees those four filesystem types there."""
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    runtime("spec", "--bundle", str(spec_dir), check=True)
    config = json.loads((spec_dir / "config.json").read_text())
    listed = {m["destination"]: m["type"] for m in config["mounts"]}
    wanted = {"/proc": "proc", "/sys": "sysfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs"}
    assert {path: listed.get(path) for path in wanted} == wanted
    config["root"]["path"] = bundle.config["root"]["path"]
    config["process"]["terminal"] = False
    config["process"]["args"] = ["cat", "/proc/self/mountinfo"]
    bundle.config = config
    proc = runtime("run", "--bundle", bundle.write(), "s1")
    assert proc.returncode == 0, proc.stderr
    seen = {}
    for line in proc.stdout.splitlines():
        pre, _, post = line.partition(" - ")
        seen[pre.split()[4]] = post.split()[0]  # later mounts on the same point hide earlier ones
    assert {path: seen.get(path) for path in wanted} == wanted


@pytest.mark.parametrize("annotation, expected", [("USR1", "usr1"), ("10", "usr1"), (None, "term")])
def test_kill_without_a_signal_sends_the_images_stop_signal(runtime, bundle, annotation, expected):
    """config.md: org.opencontainers.image.stopSignal names the signal runtimes SHOULD send to kill
    the container; without it `kill <id>` sends SIGTERM, as runc."""
    if annotation is not None:
        bundle.config["annotations"] = {"org.opencontainers.image.stopSignal": annotation}
    bundle.config["root"]["readonly"] = False
    bundle.config["process"]["args"] = ["sh", "-c", "trap 'touch /got-usr1; exit' USR1; trap 'touch /got-term; exit' TERM;"
                                        " while :; do sleep 0.1; done"]
    runtime("run", "-d", "--bundle", bundle.write(), "k1", check=True, stdin=subprocess.DEVNULL)
    time.sleep(0.3)  # the shell has set its traps
    runtime("kill", "k1", check=True)
    assert wait_status(runtime, "k1", "stopped")["status"] == "stopped"
    rootfs = Path(bundle.config["root"]["path"])
    assert sorted(p.name for p in rootfs.glob("got-*")) == [f"got-{expected}"]


def test_an_invalid_stop_signal_annotation_fails_create(runtime, bundle):
    bundle.config["annotations"] = {"org.opencontainers.image.stopSignal": "SIGNOPE"}
    proc = runtime("create", "--bundle", bundle.write(), "k2")
    assert proc.returncode == 1
    assert error_message(proc.stderr) == ("config.json: annotations['org.opencontainers.image.stopSignal']: "
                                          'unknown signal "SIGNOPE"')
    assert runtime.ids() == []
