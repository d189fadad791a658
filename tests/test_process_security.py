"""The process security settings of config.md "Linux Process" / "POSIX process", seen from inside a
real busybox container: capabilities (ambient ones too), noNewPrivileges, rlimits, oomScoreAdj, scheduler
(SCHED_DEADLINE and flags), ioPriority, personality, umask, the LSM labels and the fields this host refuses;
that a setting init can't apply fails `create`, not `start`; and the non-dumpable init (CVE-2019-5736)."""
import errno
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import prctl
import pytest

from conftest import error_message
from oci_runtime.appliers.capabilities import NAMES

HOST_BOUNDING = {name for name, cap in NAMES.items() if prctl.capbset_read(cap)}


def status(text: str) -> dict[str, str]:
    """Fields of /proc/self/status printed by the container."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def mask(*names: str) -> str:
    return format(sum(1 << NAMES[n] for n in names), "016x")


def run(runtime, bundle, script: str, cid: str = "s1", *flags: str):
    bundle.config["process"]["args"] = ["sh", "-c", script]
    return runtime(*flags, "run", "--bundle", bundle.write(), cid)


def run_ok(runtime, bundle, script: str, cid: str = "s1") -> str:
    proc = run(runtime, bundle, script, cid)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def set_caps(bundle, ambient: tuple[str, ...] = (), **sets: list[str]) -> None:
    bundle.config["process"]["capabilities"] = {**sets, "ambient": list(ambient)}


# --- capabilities and noNewPrivileges ---

def test_capability_sets_are_exactly_as_configured(runtime, bundle):
    """With noNewPrivileges the kernel can't add to permitted at exec, so a root program keeps exactly
    the configured permitted set (its effective set is its permitted set, as for any root exec)."""
    set_caps(bundle, bounding=["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SETPCAP"],
             permitted=["CAP_KILL", "CAP_CHOWN"], effective=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_CHOWN"])
    bundle.config["process"]["noNewPrivileges"] = True
    s = status(run_ok(runtime, bundle, "cat /proc/self/status"))
    assert s["CapBnd"] == mask("CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SETPCAP")
    assert s["CapPrm"] == s["CapEff"] == mask("CAP_KILL", "CAP_CHOWN")
    assert s["CapInh"] == mask("CAP_CHOWN")
    assert s["CapAmb"] == mask()
    assert s["NoNewPrivs"] == "1"


def test_a_dropped_capability_is_really_gone(runtime, bundle):
    set_caps(bundle, bounding=["CAP_KILL"], permitted=["CAP_KILL"], effective=["CAP_KILL"])
    out = run_ok(runtime, bundle, "hostname x 2>/dev/null && echo changed || echo refused; "
                                  "mknod /dev/x c 1 3 2>/dev/null && echo made || echo refused")
    assert out.split() == ["refused", "refused"]


def test_non_root_user_keeps_bounding_and_inheritable_sets(runtime, bundle):
    """For a non-root program the kernel grants at exec only the ambient set (empty here), so
    permitted is empty while bounding and inheritable are as configured."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    set_caps(bundle, bounding=["CAP_KILL", "CAP_CHOWN"], permitted=["CAP_KILL", "CAP_CHOWN"],
             effective=["CAP_KILL"], inheritable=["CAP_KILL"])
    s = status(run_ok(runtime, bundle, "cat /proc/self/status"))
    assert (s["Uid"].split()[0], s["CapBnd"], s["CapInh"], s["CapPrm"]) == (
        "1000", mask("CAP_KILL", "CAP_CHOWN"), mask("CAP_KILL"), mask())


def test_ambient_capability_reaches_a_non_root_program(runtime, bundle):
    """An ambient capability (in permitted and inheritable too) is in the non-root program's permitted
    and effective sets after execve, and stays ambient for its own children."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bind = ["CAP_NET_BIND_SERVICE"]
    set_caps(bundle, ambient=tuple(bind), bounding=bind, permitted=bind, inheritable=bind, effective=bind)
    s = status(run_ok(runtime, bundle, "cat /proc/self/status"))
    assert (s["Uid"].split()[0], s["CapBnd"], s["CapInh"]) == ("1000", mask(*bind), mask(*bind))
    assert s["CapAmb"] == s["CapPrm"] == s["CapEff"] == mask(*bind) == format(1 << 10, "016x")


def test_ambient_capability_is_usable_by_a_non_root_program(runtime, bundle):
    """uid 1000 binds port 80 only thanks to the ambient CAP_NET_BIND_SERVICE; without it, refused."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bind = ["CAP_NET_BIND_SERVICE"]
    script = "nc -l -p 80 -w 1 </dev/null >/dev/null 2>&1 & sleep 0.5; netstat -ltn | grep -c ':80 '"
    set_caps(bundle, ambient=tuple(bind), bounding=bind, permitted=bind, inheritable=bind, effective=bind)
    assert run(runtime, bundle, script, "amb").stdout.strip() == "1"
    set_caps(bundle, bounding=bind, permitted=bind, inheritable=bind, effective=bind)
    assert run(runtime, bundle, script, "none").stdout.strip() == "0"


def test_ambient_left_out_by_the_kernels_rules_is_warned_at_create(runtime, bundle, tmp_path):
    """The warning for an ambient cap missing from inheritable comes from `create` (before it reports
    success), in its --log; `start` logs nothing more, and CapAmb is empty."""
    log = tmp_path / "log.json"
    set_caps(bundle, ambient=("CAP_KILL",), bounding=["CAP_KILL"], permitted=["CAP_KILL"], effective=["CAP_KILL"])
    bundle.config["process"]["args"] = ["sh", "-c", "grep CapAmb /proc/self/status > /dev/shm/x; sleep 10"]
    runtime("--log", str(log), "--log-format", "json", "create", "--bundle", bundle.write(), "w2", check=True)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["level"], e["msg"]) for e in entries] == [
        ("warning", "process.capabilities.ambient: ignoring CAP_KILL: not in both permitted and inheritable")]
    runtime("--log", str(log), "--log-format", "json", "start", "w2", check=True)
    assert len(log.read_text().splitlines()) == 1


def test_absent_capabilities_leave_the_runtimes_own(runtime, bundle):
    del bundle.config["process"]["capabilities"]
    s = status(run_ok(runtime, bundle, "cat /proc/self/status"))
    assert s["CapBnd"] == mask(*HOST_BOUNDING)


def test_unknown_and_ungrantable_capabilities_are_one_warning_in_the_log(runtime, bundle, tmp_path):
    """config.md: such values MUST be logged as a warning and SHOULD NOT fail the container.
    CAP_SYS_RESOURCE is missing from root's bounding set on the test host."""
    assert "CAP_SYS_RESOURCE" not in HOST_BOUNDING
    log = tmp_path / "log.json"
    wanted = ["CAP_KILL", "CAP_NET_RAW"]
    set_caps(bundle, bounding=[*wanted, "CAP_TEST", "CAP_SYS_RESOURCE"], permitted=[*wanted, "CAP_SYS_RESOURCE"],
             effective=wanted)
    proc = run(runtime, bundle, "cat /proc/self/status", "w1", "--log", str(log), "--log-format", "json")
    assert proc.returncode == 0 and proc.stderr == ""
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["level"], e["msg"]) for e in entries] == [
        ("warning", "process.capabilities: ignoring unknown or unavailable capabilities: CAP_SYS_RESOURCE, CAP_TEST")]
    s = status(proc.stdout)
    assert s["CapBnd"] == s["CapPrm"] == mask(*wanted)


def test_no_new_privileges_false_is_left_off(runtime, bundle):
    bundle.config["process"]["noNewPrivileges"] = False
    assert status(run_ok(runtime, bundle, "cat /proc/self/status"))["NoNewPrivs"] == "0"


# --- rlimits ---

def test_rlimits_are_set_soft_and_hard(runtime, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1},
                                           {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88}]
    out = run_ok(runtime, bundle, "ulimit -n; ulimit -Hn; ulimit -Hc; grep processes /proc/self/limits")
    nofile, hard, core, nproc = out.splitlines()
    assert (nofile, hard, core) == ("100", "200", "unlimited")
    assert nproc.split()[2:4] == ["77", "88"]


def test_unknown_rlimit_fails_create_naming_the_field(runtime, bundle):
    bundle.config["process"]["rlimits"].append({"type": "RLIMIT_FOO", "soft": 1, "hard": 1})
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and runtime.ids() == []
    assert error_message(proc.stderr).startswith(
        'config.json: process.rlimits[1].type: "RLIMIT_FOO" is not a resource limit of Linux (one of RLIMIT_AS')


def test_soft_above_hard_fails_create_naming_the_field(runtime, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 300, "hard": 200}]
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    assert error_message(proc.stderr) == "config.json: process.rlimits[0].soft: 300 is greater than hard (200)"


# --- oomScoreAdj, scheduler, umask ---

def test_oom_score_adj_is_set(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = 500
    assert run_ok(runtime, bundle, "cat /proc/self/oom_score_adj").strip() == "500"


def test_unset_oom_score_adj_is_inherited_unchanged(runtime, bundle):
    own = Path("/proc/self/oom_score_adj").read_text().strip()
    assert run_ok(runtime, bundle, "cat /proc/self/oom_score_adj").strip() == own


def sched_fields(out: str) -> tuple[int, int, int]:
    """(nice, rt_priority, policy): fields 19, 40 and 41 of /proc/<pid>/stat."""
    fields = out.rsplit(")", 1)[1].split()
    return int(fields[16]), int(fields[37]), int(fields[38])


def test_scheduler_batch_with_nice(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    assert sched_fields(run_ok(runtime, bundle, "cat /proc/self/stat")) == (7, 0, os.SCHED_BATCH)


def test_scheduler_idle(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_IDLE"}
    assert sched_fields(run_ok(runtime, bundle, "cat /proc/self/stat"))[2] == os.SCHED_IDLE


def rt_budget(bundle) -> None:
    """With RT group scheduling (cgroup v1), a cgroup needs an RT budget for SCHED_RR/FIFO tasks."""
    bundle.config["linux"].setdefault("resources", {})["cpu"] = {"realtimeRuntime": 10000}


def test_scheduler_round_robin_priority(runtime, bundle):
    rt_budget(bundle)
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_RR", "priority": 10}
    assert sched_fields(run_ok(runtime, bundle, "cat /proc/self/stat")) == (0, 10, os.SCHED_RR)


def sched_policy(text: str) -> int:
    """The `policy` line of /proc/<pid>/sched."""
    return int(next(line for line in text.splitlines() if line.startswith("policy")).split(":")[1])


def test_scheduler_deadline(runtime, bundle):
    """runtime 10ms within a 30ms deadline and period (nanoseconds), as sched_setattr(2) takes them.
    A SCHED_DEADLINE task can't fork, so the program is cat itself."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                             "deadline": 30_000_000, "period": 30_000_000}
    bundle.config["process"]["args"] = ["cat", "/proc/self/stat", "/proc/self/sched"]
    proc = runtime("run", "--bundle", bundle.write(), "dl")
    assert proc.returncode == 0, proc.stderr
    stat, sched = proc.stdout.split("\n", 1)
    assert sched_fields(stat)[2] == sched_policy(sched) == 6


def test_a_deadline_program_can_not_fork(runtime, bundle):
    """The kernel refuses fork(2) to a SCHED_DEADLINE task (EAGAIN) unless SCHED_FLAG_RESET_ON_FORK."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                             "deadline": 30_000_000, "period": 30_000_000}
    proc = run(runtime, bundle, "sleep 0 & wait; echo after")
    assert proc.returncode != 0 and "after" not in proc.stdout
    assert "can't fork: Resource temporarily unavailable" in proc.stderr


def test_scheduler_flag_reset_on_fork_is_seen_by_children(runtime, bundle):
    """SCHED_FLAG_RESET_ON_FORK: the program runs SCHED_RR 10, a child it forks is back to SCHED_OTHER 0.
    (`; true`: else ash would exec the last command in place, without a fork.)"""
    rt_budget(bundle)
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_RR", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    out = run_ok(runtime, bundle, "cat /proc/$$/stat; sh -c 'cat /proc/self/stat'; true")
    parent, child = out.splitlines()
    assert sched_fields(parent) == (0, 10, os.SCHED_RR)
    assert sched_fields(child) == (0, 0, os.SCHED_OTHER)


def test_scheduler_without_reset_on_fork_children_keep_the_policy(runtime, bundle):
    """The control for the flag: without it a forked child stays SCHED_RR 10."""
    rt_budget(bundle)
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_RR", "priority": 10}
    out = run_ok(runtime, bundle, "cat /proc/$$/stat; sh -c 'cat /proc/self/stat'; true")
    assert [sched_fields(line) for line in out.splitlines()] == [(0, 10, os.SCHED_RR)] * 2


def test_scheduler_deadline_with_reset_on_fork_can_fork(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                             "deadline": 30_000_000, "period": 30_000_000,
                                             "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    out = run_ok(runtime, bundle, "cat /proc/$$/sched; sh -c 'cat /proc/self/sched'; true")
    parent, child = out.split("policy", 2)[1:]
    assert sched_policy("policy" + parent) == 6 and sched_policy("policy" + child) == 0


# --- ioPriority and personality ---

def test_io_priority_best_effort_3_seen_inside(runtime, bundle):
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 3}
    assert run_ok(runtime, bundle, "ionice -p $$").strip() == "best-effort: prio 3"


def test_unset_io_priority_is_left_alone(runtime, bundle):
    assert run_ok(runtime, bundle, "ionice -p $$").strip() == "none: prio 0"


@pytest.mark.parametrize("ioprio, shown", [({"class": "IOPRIO_CLASS_BE", "priority": 3}, "best-effort: prio 3"),
                                           ({"class": "IOPRIO_CLASS_IDLE", "priority": 0}, "idle")])
def test_io_priority_seen_from_the_host(runtime, bundle, ioprio, shown):
    """util-linux's ionice on the host, against the container's program while it sleeps."""
    bundle.config["process"]["ioPriority"] = ioprio
    bundle.config["process"]["args"] = ["sleep", "100"]
    runtime("create", "--bundle", bundle.write(), "io", check=True)
    runtime("start", "io", check=True)
    pid = runtime.state("io")["pid"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00100\x00"
    out = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == shown


def test_personality_linux32(runtime, bundle):
    """PER_LINUX32: uname -m reports the 32-bit machine, for the program and its children."""
    assert platform.machine() == "x86_64", "the expected value below is x86_64's"
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    assert run_ok(runtime, bundle, "uname -m; sh -c 'uname -m'").split() == ["i686", "i686"]


def test_personality_linux(runtime, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX"}
    assert run_ok(runtime, bundle, "uname -m").strip() == platform.machine()


# --- settings init can't apply fail `create`, not `start` ---

def _hard_nofile_above_host() -> int:
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1


@pytest.mark.parametrize("field, value, message", [
    ("oomScoreAdj", -500, "process.oomScoreAdj: setting -500: permission denied"),
    ("rlimits", [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": _hard_nofile_above_host()}],
     f"process.rlimits[0]: setting RLIMIT_NOFILE to soft 10, hard {_hard_nofile_above_host()}: operation not permitted "
     "(raising a hard limit needs CAP_SYS_RESOURCE)"),
    ("scheduler", {"policy": "SCHED_DEADLINE", "runtime": 30_000_000, "deadline": 10_000_000},
     "process.scheduler: setting SCHED_DEADLINE: invalid argument"),
])
def test_a_setting_init_cannot_apply_fails_create(runtime, bundle, field, value, message):
    """Lowering oomScoreAdj or raising a hard rlimit needs CAP_SYS_RESOURCE (absent here); a deadline
    shorter than the runtime is refused by the kernel. Each fails `create` with exit 1 and one error
    line naming the field, and leaves no state: no `start` is needed to find out."""
    assert "CAP_SYS_RESOURCE" not in HOST_BOUNDING
    bundle.config["process"][field] = value
    bundle.config["process"].get("capabilities", {}).pop("ambient", None)  # no warning line on stderr
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and runtime.ids() == []
    assert error_message(proc.stderr) == f"oci-runtime create failed: unable to start container process: {message}"


def test_umask(runtime, bundle):
    bundle.config["process"]["user"]["umask"] = 0o027
    out = run_ok(runtime, bundle, "umask; touch /dev/shm/f; stat -c %a /dev/shm/f")
    assert out.split() == ["0027", "640"]


# --- fields this host refuses ---

@pytest.mark.parametrize("where, field, value, message", [
    ("process", "apparmorProfile", "acme", "process.apparmorProfile: acme: AppArmor is not enabled on this host"),
    ("process", "selinuxLabel", "system_u:system_r:svirt_lxc_net_t:s0",
     "process.selinuxLabel: system_u:system_r:svirt_lxc_net_t:s0: SELinux is not enabled on this host"),
])
def test_refused_fields_fail_create_with_one_line(runtime, bundle, where, field, value, message):
    bundle.config[where][field] = value
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and runtime.ids() == []
    assert error_message(proc.stderr) == message


def test_mount_label_without_selinux_is_ignored(runtime, bundle):
    """As runc: SELinux label helpers do nothing when SELinux is disabled."""
    bundle.config["linux"]["mountLabel"] = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"
    assert run_ok(runtime, bundle, "echo ok").strip() == "ok"


# --- CVE-2019-5736: the created init is not dumpable ---

def _without_cap_sys_ptrace() -> None:
    """preexec_fn: run `create` as an orchestrator without CAP_SYS_PTRACE (root keeps the rest)."""
    prctl.capbset_drop(prctl.CAP_SYS_PTRACE)


def test_created_init_can_not_be_reached_from_another_container(runtime, bundle, tmp_path):
    """While a container is `created`, its init is our Python interpreter blocked on the exec fifo,
    and /proc/<init>/exe leads to the host's interpreter: a process able to open it could rewrite
    the host's python (CVE-2019-5736). Container B joins A's pid namespace by path and looks at
    A's init (pid 1 there) with the SAME uid and capabilities as A's init (root, everything the
    host grants except CAP_SYS_PTRACE, which A's creator lacked too): the kernel's uid and
    capability-subset checks pass, so only init being non-dumpable stops B. (A process holding
    CAP_SYS_PTRACE passes the dumpable check by design: the next test shows what it reaches.) Control: after `start`, A's program (sleep, made dumpable again by execve) is
    reachable by the very same B, and B reaches its own dumpable processes all along."""
    interpreter = os.path.realpath(sys.executable)
    digest = hashlib.sha256(Path(interpreter).read_bytes()).hexdigest()
    same_caps = sorted(HOST_BOUNDING - {"CAP_SYS_PTRACE"})
    set_caps(bundle, bounding=same_caps, permitted=same_caps, effective=same_caps, inheritable=[])
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "a", check=True, preexec_fn=_without_cap_sys_ptrace)
    a_pid = runtime.state("a")["pid"]
    a_caps = status(Path(f"/proc/{a_pid}/status").read_text())
    assert a_caps["CapPrm"] == mask(*same_caps), "A's init has exactly the caps B's program will have"
    b = tmp_path / "b"
    b.mkdir()
    bundle.path = b
    bundle.config["linux"]["namespaces"] = [{"type": "pid", "path": f"/proc/{a_pid}/ns/pid"},
                                            {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]
    probe = ("sleep 100 & own=$!; readlink /proc/$own/exe >/dev/null && echo own:ok || echo own:denied; kill $own; "
             "cat /proc/1/cmdline >/dev/null 2>&1; readlink /proc/1/exe && echo exe:ok || echo exe:denied; "
             "stat -L -c %i /proc/1/exe 2>/dev/null && echo stat:ok || echo stat:denied; "
             "readlink /proc/1/fd/0 >/dev/null 2>&1 && echo fd:ok || echo fd:denied; "
             "(echo x >> /proc/1/exe) 2>/dev/null && echo write:ok || echo write:denied")
    created = run_ok(runtime, bundle, probe, "b1")
    assert created.split() == ["own:ok", "exe:denied", "stat:denied", "fd:denied", "write:denied"], created
    runtime("start", "a", check=True)
    started = run_ok(runtime, bundle, "readlink /proc/1/exe && echo exe:ok || echo exe:denied", "b2")
    assert started.split() == ["/bin/busybox", "exe:ok"], started
    assert hashlib.sha256(Path(interpreter).read_bytes()).hexdigest() == digest


def test_a_ptrace_capable_container_reaches_only_a_sealed_view_of_the_interpreter(runtime, bundle, tmp_path):
    """CAP_SYS_PTRACE passes the non-dumpable check, so the init is exec'd from a sealed view of the
    interpreter (oci_runtime/sealed.py: the binary through a detached overlayfs with no upper layer,
    on this host): container B, joined to A's pid namespace with every capability the host grants,
    follows /proc/1/exe of A's created init to that view, which it can't write, and never to the
    host's interpreter file."""
    interpreter = os.path.realpath(sys.executable)
    digest = hashlib.sha256(Path(interpreter).read_bytes()).hexdigest()
    every = sorted(HOST_BOUNDING)
    set_caps(bundle, bounding=every, permitted=every, effective=every, inheritable=[])
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "a", check=True)
    a_pid = runtime.state("a")["pid"]
    sealed_view = "/" + os.path.basename(interpreter)  # its path in the detached overlay
    assert os.readlink(f"/proc/{a_pid}/exe") == sealed_view
    with pytest.raises(OSError) as refused:
        open(f"/proc/{a_pid}/exe", "r+b")  # not even the host's root can write through it
    assert refused.value.errno == errno.EROFS
    assert os.stat(f"/proc/{a_pid}/exe").st_dev != os.stat(interpreter).st_dev
    b = tmp_path / "b"
    b.mkdir()
    bundle.path = b
    bundle.config["linux"]["namespaces"] = [{"type": "pid", "path": f"/proc/{a_pid}/ns/pid"},
                                            {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]
    probe = ("readlink /proc/1/exe; stat -L -c %d:%i /proc/1/exe; "
             "(echo x >> /proc/1/exe) 2>/dev/null && echo write:ok || echo write:denied")
    out = run_ok(runtime, bundle, probe, "b1").splitlines()
    assert out[0] == sealed_view, "B reaches A's init exe (it has CAP_SYS_PTRACE)"
    host = os.stat(interpreter)
    assert out[1] != f"{host.st_dev}:{host.st_ino}", "B's stat of it is not the host's file"
    assert out[2] == "write:denied"
    assert hashlib.sha256(Path(interpreter).read_bytes()).hexdigest() == digest
