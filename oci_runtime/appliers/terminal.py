"""`process.terminal` and `process.consoleSize` (config.md "Process") and the console socket.

config.md: "terminal (bool, OPTIONAL) specifies whether a terminal is attached to the process";
"consoleSize (object, OPTIONAL) specifies the console size in characters of the terminal".
runtime.md leaves the hand-over to the runtime; runc's (which containerd and conmon use) is the
console socket: "--console-socket: path to an AF_UNIX socket which will receive a file descriptor
referencing the master end of the console's pseudoterminal".

How it goes, as runc does it:
- create's parent connects to --console-socket before forking (the path is the host's: after
  pivot_root it is unreachable); the connected fd is inherited by init.
- init, after the root switch (so /dev/ptmx -> pts/ptmx is the container's devpts instance),
  opens /dev/ptmx, unlocks it, opens the slave through the master (TIOCGPTPEER: no path lookup),
  applies consoleSize, bind-mounts the slave onto /dev/console, sends the master in one
  SCM_RIGHTS message with the pty's name as data, and closes the master and the socket.
- before reporting READY, init makes the slave its controlling terminal and fds 0, 1 and 2 (a client
  reading create's output to EOF, like containerd's shim, must not wait for `start`).
- `run` in the foreground with no --console-socket uses a socketpair instead and proxies the
  caller's terminal to the master (proxy()) until the container exits.
"""
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty

from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Process

TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int): lock/unlock the slave
TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int): the pty number
TIOCGPTPEER = 0x5441  # _IO('T', 0x41): open the slave from the master (Linux 4.13)


def check(terminal: bool, console_socket: str | None, detached: bool) -> None:
    """runc's rules: a detached terminal needs a console socket; a socket needs both."""
    if terminal and detached and not console_socket:
        raise OCIError("process.terminal is true but no --console-socket was given: "
                       "a detached container's terminal needs a console socket to be handed to")
    if console_socket and not (terminal and detached):
        raise OCIError("--console-socket is only used when process.terminal is true and the container "
                       "is detached (create, run --detach)")


def connect(path: str) -> int:
    """Connect to the client's console socket; returns the connected fd (close-on-exec)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise OCIError(f"--console-socket: connecting to {path}: {describe(OSError(e.errno, e.strerror))}") from None
    return sock.detach()


class ConsoleSocket:
    """create's side of the hand-over, set up before forking. With a path: the client's socket,
    connected; without (foreground `run`): a socketpair whose other end create reads the master from."""

    def __init__(self, path: str | None) -> None:
        self.receiver: socket.socket | None = None
        if path:
            self.init_fd = connect(path)
        else:
            self.receiver, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.init_fd = theirs.detach()

    def receive(self) -> int:
        """Foreground run, once init is READY: the master it sent (closes init_fd first, so a
        message that never came is an EOF, not a hang)."""
        assert self.receiver is not None
        self.close_init_fd()
        return receive_master(self.receiver)[0]

    def close_init_fd(self) -> None:
        if self.init_fd >= 0:
            os.close(self.init_fd)
            self.init_fd = -1

    def close(self) -> None:
        self.close_init_fd()
        if self.receiver:
            self.receiver.close()


def open_pty() -> tuple[int, int, str]:
    """A new pty from /dev/ptmx: (master, slave, slave path), both fds O_NOCTTY and close-on-exec."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, bytes(4)))[0]  # ptsname
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, f"/dev/pts/{number}"


def set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    height, width, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    return height, width


def send_master(sock_fd: int, master: int, name: str) -> None:
    """One message: the pty name as data, the master as the only SCM_RIGHTS fd."""
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.close()


def receive_master(sock: socket.socket) -> tuple[int, str]:
    """The counterpart of send_master: (master fd, pty name)."""
    data, fds, flags, _ = socket.recv_fds(sock, 4096, 4)
    if len(fds) != 1 or flags & socket.MSG_CTRUNC:
        for fd in fds:
            os.close(fd)
        raise OCIError(f"console socket: expected one pty master, got {len(fds)} fds")
    os.set_inheritable(fds[0], False)
    return fds[0], data.decode(errors="replace")


def mount_console(slave_path: str) -> None:
    """Bind the slave onto /dev/console (made as an empty file, as runc does; a symlink is replaced)."""
    try:
        if os.path.islink("/dev/console"):
            os.unlink("/dev/console")
        if not os.path.lexists("/dev/console"):  # an existing node is mounted over, never opened
            os.close(os.open("/dev/console", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666))
        sc.mount(slave_path, "/dev/console", None, sc.MS_BIND)
    except OSError as e:
        raise OCIError(f"process.terminal: mounting the console on /dev/console: {describe(e)}") from None


def setup(p: Process, console_fd: int, own_mount_ns: bool) -> int:
    """In init, after the root switch: make the pty, hand the master over; returns the slave fd.

    Closes console_fd. /dev/console is bound only in a mount namespace of the container's own
    (in the host's, the bind would land on the host's mount table)."""
    try:
        try:
            master, slave, name = open_pty()
        except OSError as e:
            raise OCIError(f"process.terminal: opening a pty on the container's /dev/ptmx: {describe(e)}") from None
        try:
            if p.console_size is not None and p.console_size.height and p.console_size.width:
                set_size(master, p.console_size.height, p.console_size.width)
            if own_mount_ns:
                mount_console(name)
            try:
                send_master(console_fd, master, name)
            except OSError as e:
                raise OCIError(f"--console-socket: sending the pty master: {describe(e)}") from None
        except BaseException:
            os.close(slave)
            raise
        finally:
            os.close(master)
    finally:
        os.close(console_fd)
    return slave


def attach(slave: int, uid: int) -> None:
    """Before READY (exec: before exec): the slave becomes the controlling terminal and fds 0, 1, 2
    (init is a session leader since setsid); owned by the process's user so it may reopen /dev/tty."""
    try:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        if uid:
            os.fchown(slave, uid, -1)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
    except OSError as e:
        raise OCIError(f"process.terminal: making the pty the process's terminal: {describe(e)}") from None
    os.close(slave)


# --- foreground `run`: the caller's terminal <-> the pty master ----------------------------------

def proxy(master: int, pid: int, stdin: int = 0, stdout: int = 1) -> int:
    """Copy stdin -> master and master -> stdout until child `pid` exits; returns its wait status.

    A terminal on stdin is put in raw mode (the container's pty does the line editing and turns
    ^C into SIGINT) and restored afterwards; its size is copied to the master now and on SIGWINCH.
    Closes master."""
    saved = None
    old_winch = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin, termios.TCSANOW)
        _copy_size(stdin, master)
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: _copy_size(stdin, master))
    pidfd = os.pidfd_open(pid)
    try:
        os.set_blocking(master, False)
        return _pump(master, pidfd, pid, stdin, stdout)
    finally:
        os.close(pidfd)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        os.close(master)


def _copy_size(src: int, dst: int) -> None:
    try:
        set_size(dst, *get_size(src))
    except OSError:
        pass


def _pump(master: int, pidfd: int, pid: int, stdin: int, stdout: int) -> int:
    pending = b""  # input the container's pty has not taken yet: never block on it
    stdin_open = master_open = True
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while True:
        if master_open:
            poller.register(master, select.POLLIN | (select.POLLOUT if pending else 0))
        else:
            _unregister(poller, master)
        if stdin_open and not pending:
            poller.register(stdin, select.POLLIN)
        else:
            _unregister(poller, stdin)
        for fd, events in poller.poll():
            if fd == pidfd:
                status = os.waitpid(pid, 0)[1]
                if master_open:
                    _drain(master, stdout)
                return status
            if fd == stdin:
                data = _read(stdin)
                if data:
                    pending += data if master_open else b""
                else:
                    stdin_open = False
            elif fd == master:
                if events & select.POLLOUT and pending:
                    try:
                        pending = pending[os.write(master, pending):]
                    except BlockingIOError:
                        pass
                    except OSError:
                        pending = b""
                if master_open and events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    data = _read(master)
                    if data is None:
                        continue
                    if data:
                        _write_all(stdout, data)
                    else:  # every slave fd closed: nothing more to copy, wait for the exit
                        master_open = False
                        pending = b""


def _unregister(poller: select.poll, fd: int) -> None:
    try:
        poller.unregister(fd)
    except KeyError:
        pass


def _read(fd: int) -> bytes | None:
    """b"" at end of file (EIO on a master whose slave is closed); None if nothing is there yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _drain(master: int, stdout: int, quiet: float = 0.05) -> None:
    """What the program wrote just before it exited may still be on its way to the master: read
    until the pty reports its slave closed (EIO), or nothing came for `quiet` seconds (a slave fd
    kept by a process outside the container's pid namespace)."""
    while select.select([master], [], [], quiet)[0]:
        data = _read(master)
        if data == b"":
            return
        if data:
            _write_all(stdout, data)


def _write_all(fd: int, data: bytes) -> None:
    """Blocking, as the caller's terminal is; if it is gone (EPIPE...), the output is dropped."""
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            select.select([], [fd], [])
        except OSError:
            return
