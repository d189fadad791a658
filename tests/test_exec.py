"""`exec` (runc's flags) on real busybox containers: the new process joins the init's namespaces
and cgroup, takes its settings from --process FILE or the container's config plus the flags."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import OCI_RUNTIME, error_message, reap
from test_lifecycle import wait_status

import pytest

from oci_runtime.cli import Flag, parse_flags


@pytest.fixture
def subreaper():
    """The test process as its callers are (conmon, containerd's shim): a child subreaper, so a
    detached exec'd process becomes its child and is reaped by the test. Request it before
    `runtime`: its teardown then runs last and reaps the containers' inits too."""
    import prctl

    prctl.set_child_subreaper(True)
    yield
    prctl.set_child_subreaper(False)
    reap()


def start_sleeper(rt, bundle, cid: str = "e1", start: bool = True) -> int:
    bundle.config["process"]["args"] = ["sleep", "1000"]
    bundle.config["hostname"] = "exec-box"
    rt("create", "--bundle", bundle.write(), cid, check=True, stdin=subprocess.DEVNULL)
    if start:
        rt("start", cid, check=True)
    return rt.state(cid)["pid"]


def test_repeatable_flags_accumulate_in_order():
    flags = [Flag("env,e", "", "VAR", repeatable=True), Flag("cwd", "", "PATH", "")]
    values, rest = parse_flags(flags, ["-e", "A=1", "--env=B=2", "--cwd", "/x", "-e", "C=3", "id", "-e"], "")
    assert values == {"env": ["A=1", "B=2", "C=3"], "cwd": "/x"}
    assert rest == ["id", "-e"]
    assert parse_flags(flags, [], "")[0]["env"] == []


def test_exec_prints_and_passes_the_exit_status_through(runtime, bundle):
    start_sleeper(runtime, bundle)
    proc = runtime("exec", "e1", "echo", "hi")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", "")
    assert runtime("exec", "e1", "sh", "-c", "exit 7").returncode == 7
    assert runtime("exec", "e1", "sh", "-c", "kill -9 $$").returncode == 128 + 9
    assert runtime.state("e1")["status"] == "running"


def test_exec_is_in_the_containers_namespaces_and_cgroup(runtime, bundle):
    init = start_sleeper(runtime, bundle)
    rootfs = bundle.config["root"]["path"]
    with open(os.path.join(rootfs, "marker"), "w") as f:
        f.write("in the rootfs")
    script = ("hostname; echo ---; ps -o pid,args; echo ---; cat /marker; echo; echo ---; cat /proc/self/mountinfo;"
              " echo ---; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup")
    proc = runtime("exec", "e1", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    hostname, ps, marker, mounts, own_cgroup, init_cgroup = proc.stdout.split("---\n")
    assert hostname == "exec-box\n"
    assert "    1 sleep 1000" in ps.splitlines(), ps
    assert marker == "in the rootfs\n"
    with open(f"/proc/{init}/mountinfo") as f:
        assert mounts == f.read(), "the exec'd process sees the init's mounts"
    assert own_cgroup == init_cgroup and own_cgroup.strip()


def test_exec_env_cwd_user_and_additional_gids(runtime, bundle):
    start_sleeper(runtime, bundle)
    proc = runtime("exec", "-e", "FOO=bar", "--env", "BAZ=2", "--cwd", "/etc", "-u", "1000:1001", "-g", "5",
                   "--additional-gids", "7", "e1", "sh", "-c", 'echo "$FOO $BAZ"; pwd; id -u; id -g; id -G')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["bar 2", "/etc", "1000", "1001", "1001 5 7"]


def test_exec_keeps_the_containers_env_and_user_by_default(runtime, bundle):
    bundle.config["process"]["env"] = ["PATH=/bin:/usr/bin", "FROM_CONFIG=yes"]
    bundle.config["process"]["user"] = {"uid": 3, "gid": 4}
    start_sleeper(runtime, bundle)
    proc = runtime("exec", "e1", "sh", "-c", 'echo "$FROM_CONFIG"; id -u; id -g')
    assert proc.stdout.splitlines() == ["yes", "3", "4"], proc.stderr


def test_exec_process_file(runtime, bundle, tmp_path):
    start_sleeper(runtime, bundle)
    caps = ["CAP_KILL", "CAP_CHOWN"]
    process = {"args": ["sh", "-c", 'echo "$A"; pwd; id -u; id -G; grep -E "^Cap(Eff|Bnd)" /proc/self/status'],
               "env": ["PATH=/bin", "A=from-file"], "cwd": "/etc", "user": {"uid": 0, "gid": 0, "additionalGids": [9]},
               "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    proc = runtime("exec", "--process", str(path), "e1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == ["from-file", "/etc", "0", "0 9"]
    want = format((1 << 5) | (1 << 0), "016x")
    assert lines[4:] == [f"CapEff:\t{want}", f"CapBnd:\t{want}"]


def test_exec_cap_flag_adds_a_capability(runtime, bundle):
    caps = ["CAP_KILL"]
    bundle.config["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    start_sleeper(runtime, bundle)
    proc = runtime("exec", "--cap", "CAP_CHOWN", "e1", "grep", "CapEff", "/proc/self/status")
    assert proc.stdout == f"CapEff:\t{format((1 << 5) | (1 << 0), '016x')}\n", proc.stderr
    proc = runtime("exec", "e1", "grep", "CapEff", "/proc/self/status")
    assert proc.stdout == f"CapEff:\t{format(1 << 5, '016x')}\n"


def test_exec_no_new_privs(runtime, bundle):
    bundle.config["process"]["noNewPrivileges"] = False
    start_sleeper(runtime, bundle)
    assert runtime("exec", "e1", "grep", "NoNewPrivs", "/proc/self/status").stdout == "NoNewPrivs:\t0\n"
    assert runtime("exec", "--no-new-privs", "e1", "grep", "NoNewPrivs", "/proc/self/status").stdout == "NoNewPrivs:\t1\n"


SUBREAPER = r"""
import os, subprocess, sys, time, prctl
prctl.set_child_subreaper(True)
rc = subprocess.run(sys.argv[1:]).returncode
pid = int(open(os.environ["PIDFILE"]).read())
ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
print(rc, ppid == os.getpid(), flush=True)
sys.stdin.read()  # until the test is done looking
os.kill(pid, 9)
os.waitpid(pid, 0)
"""


def test_exec_detach_writes_the_pid_file_and_leaves_the_process_to_the_callers_subreaper(runtime, bundle, tmp_path):
    init = start_sleeper(runtime, bundle)
    pidfile = tmp_path / "exec.pid"
    helper = subprocess.Popen(
        [sys.executable, "-c", SUBREAPER, OCI_RUNTIME, "--root", str(runtime.root), "exec", "--detach",
         "--pid-file", str(pidfile), "e1", "sleep", "999"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PIDFILE": str(pidfile)})
    try:
        assert helper.stdout.readline() == "0 True\n", "exit 0, and the process is the caller's child"
        text = pidfile.read_text()
        assert text.isdigit(), "decimal pid, no trailing newline"
        pid = int(text)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read() == b"sleep\x00999\x00"
        for ns in ("pid", "mnt", "uts", "ipc"):
            assert os.stat(f"/proc/{pid}/ns/{ns}").st_ino == os.stat(f"/proc/{init}/ns/{ns}").st_ino, ns
        with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{init}/cgroup") as b:
            assert a.read() == b.read()
        assert pid in json.loads(runtime("ps", "--format", "json", "e1", check=True).stdout)
    finally:
        helper.communicate("", timeout=10)


def test_exec_into_a_created_container_works_as_with_runc(runtime, bundle):
    start_sleeper(runtime, bundle, start=False)
    proc = runtime("exec", "e1", "hostname")
    assert (proc.returncode, proc.stdout) == (0, "exec-box\n"), proc.stderr
    assert runtime.state("e1")["status"] == "created", "exec does not start the container"


def test_exec_into_a_paused_container_is_refused(runtime, bundle):
    start_sleeper(runtime, bundle)
    runtime("pause", "e1", check=True)
    try:
        proc = runtime("exec", "e1", "true", timeout=10)
        assert proc.returncode == 255
        assert error_message(proc.stderr) == "exec failed: cannot exec in a paused container"
    finally:
        runtime("resume", "e1", check=True)


def test_exec_into_a_stopped_container_is_refused(runtime, bundle):
    start_sleeper(runtime, bundle)
    runtime("kill", "e1", "KILL", check=True)
    assert wait_status(runtime, "e1", "stopped")["status"] == "stopped"
    proc = runtime("exec", "e1", "true")
    assert proc.returncode == 255
    assert error_message(proc.stderr) == "exec failed: cannot exec in a stopped container"


def test_exec_into_a_missing_container(runtime):
    proc = runtime("exec", "nope", "true")
    assert proc.returncode == 255 and "container nope does not exist" in error_message(proc.stderr)


def test_exec_of_a_missing_program_fails_with_runcs_wording_and_leaves_nothing(runtime, bundle):
    init = start_sleeper(runtime, bundle)
    proc = runtime("exec", "e1", "/bin/nonexistent")
    assert proc.returncode == 255
    msg = error_message(proc.stderr)
    assert msg.endswith('exec: "/bin/nonexistent": stat /bin/nonexistent: no such file or directory'), msg
    assert json.loads(runtime("ps", "--format", "json", "e1", check=True).stdout) == [init]
    proc = runtime("exec", "e1", "nonexistent-cmd")
    assert proc.returncode == 255
    assert 'exec: "nonexistent-cmd": executable file not found in $PATH' in error_message(proc.stderr)


def test_exec_needs_a_command_without_process_file(runtime, bundle):
    start_sleeper(runtime, bundle)
    proc = runtime("exec", "e1")
    assert proc.returncode == 255 and "requires a minimum of 2 argument(s)" in proc.stderr


def test_exec_into_a_user_namespaced_container(subreaper, runtime, bundle):
    from test_userns import host_ids, with_userns

    with_userns(bundle)
    init = start_sleeper(runtime, bundle)
    proc = runtime("exec", "-d", "--pid-file", str(bundle.path / "pid"), "e1", "sleep", "999")
    assert proc.returncode == 0, proc.stderr
    pid = int((bundle.path / "pid").read_text())
    try:
        assert host_ids(pid) == ("100000", "200000"), "container root is the mapped host id, not host root"
        assert os.stat(f"/proc/{pid}/ns/user").st_ino == os.stat(f"/proc/{init}/ns/user").st_ino
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)  # our child: we are its caller's subreaper
    proc = runtime("exec", "e1", "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert proc.stdout.split() == ["0", "0", "100000", "65536"], proc.stderr


def test_exec_tty_sends_the_pty_master_to_the_console_socket(subreaper, runtime, bundle):
    from test_terminal import Listener

    start_sleeper(runtime, bundle)
    listener = Listener()
    try:
        proc = subprocess.Popen([OCI_RUNTIME, "--root", str(runtime.root), "exec", "--tty", "--detach",
                                 "--console-socket", listener.path, "--pid-file", str(bundle.path / "pid"), "e1",
                                 "sh", "-c", "tty; test -t 0 && test -t 1 && echo tty-ok; sleep 1"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        data, fds, _ = listener.receive()
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        assert len(fds) == 1 and data.startswith(b"/dev/pts/")
        master = fds[0]
        out = b""
        deadline = time.monotonic() + 10
        while b"tty-ok" not in out and time.monotonic() < deadline:
            import select

            if select.select([master], [], [], 0.5)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        assert os.waitpid(int((bundle.path / "pid").read_text()), 0)[1] == 0  # before the hangup of closing
        os.close(master)
        assert out.replace(b"\r\n", b"\n") == data + b"\ntty-ok\n"
    finally:
        listener.close()


def test_exec_detached_tty_needs_a_console_socket(runtime, bundle):
    start_sleeper(runtime, bundle)
    proc = runtime("exec", "--tty", "--detach", "e1", "true")
    assert proc.returncode == 255 and "console socket" in error_message(proc.stderr)


def test_exec_preserve_fds(runtime, bundle, tmp_path):
    start_sleeper(runtime, bundle)
    extra = tmp_path / "extra"
    extra.write_text("through fd 3\n")
    proc = subprocess.run(["sh", "-c", 'exec 3<"$0" 5<"$0"; exec "$@"', str(extra), OCI_RUNTIME, "--root",
                           str(runtime.root), "exec", "--preserve-fds", "1", "e1", "sh", "-c",
                           "cat <&3; ls /proc/self/fd"], capture_output=True, text=True, timeout=30)
    lines = proc.stdout.split()
    assert lines[0:3] == ["through", "fd", "3"], proc.stderr
    fds = sorted(int(n) for n in lines[3:])
    assert fds == [0, 1, 2, 3, 4], fds  # fd 3 passed, fd 5 beyond --preserve-fds closed; 4 is ls's own


def test_exec_tty_in_the_foreground_proxies_the_pty(runtime, bundle):
    import re

    start_sleeper(runtime, bundle)
    proc = runtime("exec", "-t", "e1", "sh", "-c", "tty; exit 3", stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stderr
    assert re.fullmatch(r"/dev/pts/\d+\n", proc.stdout), proc.stdout  # (text mode: \r\n read as \n)


def test_exec_invalid_process_file_names_the_field(runtime, bundle, tmp_path):
    start_sleeper(runtime, bundle)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": ["true"], "cwd": "relative"}))
    proc = runtime("exec", "--process", str(path), "e1")
    assert proc.returncode == 255
    assert error_message(proc.stderr) == 'exec failed: process.cwd: "relative" is not an absolute path (starting with /)'


def test_exec_into_a_container_without_a_mount_namespace_is_chrooted_into_its_root(runtime, bundle):
    """With no mount namespace to join, the process takes the init's root (a chroot), never the
    host's: it sees the rootfs, not the host's files. No mounts in the config: none may land in
    the host's mount table."""
    rootfs = Path(bundle.config["root"]["path"])
    (rootfs / "marker").write_text("inside\n")
    bundle.config["linux"]["namespaces"] = [{"type": t} for t in ("pid", "uts", "ipc", "network")]
    bundle.config["mounts"] = []
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.config["root"]["readonly"] = False
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("run", "-d", "--bundle", bundle.write(), "nomnt", check=True)
    proc = runtime("exec", "nomnt", "sh", "-c", "cat /marker; test -e /work && echo host-visible || echo host-hidden")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["inside", "host-hidden"]


@pytest.mark.parametrize("no_new_keyring", [False, True], ids=["keyring", "no-new-keyring"])
def test_exec_joins_a_session_keyring_named_for_the_container(runtime, bundle, no_new_keyring):
    """As runc: exec'd processes get a session keyring named `_ses.<id>`, like the init, never the
    caller's; with `create --no-new-keyring`, neither does. /proc/keys lists the keyrings the
    reader may view: the init's and, while it runs, the exec'd process's own."""
    cid = f"keys-{os.getpid()}-{int(no_new_keyring)}"  # keyrings outlive containers briefly: a fresh name
    bundle.config["process"]["args"] = ["sleep", "1000"]
    masked = bundle.config["linux"]["maskedPaths"]
    bundle.config["linux"]["maskedPaths"] = [p for p in masked if p != "/proc/keys"]  # masked by default
    flags = ["--no-new-keyring"] if no_new_keyring else []
    runtime("create", *flags, "--bundle", bundle.write(), cid, check=True, stdin=subprocess.DEVNULL)
    runtime("start", cid, check=True)
    proc = runtime("exec", cid, "grep", "-c", f" _ses.{cid}: ", "/proc/keys")
    assert proc.stdout.strip() == ("0" if no_new_keyring else "2"), proc.stderr


def test_exec_cpu_affinity_final_is_the_processs_and_the_init_ignores_it(runtime, bundle, tmp_path):
    """process.execCPUAffinity: `final` once in the container's cgroup; `initial` is for the way
    in; neither applies to the init ("not applicable to the container's init process")."""
    bundle.config["process"]["execCPUAffinity"] = {"initial": "0", "final": "1"}
    init = start_sleeper(runtime, bundle)
    assert "Cpus_allowed_list:\t0-1\n" in Path(f"/proc/{init}/status").read_text()
    process = {**bundle.config["process"], "args": ["grep", "Cpus_allowed_list", "/proc/self/status"]}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    assert runtime("exec", "--process", str(path), "e1", check=True).stdout.split() == ["Cpus_allowed_list:", "1"]
    path.write_text(json.dumps({**process, "execCPUAffinity": {"final": "3-1"}}))
    proc = runtime("exec", "--process", str(path), "e1")
    assert proc.returncode == 255
    assert error_message(proc.stderr) == ("exec failed: process.execCPUAffinity.final: "
                                          "'3-1' is not a number or a range like 0-3")


def test_exec_without_exec_cpu_affinity_has_the_inits_allowed_cpus(runtime, bundle):
    """config.md "Linux Process" execCPUAffinity: with no `final` list the runtime SHOULD NOT change an exec'd
    process's CPU affinity once it is in the container's cgroup, so it runs on the CPUs the init runs on."""
    init = start_sleeper(runtime, bundle)
    status = dict(line.split(":", 1) for line in Path(f"/proc/{init}/status").read_text().splitlines())
    proc = runtime("exec", "e1", "grep", "Cpus_allowed_list", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(":", 1)[1].strip() == status["Cpus_allowed_list"].strip()
