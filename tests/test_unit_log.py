"""Unit tests of log.py: logrus-compatible text lines and JSON lines (clients parse both), level filtering,
and error() also reaching the user's terminal when --log is a file."""
import json
import os
import re
import time
from pathlib import Path

import pytest

from oci_runtime import log

TEXT_LINE = re.compile(r'^time="(?P<time>[^"]+)" level=(?P<level>\w+) msg=(?P<msg>.*)$')
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


pytestmark = pytest.mark.usefixtures("restore_log")


@pytest.fixture
def logfile(tmp_path: Path) -> Path:
    return tmp_path / "log"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.parametrize(("msg", "shown"), [
    ("simple", "simple"),
    ("a-b.c_d/e@f^g+h09", "a-b.c_d/e@f^g+h09"),
    ("two words", '"two words"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("container: nope", '"container: nope"'),
    ("tab\there", '"tab\\there"'),
    ("é and 🙂", '"é and 🙂"'),
    ("next\x85line\u2028sep", '"next\\u0085line\\u2028sep"'),
    ("zero\u200bwidth", '"zero\\u200bwidth"'),
    ("byte \udc85", '"byte \\x85"'),
])
def test_text_format_quotes_the_message_only_when_needed(logfile: Path, msg: str, shown: str) -> None:
    """logrus leaves a value bare when it holds only [A-Za-z0-9-._/@^+], else quotes it, unprintable
    characters escaped as Go's %q does (one line for any reader, undecodable bytes as \\xNN)."""
    log.configure(str(logfile), "text", debug=False)
    log.error(msg)
    [line] = lines(logfile)
    m = TEXT_LINE.match(line)
    assert m and (m["level"], m["msg"]) == ("error", shown)
    assert RFC3339.match(m["time"])


def test_json_format_has_level_msg_and_rfc3339_time(logfile: Path) -> None:
    log.configure(str(logfile), "json", debug=False)
    log.warning("disk \"full\" é")
    [line] = lines(logfile)
    entry = json.loads(line)
    assert list(entry) == ["level", "msg", "time"]
    assert (entry["level"], entry["msg"]) == ("warning", "disk \"full\" é")
    assert RFC3339.match(entry["time"])


def test_debug_lines_need_debug(logfile: Path) -> None:
    """podman reads --log as one JSON object: without --debug only warnings and errors may appear there."""
    log.configure(str(logfile), "json", debug=False)
    log.debug("hidden")
    log.warning("shown")
    assert [json.loads(x)["msg"] for x in lines(logfile)] == ["shown"]


def test_debug_lines_with_debug(logfile: Path) -> None:
    log.configure(str(logfile), "text", debug=True)
    log.debug("visible")
    [line] = lines(logfile)
    m = TEXT_LINE.match(line)
    assert m and (m["level"], m["msg"]) == ("debug", "visible")


def test_log_file_is_appended_to(logfile: Path) -> None:
    logfile.write_text("earlier\n")
    log.configure(str(logfile), "text", debug=False)
    log.warning("later")
    assert lines(logfile)[0] == "earlier" and len(lines(logfile)) == 2


def test_error_with_a_log_file_also_prints_the_plain_message(logfile: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The caller's terminal still sees why a command failed when the log line went to a file."""
    log.configure(str(logfile), "json", debug=False)
    log.error("it broke")
    assert capfd.readouterr().err == "it broke\n"
    assert json.loads(lines(logfile)[0])["msg"] == "it broke"


def test_error_to_stderr_is_written_once(capfd: pytest.CaptureFixture[str]) -> None:
    log.configure(None, "text", debug=False)
    log.error("it broke")
    [line] = capfd.readouterr().err.splitlines()
    assert line.endswith(' level=error msg="it broke"')


def test_warning_with_a_log_file_is_not_echoed(logfile: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log.configure(str(logfile), "text", debug=False)
    log.warning("quiet")
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(("tz", "suffix"), [("UTC0", "Z"), ("EST5", "-05:00"), ("IST-5:30", "+05:30"),
                                          ("NST3:30", "-03:30")])
def test_rfc3339_shows_the_local_offset(tz: str, suffix: str) -> None:
    """Go's RFC3339 writes `Z` for UTC and ±hh:mm otherwise (POSIX TZ strings: the sign is reversed)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        t = 1_700_000_000
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + suffix
        assert log.rfc3339(t) == expected
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
