"""Unit tests of cli.py: Go-flag-style parsing as runc's, argument counts, the `list` table layout, and
main()'s exit codes and one-line errors (clients match runc's texts and probe features by exit status)."""
import json
import os
import re
import sys
from pathlib import Path

import pytest

from oci_runtime import cli, operations
from oci_runtime.errors import OCIError, UsageError
from oci_runtime.validate import validate_config


pytestmark = pytest.mark.usefixtures("restore_log")


def parse(args: list[str], flags: list[cli.Flag] = cli.GLOBAL_FLAGS, where: str = "") -> tuple[dict, list[str]]:
    return cli.parse_flags(flags, args, where)


def test_defaults_without_flags() -> None:
    values, rest = parse([])
    assert (values["root"], values["log"], values["log_format"], values["debug"], rest) == (
        "/run/oci-runtime", "", "text", False, [])


@pytest.mark.parametrize("args", [["-root", "/x"], ["--root", "/x"], ["--root=/x"], ["-root=/x"]])
def test_value_flag_spellings(args: list[str]) -> None:
    """Go's flag package takes one or two dashes, and the value as the next argument or after `=`."""
    values, rest = parse([*args, "state", "id"])
    assert (values["root"], rest) == ("/x", ["state", "id"])


@pytest.mark.parametrize(("args", "debug"), [(["--debug"], True), (["-debug"], True), (["--debug=true"], True),
                                             (["--debug=1"], True), (["--debug=false"], False), (["--debug=0"], False)])
def test_boolean_flags(args: list[str], debug: bool) -> None:
    assert parse(args)[0]["debug"] is debug


def test_boolean_flag_does_not_take_the_next_argument() -> None:
    assert parse(["--debug", "false"])[1] == ["false"]


def test_short_aliases() -> None:
    values, rest = parse(["-f", "-a", "id"], cli.COMMANDS["delete"].flags + cli.COMMANDS["kill"].flags)
    assert (values["force"], values["all"], rest) == (True, True, ["id"])


def test_double_dash_ends_flags() -> None:
    values, rest = parse(["--debug", "--", "--root", "x"])
    assert (values["debug"], values["root"], rest) == (True, "/run/oci-runtime", ["--root", "x"])


def test_parsing_stops_at_the_first_positional_argument() -> None:
    """`kill id 9` keeps 9 as the signal, and a flag after the id is an argument, as with runc's Go flags."""
    flags = cli.COMMANDS["kill"].flags
    assert parse(["id", "9"], flags) == ({"all": False}, ["id", "9"])
    assert parse(["-a", "id", "KILL"], flags) == ({"all": True}, ["id", "KILL"])
    assert parse(["id", "-a"], flags)[1] == ["id", "-a"]


def test_lone_dash_is_an_argument() -> None:
    assert parse(["-", "x"])[1] == ["-", "x"]


@pytest.mark.parametrize(("args", "message"), [
    (["--nope"], "flag provided but not defined: -nope (in create)"),
    (["--pid-file"], "flag needs an argument: -pid-file (in create)"),
    (["--no-pivot=yes"], 'invalid boolean value "yes" for -no-pivot (in create)'),
])
def test_flag_errors_are_usage_errors_in_go_wording(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse(args, cli.COMMANDS["create"].flags, " (in create)")
    assert str(e.value) == message


@pytest.mark.parametrize(("name", "args", "message"), [
    ("create", [], '"create" requires exactly 1 argument(s)'),
    ("create", ["a", "b"], '"create" requires exactly 1 argument(s)'),
    ("kill", [], '"kill" requires a minimum of 1 argument(s)'),
    ("kill", ["a", "b", "c"], '"kill" requires a maximum of 2 argument(s)'),
    ("list", ["a"], '"list" requires exactly 0 argument(s)'),
])
def test_argument_counts(name: str, args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as e:
        cli._check_nargs(name, cli.COMMANDS[name], args)
    assert str(e.value) == f"oci-runtime: {message}"


def test_kill_accepts_one_or_two_arguments() -> None:
    cli._check_nargs("kill", cli.COMMANDS["kill"], ["id"])
    cli._check_nargs("kill", cli.COMMANDS["kill"], ["id", "KILL"])


def test_tabulate_pads_to_width_12_or_longest_plus_3_and_leaves_the_last_column() -> None:
    rows = [["ID", "PID", "OWNER"], ["a-rather-long-id", "1", "root"]]
    assert cli.tabulate(rows) == (
        "ID" + " " * 17 + "PID" + " " * 9 + "OWNER\n"  # 16 + 3 for the first column, the minimum 12 for the second
        "a-rather-long-id" + " " * 3 + "1" + " " * 11 + "root\n"
    )


@pytest.mark.parametrize(("name", "code"), [("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("sigterm", 15), ("9", 9),
                                            ("HUP", 1), ("USR1", 10), ("64", 64)])
def test_parse_signal(name: str, code: int) -> None:
    assert operations.parse_signal(name) == code


@pytest.mark.parametrize("name", ["FOO", "SIGFOO", "-9", ""])
def test_parse_signal_unknown(name: str) -> None:
    with pytest.raises(OCIError) as e:
        operations.parse_signal(name)
    assert str(e.value) == f'unknown signal "{name}"'


def test_version(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capfd.readouterr().out == (f"oci-runtime version 0.1.0\nspec: 1.3.0\n"
                                      f"python: {sys.version.split()[0]}\n")


def test_help_lists_every_command(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capfd.readouterr().out
    assert all(re.search(rf"^   {name} +\S", out, re.MULTILINE) for name in cli.COMMANDS)


def test_command_help_shows_its_flags(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["create", "--help"]) == 0
    out = capfd.readouterr().out
    assert "oci-runtime create [command options] <container-id>" in out and "--bundle PATH, -b PATH" in out


def error_lines(capfd: pytest.CaptureFixture[str]) -> list[str]:
    captured = capfd.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def test_unknown_command_is_one_error_line(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["nosuchcmd"]) == 1
    [line] = error_lines(capfd)
    assert "level=error" in line and "unknown command 'nosuchcmd'" in line


def test_checkpoint_help_fails(capfd: pytest.CaptureFixture[str]) -> None:
    """podman runs `<runtime> checkpoint --help` to probe for checkpoint support, which we don't have."""
    assert cli.main(["checkpoint", "--help"]) != 0


def test_wrong_argument_count_from_main(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["create"]) == 1
    [line] = error_lines(capfd)
    assert line.endswith(r'msg="oci-runtime: \"create\" requires exactly 1 argument(s)"')


def test_bad_log_format_is_refused(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--log-format", "xml", "list"]) == 1
    assert "invalid log-format: xml" in error_lines(capfd)[0]


def test_missing_container_error_in_json_log(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """containerd reads the msg of the last error line of --log: it must be the bare message."""
    logfile = tmp_path / "log.json"
    assert cli.main(["--root", str(tmp_path), "--log", str(logfile), "--log-format", "json", "state", "nope"]) == 1
    assert json.loads(logfile.read_text())["msg"] == "container nope does not exist"
    assert error_lines(capfd) == ["container nope does not exist"]


def test_internal_error_is_one_line_without_traceback(monkeypatch: pytest.MonkeyPatch,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    def boom(g: dict, o: dict, args: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli.COMMANDS["state"], "func", boom)
    assert cli.main(["state", "x"]) == 1
    [line] = error_lines(capfd)
    assert line.endswith('msg="internal error: RuntimeError: boom"')


def test_internal_error_traceback_with_debug(monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    def boom(g: dict, o: dict, args: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli.COMMANDS["state"], "func", boom)
    assert cli.main(["--debug", "state", "x"]) == 1
    assert "Traceback" in capfd.readouterr().err


def test_list_of_an_empty_root(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(tmp_path / "none"), "list"]) == 0
    assert capfd.readouterr().out == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
    assert cli.main(["--root", str(tmp_path / "none"), "list", "-q"]) == 0
    assert capfd.readouterr().out == ""


def test_spec_writes_a_valid_config_once(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["spec", "--bundle", str(tmp_path)]) == 0
    validate_config(json.loads((tmp_path / "config.json").read_text()))
    assert cli.main(["spec", "-b", str(tmp_path)]) == 1
    assert f"File {tmp_path}/config.json exists. Remove it first." in error_lines(capfd)[0]


@pytest.mark.parametrize("name", ["state", "start", "delete"])
def test_state_start_and_delete_without_an_id_are_one_error_line(name: str, tmp_path: Path,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """runtime.md "Query State", "Start", "Delete": each operation MUST take the container id; without one
    main() exits 1 with the runc argument-count error and touches nothing."""
    assert cli.main(["--root", str(tmp_path / "root"), name]) == 1
    [line] = error_lines(capfd)
    assert "level=error" in line
    assert line.endswith(rf'msg="oci-runtime: \"{name}\" requires exactly 1 argument(s)"')
    assert not (tmp_path / "root").exists()


def test_command_flushes_output_before_its_quick_exit(tmp_path):
    """The command ends with os._exit (no interpreter teardown): its output is flushed first, and
    output that cannot be written is exit status 120 (as Python's exit), without a traceback."""
    import subprocess

    from conftest import OCI_RUNTIME

    spec = subprocess.run([OCI_RUNTIME, "spec", "--bundle", str(tmp_path)], capture_output=True)
    version = subprocess.run([OCI_RUNTIME, "--version"], capture_output=True, text=True)
    assert (spec.returncode, version.returncode) == (0, 0)
    assert version.stdout == cli.version() and version.stdout.endswith("\n")
    listing = subprocess.run([OCI_RUNTIME, "--root", str(tmp_path / "state"), "list"], capture_output=True, text=True)
    assert listing.stdout == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # the write fails at the flush
    with open("/dev/full", "w") as full:
        failed = subprocess.run([OCI_RUNTIME, "--version"], stdout=full, stderr=subprocess.PIPE, text=True, env=buffered)
    assert failed.returncode == 120 and "Traceback" not in failed.stderr


# --- the oci-runtime script: -IS, and finding the package without site -----------------------------------------


def test_the_installed_script_runs_isolated_without_site():
    """`make install` puts -IS on the script's #! line (pip drops it): no site module, no PYTHON*
    variables or current directory on the path; the script finds its site-packages itself."""
    import subprocess

    from conftest import OCI_RUNTIME

    first = Path(OCI_RUNTIME).read_text().splitlines()[0]
    assert first.startswith("#!") and first.split()[1:] == ["-IS"], first
    probe = subprocess.run([OCI_RUNTIME, "--version"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": "/nonexistent", "PYTHONSTARTUP": "/nonexistent"})
    assert probe.returncode == 0 and probe.stdout.startswith("oci-runtime version"), probe.stderr


@pytest.mark.parametrize("flags", [["-IS"], []])
def test_the_script_elsewhere_finds_the_package_through_site(tmp_path, flags):
    """Installed where <prefix>/lib/pythonX.Y/site-packages is not next to it (a copy, a symlinked
    /usr/local/bin, Debian's dist-packages), the script falls back on site; without -IS, site ran."""
    import subprocess

    from conftest import OCI_RUNTIME

    script = tmp_path / "bin" / "oci-runtime"
    script.parent.mkdir()
    script.write_text(Path(OCI_RUNTIME).read_text())
    probe = subprocess.run([sys.executable, *flags, str(script), "--version"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert probe.returncode == 0 and probe.stdout.startswith("oci-runtime version"), probe.stderr
