"""The process security settings of config.md "Linux Process" / "POSIX process", seen from inside a
real busybox container: capabilities, noNewPrivileges, rlimits, oomScoreAdj, scheduler, umask, the
LSM labels and the fields this build refuses; and the non-dumpable init (CVE-2019-5736)."""
import hashlib
import json
import os
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
    """For a non-root program the kernel grants at exec only the ambient set (empty here: see
    capabilities.py), so permitted is empty while bounding and inheritable are as configured."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    set_caps(bundle, bounding=["CAP_KILL", "CAP_CHOWN"], permitted=["CAP_KILL", "CAP_CHOWN"],
             effective=["CAP_KILL"], inheritable=["CAP_KILL"])
    s = status(run_ok(runtime, bundle, "cat /proc/self/status"))
    assert (s["Uid"].split()[0], s["CapBnd"], s["CapInh"], s["CapPrm"]) == (
        "1000", mask("CAP_KILL", "CAP_CHOWN"), mask("CAP_KILL"), mask())


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


def test_raising_a_hard_limit_beyond_the_host_is_an_error_naming_it(runtime, bundle):
    """Without CAP_SYS_RESOURCE (absent here) a hard limit can't be raised above the runtime's own."""
    import resource
    above = resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": above}]
    proc = run(runtime, bundle, "echo ran")
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert (f"process.rlimits[0]: setting RLIMIT_NOFILE to soft 10, hard {above}: operation not permitted"
            in proc.stderr)


# --- oomScoreAdj, scheduler, umask ---

def test_oom_score_adj_is_set(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = 500
    assert run_ok(runtime, bundle, "cat /proc/self/oom_score_adj").strip() == "500"


def test_unset_oom_score_adj_is_inherited_unchanged(runtime, bundle):
    own = Path("/proc/self/oom_score_adj").read_text().strip()
    assert run_ok(runtime, bundle, "cat /proc/self/oom_score_adj").strip() == own


def test_lowering_oom_score_adj_without_cap_sys_resource_is_an_error(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = -500
    proc = run(runtime, bundle, "echo ran")
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert "process.oomScoreAdj: setting -500: permission denied" in proc.stderr


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


def test_scheduler_round_robin_priority(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_RR", "priority": 10}
    assert sched_fields(run_ok(runtime, bundle, "cat /proc/self/stat")) == (0, 10, os.SCHED_RR)


def test_scheduler_deadline_fails_create_clearly(runtime, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 10**6, "deadline": 10**7,
                                             "period": 10**7}
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and runtime.ids() == []
    assert error_message(proc.stderr) == ("config.json: process.scheduler.policy: SCHED_DEADLINE is not supported "
                                          "by oci-runtime yet (it needs sched_setattr)")


def test_umask(runtime, bundle):
    bundle.config["process"]["user"]["umask"] = 0o027
    out = run_ok(runtime, bundle, "umask; touch /dev/shm/f; stat -c %a /dev/shm/f")
    assert out.split() == ["0027", "640"]


# --- fields this host or build refuses ---

@pytest.mark.parametrize("where, field, value, message", [
    ("process", "apparmorProfile", "acme", "process.apparmorProfile: acme: AppArmor is not enabled on this host"),
    ("process", "selinuxLabel", "system_u:system_r:svirt_lxc_net_t:s0",
     "process.selinuxLabel: system_u:system_r:svirt_lxc_net_t:s0: SELinux is not enabled on this host"),
    ("process", "ioPriority", {"class": "IOPRIO_CLASS_IDLE", "priority": 7},
     "config.json: process.ioPriority: not supported by oci-runtime yet (it needs ioprio_set)"),
    ("linux", "personality", {"domain": "LINUX32"},
     "config.json: linux.personality: not supported by oci-runtime yet (it needs personality)"),
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
    capability-subset checks pass, so only init being non-dumpable stops B. A process holding
    CAP_SYS_PTRACE passes the dumpable check by design (ptrace_may_access), so it can't be the
    attacker here. Control: after `start`, A's program (sleep, made dumpable again by execve) is
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
