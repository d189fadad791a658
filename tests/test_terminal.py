"""process.terminal and --console-socket on real containers, as runc: the pty master handed to a
listener, the slave as the container's stdio, controlling terminal and /dev/console; and the
foreground `run` proxying the caller's terminal."""
import fcntl
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import time

import pytest

from conftest import OCI_RUNTIME, error_message


class Listener:
    """A console socket as containerd's shim or conmon opens it (under a short path: sun_path
    holds 108 bytes)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="cs-")
        self.path = os.path.join(self.dir, "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(10)

    def receive(self) -> tuple[bytes, list[int], int]:
        """The one message of the one connection: (data, fds, msg flags)."""
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            data, fds, flags, _ = socket.recv_fds(conn, 4096, 16)
            assert conn.recv(1) == b"", "more than one message on the console socket"
        return data, fds, flags

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir)


@pytest.fixture
def console():
    listener = Listener()
    yield listener
    listener.close()


def read_until_closed(master: int, timeout: float = 10) -> str:
    """Everything the container writes, until its last slave fd closes (EIO)."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 0.5)[0]:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    return out.decode()


def use_terminal(bundle, *args: str) -> None:
    bundle.config["process"]["terminal"] = True
    if args:
        bundle.config["process"]["args"] = list(args)
    # The demo config's ambient capabilities lack inheritable: init warns about it on its stderr,
    # which by then is the pty. Dropped so that the output is the program's alone.
    bundle.config["process"].get("capabilities", {}).pop("ambient", None)


def run_with_console(runtime, bundle, console, *args: str, config: dict | None = None) -> tuple[str, str]:
    """create --console-socket + start; returns (pty name sent, everything printed on the pty)."""
    use_terminal(bundle, *args)
    bundle.config["process"].update(config or {})
    runtime("create", "--bundle", bundle.write(), "--console-socket", console.path, "t1", check=True)
    data, fds, flags = console.receive()
    assert len(fds) == 1 and not flags & socket.MSG_CTRUNC, f"expected one fd, got {fds}"
    master = fds[0]
    try:
        runtime("start", "t1", check=True)
        out = read_until_closed(master)
    finally:
        os.close(master)
    runtime("delete", "--force", "t1", check=True)
    return data.decode(), out


def test_console_socket_receives_exactly_one_master_and_the_pty_name(runtime, bundle, console):
    use_terminal(bundle, "sh", "-c", "tty")
    runtime("create", "--bundle", bundle.write(), "--console-socket", console.path, "t1", check=True)
    data, fds, flags = console.receive()
    assert len(fds) == 1 and not flags & socket.MSG_CTRUNC
    master = fds[0]
    try:
        name = data.decode()
        assert re.fullmatch(r"/dev/pts/\d+", name), name
        number = struct.unpack("I", fcntl.ioctl(master, 0x80045430, bytes(4)))[0]  # TIOCGPTN: it is a master
        assert name == f"/dev/pts/{number}"
        runtime("start", "t1", check=True)
        assert read_until_closed(master).split() == [name], "`tty` in the container names the same pty"
    finally:
        os.close(master)


def test_console_size_is_applied(runtime, bundle, console):
    _, out = run_with_console(runtime, bundle, console, "stty", "size",
                              config={"consoleSize": {"height": 33, "width": 101}})
    assert out == "33 101\r\n"


def test_stdio_is_the_pty_and_the_master_does_not_leak_into_the_container(runtime, bundle, console):
    # `ls` must not be the last command: sh would exec it and list ls's own directory fd
    name, out = run_with_console(runtime, bundle, console, "sh", "-c", "ls -l /proc/1/fd; true")
    fds = re.findall(r" (\d+) -> (\S+)", out)
    assert fds == [("0", name), ("1", name), ("2", name)], out


def test_the_pty_is_the_controlling_terminal(runtime, bundle, console):
    _, out = run_with_console(runtime, bundle, console, "sh", "-c", "echo via-dev-tty > /dev/tty")
    assert out == "via-dev-tty\r\n"


def test_dev_console_is_the_pty(runtime, bundle, console):
    name, out = run_with_console(runtime, bundle, console, "sh", "-c",
                                 "stat -c '%F %t:%T' /dev/console $(tty); grep ' /dev/console ' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[0] == lines[1] and lines[0].startswith("character special file 88:"), out  # 0x88: pts major 136
    assert "devpts" in lines[2], "/dev/console is a bind mount of the container's devpts slave"


def test_the_pty_belongs_to_the_process_user(runtime, bundle, console):
    _, out = run_with_console(runtime, bundle, console, "sh", "-c", "id -u; stat -c %u $(tty)",
                              config={"user": {"uid": 1000, "gid": 1000}})
    assert out.split() == ["1000", "1000"]


def test_terminal_without_console_socket_is_refused_before_anything_is_made(runtime, bundle):
    bundle.config["process"]["terminal"] = True
    proc = runtime("create", "--bundle", bundle.write(), "t1")
    assert proc.returncode == 1
    msg = error_message(proc.stderr)
    assert "process.terminal" in msg and "--console-socket" in msg
    assert runtime.ids() == []


def test_console_socket_without_terminal_is_refused(runtime, bundle, console):
    proc = runtime("create", "--bundle", bundle.write(), "--console-socket", console.path, "t1")
    assert proc.returncode == 1
    assert "--console-socket" in error_message(proc.stderr)
    assert runtime.ids() == []


def test_a_missing_console_socket_is_named(runtime, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    missing = str(tmp_path / "no.sock")
    proc = runtime("create", "--bundle", bundle.write(), "--console-socket", missing, "t1")
    assert proc.returncode == 1
    assert error_message(proc.stderr) == f"--console-socket: connecting to {missing}: no such file or directory"
    assert runtime.ids() == []


def test_a_pty_failure_inside_the_container_fails_create(runtime, bundle, console):
    """Without a devpts on /dev/pts, /dev/ptmx -> pts/ptmx dangles: create fails and cleans up."""
    bundle.config["process"]["terminal"] = True
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev/pts"]
    proc = runtime("create", "--bundle", bundle.write(), "--console-socket", console.path, "t1")
    assert proc.returncode == 1
    assert "process.terminal: opening a pty on the container's /dev/ptmx" in error_message(proc.stderr)
    data, fds, _ = console.receive()
    assert (data, fds) == (b"", []), "nothing is sent when the pty cannot be made"
    assert runtime.ids() == []


# --- foreground run: the caller's terminal is proxied ----------------------------------------------

def _on_pty(runtime, bundle, *args: str) -> tuple[subprocess.Popen, int, int]:
    """`oci-runtime run` with a new pty's slave as its stdio and controlling terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    p = subprocess.Popen([OCI_RUNTIME, "--root", str(runtime.root), *args], stdin=slave, stdout=slave,
                         stderr=slave, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    return p, master, slave


def _expect(master: int, pattern: str, timeout: float = 10) -> str:
    out = ""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, out):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            raise AssertionError(f"never saw {pattern!r} in {out!r}")
        try:
            out += os.read(master, 65536).decode(errors="replace")
        except OSError:
            raise AssertionError(f"pty closed before {pattern!r} in {out!r}") from None
    return out


def test_foreground_run_proxies_the_terminal(runtime, bundle):
    use_terminal(bundle, "sh")
    p, master, slave = _on_pty(runtime, bundle, "run", "--bundle", bundle.write(), "fg")
    try:
        before = termios.tcgetattr(slave)
        _expect(master, r"/ # ")  # the container's interactive shell prompt
        os.write(master, b"stty size; tty\n")
        assert re.search(r"40 120\r\n/dev/pts/\d+\r\n", _expect(master, r"/dev/pts/\d+\r\n"))
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))  # SIGWINCH to run
        time.sleep(0.3)
        os.write(master, b"stty size\n")
        _expect(master, r"50 132\r\n")
        os.write(master, b"echo h''i; exit 3\n")
        _expect(master, r"\r\nhi\r\n")
        assert p.wait(timeout=10) == 3
        assert termios.tcgetattr(slave) == before, "the caller's terminal settings were not restored"
        assert runtime.ids() == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def test_foreground_run_with_console_socket_is_refused(runtime, bundle, console):
    bundle.config["process"]["terminal"] = True
    proc = runtime("run", "--bundle", bundle.write(), "--console-socket", console.path, "fg")
    assert proc.returncode == 1
    assert "--console-socket" in error_message(proc.stderr)
    assert runtime.ids() == []


def test_detached_run_hands_the_master_to_the_console_socket(runtime, bundle, console):
    use_terminal(bundle, "sh", "-c", "echo detached")
    proc = runtime("run", "--detach", "--bundle", bundle.write(), "--console-socket", console.path, "d1")
    assert proc.returncode == 0, proc.stderr
    _, fds, _ = console.receive()
    assert len(fds) == 1
    try:
        assert read_until_closed(fds[0]) == "detached\r\n"
    finally:
        os.close(fds[0])


def test_create_output_reaches_eof_before_start(runtime, bundle, console):
    """containerd's shim reads create's stdout+stderr (one pipe) to EOF before it calls `start`:
    the waiting init must already hold the pty, not the pipe, as its stdio."""
    use_terminal(bundle, "tty")
    proc = subprocess.Popen([OCI_RUNTIME, "--root", str(runtime.root), "create", "--bundle", bundle.write(),
                             "--console-socket", console.path, "t1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=20)  # a timeout here: the init kept the pipe
    assert (proc.returncode, out) == (0, b"")
    assert runtime.state("t1")["status"] == "created"
    _, fds, _ = console.receive()
    try:
        runtime("start", "t1", check=True)
        assert read_until_closed(fds[0]).strip().startswith("/dev/pts/")
    finally:
        os.close(fds[0])
