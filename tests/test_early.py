"""early.py: the sealed interpreter started by the command's script before it imports the command
line, for create, run and exec only."""
import os
import subprocess
import sys

import pytest

from oci_runtime import early, sealed


@pytest.mark.parametrize("args, command", [
    (["run", "--bundle", "b", "id"], "run"),
    (["--root", "/r", "create", "id"], "create"),
    (["--root=/r", "--log", "/l", "--log-format", "json", "exec", "id", "sh"], "exec"),
    (["-debug", "--systemd-cgroup", "state", "id"], "state"),
    (["--log", "run", "list"], "list"),  # `run` is --log's value here
    (["--", "create"], "create"),
    (["--debug"], None),
    ([], None),
])
def test_the_early_start_finds_the_subcommand_after_the_global_flags(args, command):
    assert early.command(args) == command


def test_the_early_start_knows_which_global_flags_take_a_value():
    from oci_runtime import cli

    taking = {name for flag in cli.GLOBAL_FLAGS if flag.value is not None for name in flag.names}
    assert taking == set(early.GLOBAL_VALUE_FLAGS)


def test_only_create_run_and_exec_start_the_intermediate_early(monkeypatch):
    started = []
    monkeypatch.setattr(sealed, "Intermediate", lambda: started.append(1) or object())
    for command in ("state", "start", "kill", "delete", "list", "spec"):
        early.start(["--root", "/r", command, "id"])
        assert early._waiting is None
    waiting = []
    for command in early.COMMANDS:
        early.start(["--root", "/r", command, "id"])
        waiting.append(early._waiting)
        assert early.take() is waiting[-1] and early._waiting is None
    assert len(started) == 3 and None not in waiting
    assert early.take() is not None and len(started) == 4, "none waiting: take() starts one"


def test_the_short_commands_do_not_import_the_sealed_module():
    """state, start, kill, delete and list pay only for early.py, not for sealed.py and its imports."""
    code = ("import sys; from oci_runtime import early; early.start(['--root', '/r', 'state', 'id']); "
            "print('oci_runtime.sealed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_spawn_comes_before_the_os_module():
    """os costs ~1 ms at import (its environ mapping builds _collections_abc): the script's first
    step, the sealed interpreter's spawn, goes without it; the command imports it beside the
    sealed interpreter's start-up."""
    site = f"{sys.prefix}/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"  # as bin/oci-runtime
    code = (f"import sys; sys.path.append({site!r}); from oci_runtime import early; early.start(['run', 'id']); "
            "print(early._waiting.pid > 0, 'os' in sys.modules); early.drop()")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True,
                         cwd="/").stdout
    assert out.split() == ["True", "False"]


def intermediates_of(root: str) -> list[int]:
    """The sealed interpreters whose command line names this state root (its argv ends with ours)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(b"oci_runtime.intermediate" in a for a in argv) and root.encode() in argv:
            pids.append(int(pid))
    return pids


@pytest.mark.parametrize("args", [["create"], ["run", "--help"], ["exec", "--bogus", "id"]])
def test_a_command_that_fails_early_leaves_no_intermediate(tmp_path, args):
    """The script started the intermediate before the command line was parsed: a usage error reaps it."""
    from conftest import OCI_RUNTIME

    root = str(tmp_path / "state")
    subprocess.run([OCI_RUNTIME, "--root", root, *args], capture_output=True, timeout=30, check=False)
    assert intermediates_of(root) == []
    assert not os.path.exists(root)
