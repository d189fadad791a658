"""Unit tests of state.py: container ids, timestamps, /proc start times, the state directory's layout and
atomicity, status derivation from a live pid and its start time, and the runtime-spec state object."""
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oci_runtime import state
from oci_runtime.errors import ContainerExists, ContainerNotFound, OCIError


@pytest.fixture(autouse=True)
def umask() -> Iterator[None]:
    """The usual umask of a caller: modes asserted below must hold under it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("cid", ["a", "abc-123", "my_ctr.1", "a+b", "a...", "A" * 200])
def test_good_ids_are_accepted(cid: str) -> None:
    state.validate_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "...", ".hidden", ".a.creating.1", "A" * 201, "a/b", "a b", "/",
                                 "a\nb", "é", "a:b"])
def test_bad_ids_are_refused(cid: str) -> None:
    """Ids become directory names under --root: no separators, no `.`/`..`, nothing exotic."""
    with pytest.raises(OCIError, match="invalid container id"):
        state.validate_id(cid)


@pytest.mark.parametrize(("ns", "text"), [
    (1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z"),
    (1_700_000_000_000_000_001, "2023-11-14T22:13:20.000000001Z"),
    (1_700_000_000_000_000_000, "2023-11-14T22:13:20Z"),
])
def test_now_rfc3339nano_is_go_rfc3339nano_in_utc(monkeypatch: pytest.MonkeyPatch, ns: int, text: str) -> None:
    """Go trims trailing zeros of the fraction, and the dot too when nothing is left."""
    monkeypatch.setattr(time, "time_ns", lambda: ns)
    assert state.now_rfc3339nano() == text


def test_proc_start_time_of_a_live_process_is_stable_and_ordered() -> None:
    mine = state.proc_start_time(os.getpid())
    assert isinstance(mine, int) and mine == state.proc_start_time(os.getpid())
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    try:
        child = state.proc_start_time(pid)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert child is not None and child >= mine


def test_proc_start_time_of_a_zombie_is_none() -> None:
    """An exited but unreaped init must count as stopped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert state.proc_start_time(pid) is None
    finally:
        os.waitpid(pid, 0)


def test_proc_start_time_of_a_missing_pid_is_none() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert state.proc_start_time(pid_max + 1) is None


def reaped_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def data(**overrides: object) -> dict:
    me = os.getpid()
    d = {"pid": me, "init_start_time": state.proc_start_time(me), "creator_pid": me,
         "creator_start_time": state.proc_start_time(me), "bundle": "/b", "rootfs": "/b/rootfs",
         "created": "2024-01-01T00:00:00Z", "annotations": {}}
    d.update(overrides)
    return d


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "state")


def test_new_container_layout_and_modes(root: str) -> None:
    c = state.new_container(root, "c1", data(), {"ociVersion": "1.0.0"})
    try:
        d = Path(root) / "c1"
        assert stat.S_IMODE(d.stat().st_mode) == 0o711
        assert sorted(p.name for p in d.iterdir()) == ["config.json", "exec.fifo", "state.json"]
        assert stat.S_ISFIFO((d / "exec.fifo").stat().st_mode)
        assert json.loads((d / "config.json").read_text()) == {"ociVersion": "1.0.0"}
        assert json.loads((d / "state.json").read_text()) == data()
        assert c.dir == str(d) and c.path("state.json") == str(d / "state.json")
        assert sorted(os.listdir(root)) == ["c1"]
    finally:
        c.close()


def test_second_new_container_with_the_same_id_fails_and_leaves_nothing(root: str) -> None:
    state.new_container(root, "c1", data(), {}).close()
    with pytest.raises(ContainerExists, match="^container with id c1 already exists$"):
        state.new_container(root, "c1", data(pid=1), {})
    assert os.listdir(root) == ["c1"]
    assert json.loads((Path(root) / "c1" / "state.json").read_text())["pid"] == os.getpid()


def test_new_container_refuses_a_bad_id_before_touching_the_disk(root: str) -> None:
    with pytest.raises(OCIError):
        state.new_container(root, "../escape", data(), {})
    assert not os.path.exists(root)


def test_write_json_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text("old")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        state.write_json_atomic(fd, "f.json", {"a": [1, 2]})
    finally:
        os.close(fd)
    assert os.listdir(tmp_path) == ["f.json"]
    assert (tmp_path / "f.json").read_text() == '{"a":[1,2]}'


def status_of(root: str, d: dict, fifo: bool = True) -> str:
    c = state.new_container(root, "c", d, {})
    try:
        if not fifo:
            os.unlink(c.path(state.EXEC_FIFO))
        return c.status()
    finally:
        c.close()


def test_status_creating_while_the_creator_lives(root: str) -> None:
    assert status_of(root, data(pid=0, init_start_time=None)) == "creating"


def test_status_stopped_when_the_creator_died_before_init_existed(root: str) -> None:
    assert status_of(root, data(pid=0, init_start_time=None, creator_pid=reaped_pid())) == "stopped"


def test_status_stopped_when_the_creator_pid_was_reused(root: str) -> None:
    assert status_of(root, data(pid=0, creator_start_time=1)) == "stopped"


def test_status_created_while_init_lives_and_the_fifo_exists(root: str) -> None:
    assert status_of(root, data()) == "created"


def test_status_running_once_the_fifo_is_gone(root: str) -> None:
    assert status_of(root, data(), fifo=False) == "running"


def test_status_stopped_when_init_is_dead(root: str) -> None:
    assert status_of(root, data(pid=reaped_pid())) == "stopped"


def test_status_stopped_when_the_init_pid_was_reused(root: str) -> None:
    """Same pid, other start time: another process now, not our init."""
    assert status_of(root, data(init_start_time=1)) == "stopped"


def test_oci_state_has_runc_key_order_and_annotations(root: str) -> None:
    c = state.new_container(root, "c", data(annotations={"k": "v"}), {})
    try:
        s = c.oci_state()
    finally:
        c.close()
    assert list(s) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"]
    assert s == {"ociVersion": state.OCI_VERSION, "id": "c", "pid": os.getpid(), "status": "created", "bundle": "/b",
                 "rootfs": "/b/rootfs", "created": "2024-01-01T00:00:00Z", "annotations": {"k": "v"}, "owner": ""}


def test_oci_state_of_a_stopped_container_has_pid_0_and_no_empty_annotations(root: str) -> None:
    c = state.new_container(root, "c", data(pid=reaped_pid()), {})
    try:
        s = c.oci_state()
    finally:
        c.close()
    assert (s["status"], s["pid"], "annotations" in s) == ("stopped", 0, False)


def test_open_container_reads_the_saved_state(root: str) -> None:
    state.new_container(root, "c", data(bundle="/x"), {"ociVersion": "1.2.0"}).close()
    c = state.open_container(root, "c", lock=True)
    try:
        assert (c.data["bundle"], c.load_config()) == ("/x", {"ociVersion": "1.2.0"})
    finally:
        c.close()


def test_open_missing_container_is_not_found(root: str) -> None:
    with pytest.raises(ContainerNotFound, match="^container nope does not exist$"):
        state.open_container(root, "nope")


def test_lock_after_the_directory_was_removed_is_not_found(root: str) -> None:
    """A command that waited on the lock while `delete` removed the container must not act on it."""
    state.new_container(root, "c", data(), {}).close()
    waiter = state.open_container(root, "c")
    deleter = state.open_container(root, "c", lock=True)
    deleter.remove()
    deleter.close()
    try:
        with pytest.raises(ContainerNotFound):
            waiter.lock()
    finally:
        waiter.close()
    assert os.listdir(root) == []


def test_list_ids_is_sorted_and_skips_hidden_names(root: str) -> None:
    for name in ("b", "a", ".a.creating.123", ".hidden"):
        os.makedirs(os.path.join(root, name))
    assert state.list_ids(root) == ["a", "b"]


def test_list_ids_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert state.list_ids(str(tmp_path / "none")) == []
