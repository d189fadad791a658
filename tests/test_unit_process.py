"""Unit tests of appliers/process.py helpers: the env list as a dict, Go-style executable lookup with
runc's error wording (podman maps it to exit codes), and HOME from /etc/passwd."""
import io
import os
from pathlib import Path

import pytest

from oci_runtime.appliers import process
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Process, Spec


def test_env_dict_splits_at_the_first_equals_sign_and_last_wins() -> None:
    assert process.env_dict(["A=1", "B=x=y", "EMPTY=", "NOVALUE", "A=2"]) == {
        "A": "2", "B": "x=y", "EMPTY": "", "NOVALUE": ""}


def executable(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_find_executable_searches_path_in_order(tmp_path: Path) -> None:
    executable(tmp_path / "second" / "tool")
    executable(tmp_path / "third" / "tool")
    env = {"PATH": f"{tmp_path}/first:{tmp_path}/second:{tmp_path}/third"}
    assert process.find_executable("tool", env) == f"{tmp_path}/second/tool"


def test_find_executable_skips_non_executables_and_directories(tmp_path: Path) -> None:
    """Like Go's LookPath: a PATH entry holding a data file or a directory of that name is passed over."""
    executable(tmp_path / "a" / "tool", mode=0o644)
    (tmp_path / "b" / "tool").mkdir(parents=True)
    executable(tmp_path / "c" / "tool")
    assert process.find_executable("tool", {"PATH": f"{tmp_path}/a:{tmp_path}/b:{tmp_path}/c"}) == f"{tmp_path}/c/tool"


def test_only_non_executables_in_path_is_not_found(tmp_path: Path) -> None:
    executable(tmp_path / "a" / "tool", mode=0o644)
    with pytest.raises(OCIError, match=r'^exec: "tool": executable file not found in \$PATH$'):
        process.find_executable("tool", {"PATH": f"{tmp_path}/a"})


def test_empty_path_entry_means_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable(tmp_path / "tool")
    monkeypatch.chdir(tmp_path)
    assert process.find_executable("tool", {"PATH": "/nonexistent:"}) == "./tool"


def test_missing_command_is_not_found_in_path(tmp_path: Path) -> None:
    with pytest.raises(OCIError, match=r'^exec: "x": executable file not found in \$PATH$'):
        process.find_executable("x", {"PATH": f"{tmp_path}/bin:{tmp_path}/sbin"})


def test_default_path_is_used_without_a_path_variable() -> None:
    """/bin/sh exists on the test host, so the default PATH must find sh in one of its directories."""
    assert process.find_executable("sh", {}) in {f"{d}/sh" for d in process.DEFAULT_PATH.split(":")}


def test_missing_absolute_path_is_a_stat_error() -> None:
    with pytest.raises(OCIError, match='^exec: "/x/none": stat /x/none: no such file or directory$'):
        process.find_executable("/x/none", {})


@pytest.mark.parametrize("kind", ["directory", "non-executable"])
def test_absolute_path_that_cannot_run_is_permission_denied(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "prog"
    if kind == "directory":
        target.mkdir()
    else:
        executable(target, mode=0o644)
    with pytest.raises(OCIError, match=f'^exec: "{target}": permission denied$'):
        process.find_executable(str(target), {})


def test_absolute_executable_is_returned_as_given(tmp_path: Path) -> None:
    prog = executable(tmp_path / "prog")
    assert process.find_executable(str(prog), {"PATH": "/nonexistent"}) == str(prog)


PASSWD = """root:x:0:0:root:/root:/bin/sh
broken:line
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
"""


@pytest.mark.parametrize(("uid", "home"), [(0, "/root"), (1000, "/home/app"), (1, "/usr/sbin"), (4242, "/")])
def test_home_of_reads_the_containers_passwd(monkeypatch: pytest.MonkeyPatch, uid: int, home: str) -> None:
    """An unlisted uid gets HOME=/ (as runc); short lines are ignored."""
    def fake_open(path: str, mode: str = "r") -> io.StringIO:
        assert path == "/etc/passwd"
        return io.StringIO(PASSWD)

    monkeypatch.setattr(process, "open", fake_open, raising=False)
    assert process.home_of(uid) == home


def test_home_of_without_passwd_is_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(path: str, mode: str = "r") -> io.StringIO:
        raise FileNotFoundError(path)

    monkeypatch.setattr(process, "open", missing, raising=False)
    assert process.home_of(0) == "/"


def test_make_cwd_creates_a_missing_cwd_inside_the_root(tmp_path: Path) -> None:
    """runc creates process.cwd when the image lacks it (before the root may turn read-only)."""
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        process.make_cwd(Process(cwd="/../srv/app"), fd)
    finally:
        os.close(fd)
    assert (tmp_path / "srv" / "app").is_dir()


def test_make_cwd_through_a_file_names_the_cwd(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(OCIError, match="^process.cwd: /f/app: .*not a directory$"):
            process.make_cwd(Process(cwd="/f/app"), fd)
    finally:
        os.close(fd)


# --- prepare(): everything that can fail before `create` reports success ---

@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple]:
    """Record the appliers prepare() runs, in order; the test's cwd is restored afterwards (prepare
    fchdirs to process.cwd)."""
    monkeypatch.chdir(tmp_path)
    seen: list[tuple] = []
    for module in (process.oom, process.rlimits, process.scheduler, process.iopriority):
        monkeypatch.setattr(module, "apply", lambda p, name=module.__name__.rsplit(".", 1)[1]: seen.append((name, p)))
    monkeypatch.setattr(process.personality, "apply", lambda spec: seen.append(("personality", spec)))
    monkeypatch.setattr(process.capabilities, "plan", lambda p: seen.append(("plan", p)) or "the plan")
    return seen


def prepared_spec(tmp_path: Path, args: list[str]) -> Spec:
    return Spec("1.0.0", process=Process(cwd=str(tmp_path), args=args, env=["PATH=/usr/bin:/bin"],
                                         oom_score_adj=5, scheduler={"policy": "SCHED_IDLE"}),
                linux=Linux(personality={"domain": "LINUX32"}))


def test_prepare_applies_what_the_program_inherits_then_plans_capabilities(applied: list[tuple], tmp_path: Path) -> None:
    """oomScoreAdj first (it opens a file, before an RLIMIT_NOFILE could forbid it), then rlimits,
    scheduler, ioPriority and personality, all on init before READY; the capability plan is kept for
    execute()."""
    spec = prepared_spec(tmp_path, ["sh", "-c", "true"])
    prep = process.prepare(spec)
    try:
        assert applied == [("oom", spec.process), ("rlimits", spec.process), ("scheduler", spec.process),
                           ("iopriority", spec.process), ("personality", spec), ("plan", spec.process)]
        assert prep.caps == "the plan"
        assert prep.path in ("/usr/bin/sh", "/bin/sh") and prep.args == ["sh", "-c", "true"]
        assert os.path.samefile(f"/proc/self/fd/{prep.cwd_fd}", tmp_path)
    finally:
        os.close(prep.cwd_fd)


def test_prepare_applies_nothing_when_the_program_is_missing(applied: list[tuple], tmp_path: Path) -> None:
    with pytest.raises(OCIError, match=r'^exec: "nonexistent-program": executable file not found in \$PATH$'):
        process.prepare(prepared_spec(tmp_path, ["nonexistent-program"]))
    assert applied == []


def test_a_refused_setting_fails_prepare(applied: list[tuple], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A kernel refusal in an applier is raised by prepare(), i.e. before READY: it fails `create`."""
    def refuse(p: Process) -> None:
        raise OCIError("process.scheduler: setting SCHED_IDLE: operation not permitted")

    monkeypatch.setattr(process.scheduler, "apply", refuse)
    with pytest.raises(OCIError, match="^process.scheduler: setting SCHED_IDLE: operation not permitted$"):
        process.prepare(prepared_spec(tmp_path, ["sh"]))
    assert [name for name, _ in applied] == ["oom", "rlimits"]
