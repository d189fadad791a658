"""runc-compatible logging: logrus-style text or JSON lines, to --log or stderr.

containerd takes the `msg` of the last error line of `--log`; podman parses the whole file as one
JSON object, so a failed command writes exactly one error line there (debug lines need --debug).
The library calls warning()/debug(); only the CLI calls configure() and error().
"""
import os
import sys
import time

from . import jsonio

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")

_fd = 2
_json = False
_min_level = _LEVELS["warning"]


def configure(path: str | None, fmt: str, debug: bool) -> None:
    """Route log lines to `path` (appended, as runc does) in `fmt` ("text" or "json")."""
    global _fd, _json, _min_level
    if path:
        _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _json = fmt == "json"
    _min_level = _LEVELS["debug" if debug else "warning"]


def settings() -> tuple[int, bool, bool]:
    """(fd, json, debug): how this process logs, for the processes started afresh (processes.py)."""
    return _fd, _json, _min_level == _LEVELS["debug"]


def adopt(fd: int, json: bool, debug: bool) -> None:
    """Log as the process that gave settings() does, to its log fd (the same open file)."""
    global _fd, _json, _min_level
    _fd, _json, _min_level = fd, json, _LEVELS["debug" if debug else "warning"]


def rfc3339(t: float) -> str:
    """Format like Go's time.RFC3339: seconds precision, `Z` for UTC, else ±hh:mm."""
    tm = time.localtime(t)
    off = tm.tm_gmtoff or 0
    zone = "Z" if off == 0 else "%s%02d:%02d" % ("-" if off < 0 else "+", abs(off) // 3600, abs(off) % 3600 // 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + zone


def _quote(text: str) -> str:
    """logrus quotes a value only when it holds characters outside a safe set; as Go's %q, the
    quoted text shows every unprintable character as an escape (a NEL or U+2028 would split the
    line for a reader, an undecodable argv byte is \\xNN)."""
    if text and all(c in _SAFE for c in text):
        return text
    quoted = jsonio.string(text)
    return quoted if quoted.isprintable() else "".join(c if c.isprintable() else _escape(c) for c in quoted)


def _escape(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _emit(level: str, msg: str) -> None:
    if _LEVELS[level] < _min_level:
        return
    now = rfc3339(time.time())
    if _json:
        line = jsonio.dumps({"level": level, "msg": msg, "time": now}, compact=False, ensure_ascii=False)
    else:
        line = f'time="{now}" level={level} msg={_quote(msg)}'
    # backslashreplace: a lone surrogate (from a config's \ud800 or a non-UTF-8 argv) becomes
    # text; the log stays valid UTF-8 and the error is never lost to an encoding error
    os.write(_fd, (line + "\n").encode("utf-8", "backslashreplace"))


def debug(msg: str) -> None:
    _emit("debug", msg)


def warning(msg: str) -> None:
    _emit("warning", msg)


def error(msg: str) -> None:
    _emit("error", msg)
    if _fd != 2:
        sys.stderr.write(msg + "\n")
