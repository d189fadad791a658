"""linux.seccomp in real busybox containers: the filter is loaded, its actions and argument filters
act, a real podman profile runs, and SCMP_ACT_NOTIFY hands the listener fd to an agent."""
import array
import errno
import fcntl
import json
import os
import select
import socket
import struct
import threading
from pathlib import Path

from conftest import CLIENT_CONFIGS, cgroup_dirs, error_message

AF_INET, AF_INET6 = 2, 10
SIGSYS = 31
# ioctl(2) requests of seccomp_unotify(2): _IOWR('!', 0, struct seccomp_notif) (80 bytes) and
# _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes)
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
NR_MKDIR = 83  # x86_64


def run_sh(runtime, bundle, script: str, seccomp: dict | None, cid: str = "sc"):
    bundle.config["process"]["args"] = ["sh", "-c", script]
    if seccomp is not None:
        bundle.config["linux"]["seccomp"] = seccomp
    return runtime("run", "--bundle", bundle.write(), cid)


def deny(names: list[str], action: str = "SCMP_ACT_ERRNO", **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": names, "action": action, **extra}]}


def test_the_filter_is_loaded(runtime, bundle):
    without = run_sh(runtime, bundle, "grep '^Seccomp:' /proc/self/status", None, cid="plain")
    with_filter = run_sh(runtime, bundle, "grep '^Seccomp:' /proc/self/status", deny(["mkdir"]))
    assert without.stdout.split() == ["Seccomp:", "0"], without.stderr
    assert with_filter.stdout.split() == ["Seccomp:", "2"], with_filter.stderr


def test_errno_action_with_its_errno_ret(runtime, bundle):
    proc = run_sh(runtime, bundle, "mkdir /dev/shm/a; echo rc=$?; touch /dev/shm/b && echo touched",
                  deny(["mkdir", "mkdirat"], errnoRet=errno.EPERM))
    assert proc.stdout.split() == ["rc=1", "touched"], proc.stderr
    assert "mkdir: can't create directory '/dev/shm/a': Operation not permitted" in proc.stderr


def test_errno_ret_defaults_to_eperm_and_is_honoured_when_set(runtime, bundle):
    proc = run_sh(runtime, bundle, "chmod 600 /dev/shm; mkdir /dev/shm/a",
                  {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                      {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO"},
                      {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDQUOT}]})
    assert "chmod: /dev/shm: Operation not permitted" in proc.stderr
    assert "mkdir: can't create directory '/dev/shm/a': Disk quota exceeded" in proc.stderr


ALLOWED = ["execve", "brk", "arch_prctl", "set_tid_address", "mmap", "munmap", "mprotect", "read", "write", "writev",
           "close", "exit_group", "exit", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "getpid", "getppid",
           "getuid", "geteuid", "getgid", "getegid", "fcntl", "ioctl", "close_range", "open", "openat", "stat",
           "fstat", "newfstatat", "lstat", "getcwd", "wait4", "clone", "fork", "vfork", "dup2", "dup3", "uname",
           "prlimit64", "setpgid", "getpgid", "getpgrp", "set_robust_list", "rseq", "poll", "lseek", "access"]


def test_default_errno_with_an_allow_list(runtime, bundle):
    proc = run_sh(runtime, bundle, "echo allowed; mkdir /dev/shm/a; echo rc=$?",
                  {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
                   "syscalls": [{"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}]})
    assert proc.stdout.split() == ["allowed", "rc=1"], proc.stderr
    assert "mkdir: can't create directory '/dev/shm/a': Function not implemented" in proc.stderr


def test_argument_filters(runtime, bundle):
    """socket(AF_INET) and socket(AF_INET6) denied (two args on one index: either matches, as runc),
    netlink sockets allowed; personality(PER_LINUX32) denied through a masked compare, PER_LINUX allowed."""
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EAFNOSUPPORT,
         "args": [{"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": AF_INET6, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0xFF, "valueTwo": 0x8, "op": "SCMP_CMP_MASKED_EQ"}]}]}
    proc = run_sh(runtime, bundle, "nc 127.0.0.1 1; nc ::1 1; ip link show lo | grep -c LOOPBACK; "
                                   "linux32 uname -m; linux64 uname -m", seccomp)
    assert proc.stderr.count("nc: socket: Address family not supported by protocol") == 2, proc.stderr
    assert "linux32: personality(0x8): Operation not permitted" in proc.stderr
    assert proc.stdout.split() == ["1", "x86_64"]
    del bundle.config["linux"]["seccomp"]
    control = run_sh(runtime, bundle, "nc 127.0.0.1 1; linux32 uname -m", None, cid="control")
    assert "socket" not in control.stderr and control.stdout.split() == ["i686"], control.stderr


def test_kill_actions_end_the_process_with_sigsys(runtime, bundle):
    bundle.config["process"]["args"] = ["mkdir", "-p", "/dev/shm/a"]
    bundle.config["linux"]["seccomp"] = deny(["mkdir", "mkdirat"], "SCMP_ACT_KILL")
    assert runtime("run", "--bundle", bundle.write(), "k1").returncode == 128 + SIGSYS
    bundle.config["linux"]["seccomp"] = deny(["mkdir", "mkdirat"], "SCMP_ACT_KILL_PROCESS")
    assert runtime("run", "--bundle", bundle.write(), "k2").returncode == 128 + SIGSYS
    del bundle.config["linux"]["seccomp"]
    assert runtime("run", "--bundle", bundle.write(), "k3").returncode == 0


def podman_profile() -> dict:
    config = json.loads((CLIENT_CONFIGS / "podman-init.json").read_text())
    profile = config["linux"]["seccomp"]
    assert profile["defaultErrnoRet"] == errno.ENOSYS
    assert len({n for rule in profile["syscalls"] for n in rule["names"]}) > 400
    assert any("args" in rule for rule in profile["syscalls"])
    return profile


def test_podman_profile_runs_busybox(runtime, bundle):
    proc = run_sh(runtime, bundle, "echo hello; ls /; grep '^Seccomp:' /proc/self/status", podman_profile())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "hello" and "bin" in lines and "Seccomp:\t2" in lines


def test_podman_profile_without_no_new_privileges_as_a_non_root_user(runtime, bundle):
    """Without noNewPrivileges the filter is loaded while init is still root (as runc does):
    after the switch to uid 1000 loading it would be refused."""
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    proc = run_sh(runtime, bundle, "id -u; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", podman_profile())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1000", "NoNewPrivs:", "0", "Seccomp:", "2"]


def test_a_refused_profile_fails_create_naming_the_field(runtime, bundle):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}, {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                                          "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}
    proc = runtime("create", "--bundle", bundle.write(), "bad")
    assert proc.returncode == 1
    assert error_message(proc.stderr) == ("config.json: linux.seccomp.syscalls[1].args[0].index: "
                                          "7 is not a syscall argument index (0-5)")
    # found by the intermediate (it builds the filter once, beside the command's work): nothing is left
    assert runtime.ids() == [] and cgroup_dirs("bad") == []


class Agent(threading.Thread):
    """A seccomp agent on a unix socket: receives the container process state and the notify fd,
    answers the first notification with EXDEV, then closes the fd."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.server.settimeout(20)
        self.message: dict = {}
        self.nspid: list[str] = []
        self.syscall = -1
        self.eof = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn, _ = self.server.accept()
            with conn:
                conn.settimeout(20)
                data, ancdata, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4))
                fds = array.array("i")
                for level, kind, payload in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(payload[:4])
                while chunk := conn.recv(65536):
                    data += chunk
                self.eof = True  # the runtime closed the connection after one state
            self.message = json.loads(data)
            pid = self.message["pid"]
            self.nspid = next(line.split()[1:] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                              if line.startswith("NSpid:"))
            notify_fd = fds[0]
            try:
                poller = select.poll()
                poller.register(notify_fd, select.POLLIN)
                assert poller.poll(20000), "no notification"
                notif = bytearray(80)
                fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, notif)
                notif_id, _, _, self.syscall = struct.unpack_from("QIIi", notif)
                fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, struct.pack("QqiI", notif_id, 0, -errno.EXDEV, 0))
            finally:
                os.close(notify_fd)
        except BaseException as e:
            self.error = e
        finally:
            self.server.close()


def test_notify_sends_the_fd_and_state_to_the_listener(runtime, bundle, tmp_path):
    agent = Agent(tmp_path / "agent.sock")
    agent.start()
    bundle.config["annotations"] = {"k": "v"}
    proc = run_sh(runtime, bundle, "mkdir /dev/shm/a; echo rc=$?", {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "agent.sock"),
        "listenerMetadata": "MKNOD=/dev/null", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]})
    agent.join(30)
    assert agent.error is None, repr(agent.error)
    # the agent's answer reached the container: its handling of mkdir was the agent's
    assert proc.stdout.split() == ["rc=1"]
    assert "mkdir: can't create directory '/dev/shm/a': Invalid cross-device link" in proc.stderr
    assert agent.syscall == NR_MKDIR and agent.eof
    msg = agent.message
    assert set(msg) == {"ociVersion", "fds", "pid", "metadata", "state"}
    assert msg["fds"] == ["seccompFd"] and msg["metadata"] == "MKNOD=/dev/null"
    assert agent.nspid == [str(msg["pid"]), "1"], "pid is the container init's, as the runtime sees it"
    assert msg["state"] == {"ociVersion": msg["ociVersion"], "id": "sc", "status": "created", "pid": msg["pid"],
                            "bundle": str(bundle.path), "annotations": {"k": "v"}}


def test_notify_with_no_listener_fails_create(runtime, bundle, tmp_path):
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "nobody.sock"),
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    proc = runtime("create", "--bundle", bundle.write(), "n1")
    assert proc.returncode == 1
    assert f"linux.seccomp.listenerPath: connecting to {tmp_path}/nobody.sock: no such file or directory" \
        in error_message(proc.stderr)
    assert runtime.ids() == []


def test_containers_started_together_share_the_compiled_filter(runtime, bundle):
    """The first containers of a profile compile it at the same time and each writes the cache
    (temp file + rename); every one gets the whole filter, and later ones read the one entry."""
    from concurrent.futures import ThreadPoolExecutor

    from oci_runtime.appliers.seccomp import CACHE_DIR

    bundle.config["process"]["args"] = ["sh", "-c", "mkdir /dev/shm/x; echo rc=$?"]
    bundle.config["linux"]["seccomp"] = deny(["mkdir", "mkdirat"], errnoRet=errno.EROFS)
    path = bundle.write()
    with ThreadPoolExecutor(6) as pool:
        runs = list(pool.map(lambda i: runtime("run", "--bundle", path, f"together{i}"), range(6)))
    assert [(p.returncode, p.stdout.strip()) for p in runs] == [(0, "rc=1")] * 6, [p.stderr for p in runs]
    assert all("Read-only file system" in p.stderr for p in runs)
    cache = runtime.root / CACHE_DIR
    assert [p.suffix for p in cache.iterdir()] == [".json"], "one entry, no temp file left"
    again = runtime("run", "--bundle", path, "later")
    assert (again.returncode, again.stdout.strip()) == (0, "rc=1")
