"""The intermediate moves itself into the container's cgroup (intermediate.join_cgroup, fork_in)
instead of being moved by the command: "0" into each v1 `tasks` file (only the writing thread
moves, which skips the global migration lock and its RCU grace period), and its child is born in
the cgroup2 cgroup (clone3 CLONE_INTO_CGROUP), or joins it through cgroup.procs where clone3 is
refused. Real cgroupfs of this hybrid host; each case runs in a throwaway process."""
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from oci_runtime import cgroups
from oci_runtime.errors import OCIError
from oci_runtime.intermediate import join_cgroup

CG = Path("/sys/fs/cgroup")


@pytest.fixture
def dirs():
    """A fresh pids (v1) and cgroup2 cgroup, removed afterwards."""
    name = f"oci-test-{uuid.uuid4().hex[:8]}"
    made = [CG / "pids" / name, CG / cgroups.UNIFIED / name]
    for d in made:
        d.mkdir()
    yield made
    for d in made:
        d.rmdir()


def in_throwaway_process(code: str) -> dict:
    """Run `code` (which sets `result`) in a new interpreter; its JSON-printed result."""
    script = "import json, os\n" + textwrap.dedent(code) + "\nprint(json.dumps(result))\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


CHILD_CGROUPS = """
from oci_runtime import cgroups
from oci_runtime import intermediate
cgroup2 = intermediate.join_cgroup({"tasks": [%(tasks)r], "cgroup2": %(cgroup2)r})
r, w = os.pipe()
pid = intermediate.fork_in(cgroup2)
if pid == 0:
    os.write(w, json.dumps(cgroups.own_cgroups()).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
child = json.loads(os.read(r, 65536))
result = {"self": cgroups.own_cgroups(), "child": child, "fd_closed": not os.path.exists(f"/proc/self/fd/{cgroup2}")}
"""


def test_the_process_joins_v1_itself_and_its_child_is_born_in_cgroup2(dirs):
    pids, unified = dirs
    out = in_throwaway_process(CHILD_CGROUPS % {"tasks": str(pids / "tasks"), "cgroup2": str(unified)})
    name = "/" + pids.name
    assert out["self"]["pids"] == name and out["child"]["pids"] == name
    assert out["child"][""] == name, "the child is born in the cgroup2 cgroup"
    assert out["self"][""] != name, "the intermediate itself stays where it was in cgroup2"
    assert out["fd_closed"]


def test_without_clone3_the_process_joins_cgroup2_through_cgroup_procs(dirs):
    pids, unified = dirs
    refuse = ("from oci_runtime import syscalls\n"
              "def refused(fd):\n"
              "    raise OSError(38, 'Function not implemented')\n"
              "syscalls.fork_into_cgroup = refused\n")
    out = in_throwaway_process(refuse + CHILD_CGROUPS % {"tasks": str(pids / "tasks"), "cgroup2": str(unified)})
    name = "/" + pids.name
    assert out["child"][""] == name and out["self"][""] == name, "joined through cgroup.procs, then forked"
    assert out["child"]["pids"] == name


def test_join_cgroup_writes_0_into_each_tasks_file(tmp_path):
    files = [tmp_path / "a", tmp_path / "b"]
    for f in files:
        f.write_text("")
    assert join_cgroup({"tasks": [str(f) for f in files], "cgroup2": None}) == -1
    assert [f.read_text() for f in files] == ["0", "0"]
    assert join_cgroup(None) == -1


def test_join_cgroup_names_the_file_it_could_not_write(tmp_path):
    missing = tmp_path / "gone" / "tasks"
    with pytest.raises(OCIError, match=f"cgroups: joining.*{missing}"):
        join_cgroup({"tasks": [str(missing)], "cgroup2": None})
