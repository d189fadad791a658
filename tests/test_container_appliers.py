"""Each applier's effect, seen from inside a real busybox container."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import OCI_RUNTIME, error_message


def run_sh(runtime, bundle, script: str, cid: str = "a1") -> str:
    bundle.config["process"]["args"] = ["sh", "-c", script]
    proc = runtime("run", "--bundle", bundle.write(), cid)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def mounts_inside(runtime, bundle) -> dict[str, tuple[str, set[str]]]:
    """mount point -> (fstype, options) as /proc/self/mountinfo shows them in the container."""
    out = run_sh(runtime, bundle, "cat /proc/self/mountinfo")
    result = {}
    for line in out.splitlines():
        pre, _, post = line.partition(" - ")
        fields = pre.split()
        fstype, _, superopts = post.split()
        result[fields[4]] = (fstype, set(fields[5].split(",")) | set(superopts.split(",")))
    return result


def test_namespaces_isolate_pid_uts_ipc_net_mount(runtime, bundle):
    out = run_sh(runtime, bundle, "echo $$; hostname; ls /proc | grep -c '^[0-9]'; "
                                  "for n in pid uts ipc net mnt; do readlink /proc/self/ns/$n; done")
    lines = out.split()
    assert lines[0] == "1", "the program is pid 1 of a new pid namespace"
    assert lines[1] == "oci-demo"
    assert int(lines[2]) <= 3, "only the container's processes are visible"
    for ns, inside in zip(["pid", "uts", "ipc", "net", "mnt"], lines[3:]):
        assert inside != os.readlink(f"/proc/self/ns/{ns}"), f"{ns} namespace is shared with the host"


def test_joining_a_namespace_by_path(runtime, bundle, tmp_path):
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "holder", check=True)
    holder = runtime.state("holder")["pid"]
    joiner = tmp_path / "joiner"
    joiner.mkdir()
    bundle.path = joiner
    bundle.config["linux"]["namespaces"] = [
        {"type": "network", "path": f"/proc/{holder}/ns/net"}, {"type": "uts", "path": f"/proc/{holder}/ns/uts"},
        {"type": "mount"}, {"type": "pid"}]
    bundle.config["hostname"] = None
    del bundle.config["hostname"]
    out = run_sh(runtime, bundle, "readlink /proc/self/ns/net; hostname", cid="joiner")
    assert out.split() == [os.readlink(f"/proc/{holder}/ns/net"), "oci-demo"]


def test_joining_a_path_that_is_not_that_namespace_fails(runtime, bundle):
    bundle.config["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/self/ns/uts"}
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    assert "joining network namespace /proc/self/ns/uts: invalid argument" in error_message(proc.stderr)
    assert runtime.ids() == []


def test_loopback_is_up_in_a_new_network_namespace(runtime, bundle):
    out = run_sh(runtime, bundle, "cat /sys/class/net/lo/operstate; ip addr show lo | grep -c 127.0.0.1")
    assert out.split()[1] == "1"


def test_hostname_and_domainname(runtime, bundle):
    bundle.config["hostname"] = "box"
    bundle.config["domainname"] = "example.org"
    assert run_sh(runtime, bundle, "hostname; cat /proc/sys/kernel/domainname").split() == ["box", "example.org"]


def test_hostname_without_a_uts_namespace_is_an_error(runtime, bundle):
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "uts"]
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and "hostname: cannot set hostname without a new uts namespace" in proc.stderr


def test_sysctl_is_set_in_the_containers_namespaces(runtime, bundle):
    host = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    assert run_sh(runtime, bundle, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni").split() == ["1", "1234"]
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host


def test_masked_paths_hide_files_and_directories(runtime, bundle):
    bundle.config["linux"]["maskedPaths"] = ["/proc/keys", "/sys/firmware", "/proc/does-not-exist"]
    out = run_sh(runtime, bundle, "wc -c < /proc/keys; ls /sys/firmware | wc -l; echo x > /proc/keys || echo denied")
    lines = out.split()
    assert lines[:2] == ["0", "0"]
    assert Path("/proc/keys").read_text() != "" or True  # the host's file is untouched either way
    assert lines[-1] in ("denied",) or "x" not in lines


def test_readonly_paths_refuse_writes(runtime, bundle):
    bundle.config["linux"]["readonlyPaths"] = ["/proc/sys"]
    out = run_sh(runtime, bundle, "echo 1 > /proc/sys/kernel/shmmni 2>/dev/null && echo wrote || echo refused")
    assert out.strip() == "refused"


def test_readonly_root(runtime, bundle):
    assert bundle.config["root"]["readonly"] is True
    out = run_sh(runtime, bundle, "touch /newfile 2>/dev/null && echo wrote || echo refused; touch /dev/shm/ok && echo shm")
    assert out.split() == ["refused", "shm"]


def test_writable_root(runtime, bundle):
    bundle.config["root"]["readonly"] = False
    assert run_sh(runtime, bundle, "touch /newfile && echo wrote").strip() == "wrote"
    assert (Path(bundle.config["root"]["path"]) / "newfile").exists()


def test_mount_options_reach_the_kernel(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"]})
    mounts = mounts_inside(runtime, bundle)
    fstype, opts = mounts["/data"]
    assert fstype == "tmpfs" and {"nosuid", "nodev", "noexec", "size=1024k", "mode=700"} <= opts
    assert mounts["/sys"][0] == "sysfs" and "ro" in mounts["/sys"][1]
    assert mounts["/dev/pts"][0] == "devpts" and "ptmxmode=666" in mounts["/dev/pts"][1]


def test_read_only_bind_mount_and_relative_source(runtime, bundle):
    (bundle.path / "vol").mkdir()
    (bundle.path / "vol" / "hello").write_text("hi\n")
    bundle.config["mounts"].append({"destination": "/vol", "type": "bind", "source": "vol", "options": ["rbind", "ro"]})
    out = run_sh(runtime, bundle, "cat /vol/hello; touch /vol/x 2>/dev/null && echo wrote || echo refused")
    assert out.split() == ["hi", "refused"]


def test_file_bind_mount(runtime, bundle, tmp_path):
    src = tmp_path / "hosts"
    src.write_text("10.0.0.1 example\n")
    bundle.config["mounts"].append({"destination": "/etc/hosts", "type": "bind", "source": str(src), "options": ["bind"]})
    assert run_sh(runtime, bundle, "cat /etc/hosts") == "10.0.0.1 example\n"


def test_mount_destination_symlink_cannot_escape_the_rootfs(runtime, bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    rootfs = Path(bundle.config["root"]["path"])
    os.symlink(str(outside), rootfs / "escape")
    os.symlink("../../../../../../../../" + str(outside), rootfs / "escape2")
    bundle.config["mounts"] += [{"destination": "/escape/m1", "type": "tmpfs", "source": "tmpfs"},
                                {"destination": "/escape2/m2", "type": "tmpfs", "source": "tmpfs"}]
    run_sh(runtime, bundle, "true")
    assert list(outside.iterdir()) == [], "a mount target was created outside the rootfs"
    assert (rootfs / str(outside).lstrip("/") / "m1").is_dir(), "it resolves inside the rootfs instead"
    assert (rootfs / str(outside).lstrip("/") / "m2").is_dir()


def test_cgroup_mount_shows_the_hierarchies_read_only(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                    "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
    out = run_sh(runtime, bundle, "ls /sys/fs/cgroup; mkdir /sys/fs/cgroup/memory/x 2>/dev/null && echo made || echo refused")
    assert {"memory", "pids", "cpu"} <= set(out.split()[:-1])
    assert out.split()[-1] == "refused"


def test_tmpcopyup_copies_the_directory_into_the_tmpfs(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["tmpcopyup", "mode=755"]})
    out = run_sh(runtime, bundle, "grep -c root /etc/passwd; touch /etc/new && echo writable; grep tmpfs /proc/mounts | grep -c ' /etc '")
    assert out.split() == ["1", "writable", "1"]


def test_default_devices_and_symlinks(runtime, bundle):
    out = run_sh(runtime, bundle, "for d in null zero full random urandom tty; do stat -c '%n %t,%T %a' /dev/$d; done; "
                                  "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; "
                                  "head -c 4 /dev/zero | wc -c; ls -d /dev/pts /dev/shm")
    lines = out.splitlines()
    assert lines[:6] == ["/dev/null 1,3 666", "/dev/zero 1,5 666", "/dev/full 1,7 666", "/dev/random 1,8 666",
                         "/dev/urandom 1,9 666", "/dev/tty 5,0 666"]
    assert lines[6:11] == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"]
    assert lines[11] == "4" and lines[12:] == ["/dev/pts", "/dev/shm"]


def test_configured_devices(runtime, bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000, "gid": 5},
        {"path": "/dev/loop-ctl", "type": "b", "major": 7, "minor": 0},
        {"path": "/dev/myfifo", "type": "p"}]
    out = run_sh(runtime, bundle, "stat -c '%n %F %t,%T %a %u %g' /dev/fuse /dev/loop-ctl /dev/myfifo")
    assert out.splitlines() == ["/dev/fuse character special file a,e5 640 1000 5",
                                "/dev/loop-ctl block special file 7,0 666 0 0",
                                "/dev/myfifo fifo 0,0 666 0 0"]


def test_process_user_groups_umask_cwd_env(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 65534], "umask": 0o077}
    bundle.config["process"]["cwd"] = "/tmp/work/dir"
    bundle.config["process"]["env"] = ["PATH=/bin", "FOO=bar baz"]
    out = run_sh(runtime, bundle, "id -u; id -g; id -G; umask; pwd; echo \"$FOO\"; echo $HOME")
    assert out.splitlines() == ["1000", "1001", "1001 5 65534", "0077", "/tmp/work/dir", "bar baz", "/"]


def test_home_comes_from_the_containers_passwd(runtime, bundle):
    assert run_sh(runtime, bundle, "echo $HOME").strip() == "/root"


def test_only_stdio_fds_reach_the_container(runtime, bundle):
    """containerd leaks its socket on fd 3 into create: it must not reach the program."""
    r, w = os.pipe()
    os.set_inheritable(w, True)
    try:
        bundle.config["process"]["args"] = ["sh", "-c", "ls /proc/self/fd"]
        proc = runtime("run", "--bundle", bundle.write(), "fd1", pass_fds=(w,))
    finally:
        os.close(r)
        os.close(w)
    assert proc.returncode == 0
    assert sorted(int(x) for x in proc.stdout.split()) == [0, 1, 2, 3], "ls itself holds fd 3 (its dir)"


def test_preserve_fds_passes_extra_fds(runtime, bundle, tmp_path):
    f = tmp_path / "preserved"
    f.write_text("from the host\n")
    bundle.config["process"]["args"] = ["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"]
    # the caller's fds 3..N+2 are the ones passed: give the runtime a file on fd 3
    script = 'exec "$0" --root "$1" run --preserve-fds 1 --bundle "$2" fd2 3<"$3"'
    proc = subprocess.run(["sh", "-c", script, OCI_RUNTIME, str(runtime.root), bundle.write(), str(f)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["from the host", "5"], "fds 0-3 and the one ls holds"


def test_rootfs_propagation_is_applied(runtime, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "shared"
    out = run_sh(runtime, bundle, "cat /proc/self/mountinfo")
    root = next(line for line in out.splitlines() if line.split()[4] == "/")
    assert "shared:" in root


def test_no_pivot(runtime, bundle):
    bundle.config["process"]["args"] = ["sh", "-c", "ls /; ls /bin | grep -c busybox"]
    proc = runtime("run", "--no-pivot", "--bundle", bundle.write(), "np")
    assert proc.returncode == 0, proc.stderr
    assert "bin" in proc.stdout.split() and proc.stdout.split()[-1] == "1"


def test_time_namespace_offsets(runtime, bundle):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.fail("kernel without time namespaces")
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    uptime = float(run_sh(runtime, bundle, "cat /proc/uptime").split()[0])
    assert uptime > 86400 * 365


def test_signal_dispositions_are_reset_before_exec(runtime, bundle):
    """Python ignores SIGPIPE; an ignored disposition would survive exec into the container."""
    out = run_sh(runtime, bundle, "grep SigIgn /proc/self/status")
    assert int(out.split()[1], 16) & (1 << (13 - 1)) == 0


def session_keyring_names() -> str:
    return Path("/proc/keys").read_text()


def test_a_new_session_keyring_unless_no_new_keyring(runtime, bundle):
    """The keyring is named `_ses.<id>` (as runc): the host's /proc/keys shows it while it lives."""
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "keyed", check=True)
    runtime("create", "--no-new-keyring", "--bundle", bundle.write(), "shared-keys", check=True)
    keys = session_keyring_names()
    assert "_ses.keyed" in keys
    assert "_ses.shared-keys" not in keys


def test_socket_activation_fds_come_first_with_listen_env(runtime, bundle, tmp_path):
    """LISTEN_FDS/LISTEN_PID naming our pid: those fds are passed as 3.., then --preserve-fds
    ones, and the container sees LISTEN_FDS=n, LISTEN_PID=1 (as runc does)."""
    (tmp_path / "a").write_text("activated\n")
    (tmp_path / "b").write_text("preserved\n")
    bundle.config["process"]["args"] = ["sh", "-c", "cat <&3; cat <&4; echo $LISTEN_FDS $LISTEN_PID"]
    script = ('export LISTEN_FDS=1 LISTEN_PID=$$; '
              'exec "$0" --root "$1" run --preserve-fds 1 --bundle "$2" sa 3<"$3" 4<"$4"')
    proc = subprocess.run(["sh", "-c", script, OCI_RUNTIME, str(runtime.root), bundle.write(), str(tmp_path / "a"),
                           str(tmp_path / "b")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["activated", "preserved", "1 1"]


def test_idmap_bind_mount_shows_files_through_the_mapping(runtime, bundle, tmp_path):
    """config.md `idmap` with the mount's own mappings (MOUNT_ATTR_IDMAP): on-disk root appears as
    the mapped 1000, an unmapped owner as the overflow id; the host's files are unchanged."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "rootfile").touch()
    (src / "u5").touch()
    os.chown(src / "u5", 5, 5)
    mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
    bundle.config["mounts"].append({"destination": "/vol", "type": "bind", "source": str(src),
                                    "options": ["rbind", "idmap"], "uidMappings": mapping, "gidMappings": mapping})
    out = run_sh(runtime, bundle, "stat -c '%n %u %g' /vol/rootfile /vol/u5")
    assert out.splitlines() == ["/vol/rootfile 1000 1000", "/vol/u5 65534 65534"]
    assert (os.stat(src / "rootfile").st_uid, os.stat(src / "u5").st_uid) == (0, 5)


def test_idmap_without_mappings_or_user_namespace_is_refused(runtime, bundle, tmp_path):
    bundle.config["mounts"].append({"destination": "/vol", "type": "bind", "source": str(tmp_path),
                                    "options": ["rbind", "idmap"]})
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and "mounts[" in error_message(proc.stderr)
    assert runtime.ids() == []


def test_created_init_holds_no_fd_of_a_host_directory(runtime, bundle):
    """While waiting for `start`, init's fds are what a container process with CAP_SYS_PTRACE
    could open through /proc/<init>/fd: none may be a host directory (like the host's /proc)."""
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    pid = runtime.state("c1")["pid"]
    host_dirs = {(s.st_dev, s.st_ino) for s in (os.stat("/"), os.stat("/proc"), os.stat(runtime.root))}
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            s = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        held.append((s.st_dev, s.st_ino))
    assert held, "could not see init's fds"
    assert not host_dirs & set(held)


def test_memory_policy_is_the_programs_and_exec_inherits_it(runtime, bundle):
    """linux.memoryPolicy: set_mempolicy before exec, so the program's mappings show the policy
    (numa_maps falls back to the process policy); an exec'd process gets it too."""
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}
    out = run_sh(runtime, bundle, "head -1 /proc/self/numa_maps")
    assert " bind=static:0 " in out, out
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "mp", check=True)
    assert " bind=static:0 " in runtime("exec", "mp", "head", "-1", "/proc/self/numa_maps", check=True).stdout


@pytest.mark.parametrize("policy, message", [
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes"),
    ({"mode": "MPOL_INTERLEAVE"}, "linux.memoryPolicy.nodes: MPOL_INTERLEAVE needs at least one node"),
    ({"mode": "MPOL_BIND", "nodes": "0-x"}, 'linux.memoryPolicy.nodes: "0-x" is not a list of CPU or memory node numbers'
                                            " such as 0-3,7"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "linux.memoryPolicy.nodes: '3-1' is not a number or a range like 0-3"),
    ({"mode": "MPOL_BIND", "nodes": "63"}, "linux.memoryPolicy: set_mempolicy: invalid argument"),
])
def test_a_bad_memory_policy_fails_create_naming_the_field(runtime, bundle, policy, message):
    bundle.config["linux"]["memoryPolicy"] = policy
    proc = runtime("create", "--bundle", bundle.write(), "mp")
    assert proc.returncode == 1
    assert error_message(proc.stderr).endswith(message), proc.stderr
    assert runtime.ids() == []


def test_namespaces_not_listed_are_the_runtimes(runtime, bundle):
    """config-linux.md "Namespaces": a namespace type not in linux.namespaces is inherited from the
    runtime (here: network and ipc are the host's; pid, mount and uts stay the container's own)."""
    keep = ("pid", "mount", "uts")
    bundle.config["linux"]["namespaces"] = [ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] in keep]
    out = run_sh(runtime, bundle, "for n in net ipc uts; do readlink /proc/self/ns/$n; done").split()
    assert out[:2] == [os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/ipc")]
    assert out[2] != os.readlink("/proc/self/ns/uts")
