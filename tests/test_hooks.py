"""Lifecycle hooks on real containers (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"):
order, the state on stdin (status as runtime.md defines it at that moment, pid as seen from the
hook's namespace), the namespace each runs in, args/env exactly, timeouts, and what a failure
does to the lifecycle."""
import json
import os
import time
from pathlib import Path

import pytest

from conftest import error_message
from oci_runtime.validate import validate_state

HOOK = """#!/bin/sh
# $1: log file, $2: hook name. Appends: name, net namespace, the state from stdin.
state=$(cat)
echo "$2 $(readlink /proc/self/ns/net) $state" >> "$1"
"""


@pytest.fixture
def hooked(bundle, tmp_path):
    """A bundle whose every hook logs to a file; startContainer's lives inside the rootfs."""
    host_hook = tmp_path / "hook.sh"
    host_hook.write_text(HOOK)
    host_hook.chmod(0o755)
    rootfs = Path(bundle.config["root"]["path"])
    (rootfs / "hook.sh").write_text(HOOK)
    (rootfs / "hook.sh").chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    log = out / "log"
    bundle.config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["bind"]})
    bundle.config["process"]["args"] = ["sleep", "1000"]

    def hook(name: str, path: str = str(host_hook), log_path: str = str(log)) -> dict:
        return {"path": path, "args": ["hook.sh", log_path, name]}

    bundle.config["hooks"] = {
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "startContainer": [hook("startContainer", "/hook.sh", "/out/log")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    }
    bundle.log = log
    bundle.hook = hook
    return bundle


def entries(log: Path) -> list[tuple[str, str, dict]]:
    result = []
    for line in log.read_text().splitlines():
        name, netns, state = line.split(" ", 2)
        result.append((name, netns, json.loads(state)))
    return result


def test_hooks_run_in_order_with_the_spec_states(runtime, hooked):
    runtime("create", "--bundle", hooked.write(), "h1", check=True)
    pid = runtime.state("h1")["pid"]
    runtime("start", "h1", check=True)
    runtime("delete", "--force", "h1", check=True)
    log = entries(hooked.log)
    assert [name for name, _, _ in log] == ["prestart", "createRuntime", "createContainer", "startContainer",
                                           "poststart", "poststop"]
    statuses = {name: (state["status"], state["pid"]) for name, _, state in log}
    assert statuses == {"prestart": ("created", pid), "createRuntime": ("created", pid),
                        "createContainer": ("created", 1), "startContainer": ("created", 1),
                        "poststart": ("running", pid), "poststop": ("stopped", 0)}
    for _, _, state in log:
        validate_state(state)
        assert state["id"] == "h1" and state["bundle"] == str(hooked.path)


def test_each_hook_runs_in_the_namespace_the_spec_names(runtime, hooked):
    runtime("create", "--bundle", hooked.write(), "h1", check=True)
    container_net = os.readlink(f"/proc/{runtime.state('h1')['pid']}/ns/net")
    runtime("start", "h1", check=True)
    runtime("delete", "--force", "h1", check=True)
    host_net = os.readlink("/proc/self/ns/net")
    where = {name: netns for name, netns, _ in entries(hooked.log)}
    assert where == {"prestart": host_net, "createRuntime": host_net, "createContainer": container_net,
                     "startContainer": container_net, "poststart": host_net, "poststop": host_net}


def test_hook_args_and_env_are_exactly_as_given(runtime, bundle, tmp_path):
    """argv[0] is args[0], not path: busybox picks its applet by it (sh here)."""
    out = tmp_path / "args"
    script = f'echo "$0|$1|$X|$Y|$(tr "\\0" " " < /proc/$$/environ)" > {out}'
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/busybox", "args": ["sh", "-c", script, "a0", "b c"],
                                                 "env": ["X=1", "Y=two words"]}]}
    runtime("create", "--bundle", bundle.write(), "h2", check=True)
    assert out.read_text() == "a0|b c|1|two words|X=1 Y=two words \n"


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_hook_fails_create_and_runs_poststop(runtime, hooked, kind):
    hooked.config["hooks"][kind].insert(0, {"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 3"]})
    proc = runtime("create", "--bundle", hooked.write(), "h3")
    assert proc.returncode == 1
    msg = error_message(proc.stderr)
    assert f"hooks.{kind}[0] (/bin/sh): exit status 3: broken" in msg
    assert runtime.ids() == []
    names = [name for name, _, _ in entries(hooked.log)]
    assert names[-1] == "poststop" and kind not in names


def test_a_hook_past_its_timeout_is_killed_and_fails_create(runtime, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    started = time.monotonic()
    proc = runtime("create", "--bundle", bundle.write(), "h4")
    assert time.monotonic() - started < 10
    assert proc.returncode == 1 and "hooks.createRuntime[0] (/bin/sleep): timed out" in error_message(proc.stderr)
    assert runtime.ids() == []


def test_a_failing_start_container_hook_fails_start_and_destroys(runtime, hooked):
    hooked.config["hooks"]["startContainer"] = [{"path": "/bin/false"}]
    runtime("create", "--bundle", hooked.write(), "h5", check=True)
    proc = runtime("start", "h5")
    assert proc.returncode == 1 and "hooks.startContainer[0] (/bin/false): exit status 1" in proc.stderr
    assert runtime.ids() == [], "the container is destroyed (runtime.md lifecycle step 12)"
    assert [name for name, _, _ in entries(hooked.log)][-1] == "poststop"


def test_a_failing_poststart_hook_stops_and_destroys_the_container(runtime, hooked):
    hooked.config["hooks"]["poststart"] = [{"path": "/bin/false"}]
    runtime("create", "--bundle", hooked.write(), "h6", check=True)
    pid = runtime.state("h6")["pid"]
    proc = runtime("start", "h6")
    assert proc.returncode == 1 and "hooks.poststart[0] (/bin/false): exit status 1" in error_message(proc.stderr)
    assert runtime.ids() == []
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"
    assert [name for name, _, _ in entries(hooked.log)][-1] == "poststop"


def test_a_failing_poststop_hook_is_a_warning_and_the_rest_still_run(runtime, hooked, tmp_path):
    log = tmp_path / "runtime.log"
    hooked.config["hooks"]["poststop"].insert(0, {"path": "/bin/false"})
    runtime("create", "--bundle", hooked.write(), "h7", check=True)
    proc = runtime("--log", str(log), "--log-format", "json", "delete", "h7")
    assert proc.returncode == 0
    warning = json.loads(log.read_text())
    assert warning["level"] == "warning" and "hooks.poststop[0] (/bin/false): exit status 1" in warning["msg"]
    assert [name for name, _, _ in entries(hooked.log)][-1] == "poststop"
    assert runtime.ids() == []


@pytest.mark.parametrize("only", ["startContainer", "createContainer"])
def test_a_hook_run_by_the_init_alone(runtime, hooked, only):
    """The init runs createContainer and startContainer hooks itself, the latter after its root
    changed: whatever running a hook needs was loaded while the host's files were in reach, even
    when no other hook ran before."""
    hooked.config["hooks"] = {only: hooked.config["hooks"][only]}
    runtime("create", "--bundle", hooked.write(), "h1", check=True)
    runtime("start", "h1", check=True)
    assert [name for name, _, _ in entries(hooked.log)] == [only]
