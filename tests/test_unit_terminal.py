"""Unit tests of oci_runtime.appliers.terminal: the checks, the pty helpers, the SCM_RIGHTS hand-over
and the foreground proxy (on the host's devpts, with forked stand-ins for the container)."""
import fcntl
import os
import socket
import struct
import termios
import time

import pytest

from oci_runtime.appliers import terminal
from oci_runtime.errors import OCIError


# --- check --------------------------------------------------------------------------------------

def test_check_requires_a_console_socket_for_a_detached_terminal():
    with pytest.raises(OCIError, match="--console-socket"):
        terminal.check(True, None, detached=True)


def test_check_refuses_a_console_socket_without_a_terminal_or_in_the_foreground():
    with pytest.raises(OCIError, match="--console-socket"):
        terminal.check(False, "/run/x.sock", detached=True)
    with pytest.raises(OCIError, match="--console-socket"):
        terminal.check(True, "/run/x.sock", detached=False)


@pytest.mark.parametrize("args", [(True, "/run/x.sock", True), (True, None, False), (False, None, True),
                                  (False, None, False)])
def test_check_accepts_runc_s_valid_combinations(args):
    assert terminal.check(*args) is None


# --- connect ------------------------------------------------------------------------------------

def test_connect_names_a_missing_socket(tmp_path):
    path = str(tmp_path / "nope.sock")
    with pytest.raises(OCIError) as e:
        terminal.connect(path)
    assert str(e.value) == f"--console-socket: connecting to {path}: no such file or directory"


def test_connect_returns_a_connected_close_on_exec_fd(tmp_path):
    path = str(tmp_path / "c.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        fd = terminal.connect(path)
        try:
            assert not os.get_inheritable(fd)
            conn, _ = listener.accept()
            os.write(fd, b"x")
            assert conn.recv(1) == b"x"
            conn.close()
        finally:
            os.close(fd)


# --- pty helpers --------------------------------------------------------------------------------

def test_open_pty_gives_a_connected_unlocked_pair_and_the_slave_name():
    master, slave, name = terminal.open_pty()
    try:
        assert name == os.ttyname(slave)
        number = struct.unpack("I", fcntl.ioctl(master, terminal.TIOCGPTN, bytes(4)))[0]
        assert name == f"/dev/pts/{number}"
        assert not os.get_inheritable(master) and not os.get_inheritable(slave)
        os.write(slave, b"ping\n")
        assert os.read(master, 100) == b"ping\r\n"  # through the line discipline: it is a tty
        os.write(master, b"pong\n")
        assert os.read(slave, 100) == b"pong\n"
    finally:
        os.close(master)
        os.close(slave)


def test_set_size_is_seen_on_the_slave():
    master, slave, _ = terminal.open_pty()
    try:
        terminal.set_size(master, 33, 101)
        assert terminal.get_size(slave) == (33, 101)
    finally:
        os.close(master)
        os.close(slave)


# --- the hand-over ------------------------------------------------------------------------------

def test_send_and_receive_master_carry_one_fd_and_the_name():
    a, b = socket.socketpair()
    master, slave, name = terminal.open_pty()
    try:
        terminal.send_master(b.fileno(), master, name)
        got, got_name = terminal.receive_master(a)
        try:
            assert got_name == name
            assert os.path.samestat(os.fstat(got), os.fstat(master))
            os.write(slave, b"z")
            assert os.read(got, 1) == b"z"
        finally:
            os.close(got)
        assert os.fstat(b.fileno())  # send_master leaves the caller's socket fd open
    finally:
        for fd in (master, slave):
            os.close(fd)
        a.close()
        b.close()


def test_receive_master_refuses_anything_but_one_fd():
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        socket.send_fds(b, [b"x"], [r, w])
        with pytest.raises(OCIError, match="expected one pty master, got 2 fds"):
            terminal.receive_master(a)
        b.sendall(b"no fds")
        with pytest.raises(OCIError, match="got 0 fds"):
            terminal.receive_master(a)
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_console_socket_pair_receives_what_init_sends_and_never_hangs():
    console = terminal.ConsoleSocket(None)
    master, slave, name = terminal.open_pty()
    try:
        terminal.send_master(console.init_fd, master, name)
        got = console.receive()
        assert console.init_fd == -1, "receive() closes init's end first"
        assert os.path.samestat(os.fstat(got), os.fstat(master))
        os.close(got)
    finally:
        console.close()
        os.close(master)
        os.close(slave)
    nothing = terminal.ConsoleSocket(None)
    try:
        with pytest.raises(OCIError, match="got 0 fds"):  # init died before sending: EOF, not a hang
            nothing.receive()
    finally:
        nothing.close()


def test_setup_sends_the_master_sizes_it_and_returns_the_slave(monkeypatch):
    """setup() in the host's mount namespace, without the /dev/console bind (own_mount_ns False)."""
    from oci_runtime.model import ConsoleSize, Process

    a, b = socket.socketpair()
    console_fd = os.dup(b.fileno())
    b.close()
    slave = terminal.setup(Process(cwd="/", console_size=ConsoleSize(height=12, width=34)), console_fd, False)
    try:
        with pytest.raises(OSError):
            os.fstat(console_fd)  # closed once the master is sent
        master, name = terminal.receive_master(a)
        assert name == os.ttyname(slave)
        assert terminal.get_size(slave) == (12, 34)
        os.write(master, b"in\n")
        assert os.read(slave, 10) == b"in\n"
        os.close(master)
    finally:
        os.close(slave)
        a.close()


def test_attach_makes_the_slave_the_controlling_terminal_and_stdio():
    master, slave, name = terminal.open_pty()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            terminal.attach(slave, 0)
            os.close(os.open("/dev/tty", os.O_RDWR))  # ENXIO without a controlling terminal
            # tcgetpgrp fails (ENOTTY) on a terminal that is not the caller's controlling one
            code = (2 if [os.ttyname(fd) for fd in (0, 1, 2)] != [name] * 3
                    else 3 if os.tcgetpgrp(0) != os.getpgrp() else 0)
        finally:
            os._exit(code)
    os.close(slave)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0


# --- proxy --------------------------------------------------------------------------------------

def _container(body) -> tuple[int, int]:
    """A forked stand-in for the container: its stdio is a new pty's slave; returns (master, pid)."""
    master, slave, _ = terminal.open_pty()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            terminal.attach(slave, 0)
            code = body()
        finally:
            os._exit(code)
    os.close(slave)
    return master, pid


def _read_all(fd: int) -> bytes:
    out = b""
    while data := os.read(fd, 65536):
        out += data
    return out


def test_proxy_copies_both_ways_and_returns_the_wait_status(tmp_path):
    def body() -> int:
        line = os.read(0, 100)
        os.write(1, b"got " + line)
        return 7

    master, pid = _container(body)
    stdin_r, stdin_w = os.pipe()
    out = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    os.write(stdin_w, b"hello\n")
    os.close(stdin_w)  # EOF on stdin stops its copy, not the proxy
    status = terminal.proxy(master, pid, stdin_r, out)
    assert os.waitstatus_to_exitcode(status) == 7
    output = (tmp_path / "out").read_bytes()
    assert b"got hello\r\n" in output
    with pytest.raises(OSError):
        os.fstat(master)  # proxy closes the master
    os.close(stdin_r)
    os.close(out)


def test_proxy_loses_nothing_written_right_before_exit():
    def body() -> int:
        os.write(1, b"x" * 200_000 + b"END")
        return 0

    master, pid = _container(body)
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    os.set_blocking(out_r, False)
    reader_pid = os.fork()
    if reader_pid == 0:  # drains the output pipe so the proxy never blocks on it
        os.close(out_w)
        os.set_blocking(out_r, True)
        data = _read_all(out_r)
        os._exit(0 if data.endswith(b"END") and data.count(b"x") == 200_000 else 1)
    os.close(out_r)
    status = terminal.proxy(master, pid, stdin_r, out_w)
    os.close(out_w)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.waitstatus_to_exitcode(os.waitpid(reader_pid, 0)[1]) == 0, "output lost"
    os.close(stdin_r)
    os.close(stdin_w)


def test_proxy_puts_a_terminal_in_raw_mode_copies_its_size_and_restores_it(tmp_path):
    outer_master, outer_slave, _ = terminal.open_pty()
    terminal.set_size(outer_master, 25, 90)
    before = termios.tcgetattr(outer_slave)
    seen = tmp_path / "seen"

    def body() -> int:
        time.sleep(0.3)  # let the proxy set things up
        seen.write_text(repr(terminal.get_size(0)))
        return 0

    master, pid = _container(body)
    checker = os.fork()
    if checker == 0:  # meanwhile, the caller's terminal is raw: no echo, no canonical mode
        time.sleep(0.15)
        lflag = termios.tcgetattr(outer_slave)[3]
        os._exit(0 if not lflag & (termios.ECHO | termios.ICANON | termios.ISIG) else 1)
    out = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    status = terminal.proxy(master, pid, outer_slave, out)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.waitstatus_to_exitcode(os.waitpid(checker, 0)[1]) == 0, "terminal was not raw during the proxy"
    assert seen.read_text() == "(25, 90)"
    assert termios.tcgetattr(outer_slave) == before, "terminal settings not restored"
    for fd in (outer_master, outer_slave, out):
        os.close(fd)
