"""Hostile bundles (issue 8, item 5): a bundle author who tries to reach the host through the rootfs layout,
config.json itself, leaked file descriptors, sysctls, namespaces or cgroups. Each attack must be refused (exit 1
with one error line) or contained (it acts inside the rootfs / the container), and each test shows the host
unchanged: a canary directory outside the rootfs keeps its contents, no host mount mentions it, host values stay.

Already covered elsewhere, not repeated here: symlinks as *parent* components of mount destinations
(test_container_appliers.test_mount_destination_symlink_cannot_escape_the_rootfs), a config.json FIFO at the
library level (test_validate.test_load_config_refuses_a_fifo_without_blocking), the stdio-only fd count for
`run` and --preserve-fds counts (test_container_appliers, test_exec).
"""
import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import OCI_RUNTIME, error_message

REFUSAL_TIMEOUT = 10  # seconds: a refusal is immediate; a hang (FIFO, blocked open) would exceed this


# --- helpers ----------------------------------------------------------------------------------------------------


def rootfs_of(bundle) -> Path:
    return Path(bundle.config["root"]["path"])


def make_canary(tmp_path: Path) -> Path:
    """A host directory outside the rootfs holding one file: what escapes would touch."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "host-file").write_text("host\n")
    return canary


def snapshot(canary: Path) -> dict[str, str]:
    """Every entry below the canary (recursively) -> its content ('<dir>' for directories)."""
    out = {}
    for path in sorted(canary.rglob("*")):
        out[str(path.relative_to(canary))] = "<dir>" if path.is_dir() else path.read_text()
    return out


def host_mounts_mentioning(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


def assert_host_unchanged(canary: Path, before: dict[str, str]) -> None:
    assert snapshot(canary) == before, "the canary outside the rootfs was changed"
    assert host_mounts_mentioning(canary) == [], "a mount landed on the host path"


def run_sh(runtime, bundle, script: str, cid: str = "h1", **kw) -> subprocess.CompletedProcess:
    bundle.config["process"]["args"] = ["sh", "-c", script]
    return runtime("run", "--bundle", bundle.write(), cid, stdin=subprocess.DEVNULL, **kw)


def assert_refused(proc: subprocess.CompletedProcess) -> str:
    """Exit 1 with exactly one logrus error line and no traceback; the message."""
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    return error_message(proc.stderr)


def in_rootfs(bundle, host_path: Path) -> Path:
    """Where an absolute path lands when it is resolved inside the rootfs (as a symlink target is)."""
    return rootfs_of(bundle) / str(host_path).lstrip("/")


def escape_link(target: Path, relative: bool) -> str:
    """A symlink target naming `target`: absolute, or as enough `..` to climb out of any rootfs."""
    return "../" * 32 + str(target).lstrip("/") if relative else str(target)


# --- mount destinations that are symlinks out of the rootfs -----------------------------------------------------


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-link", "dotdot-link"])
@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
def test_mount_destination_that_is_a_symlink_out_mounts_inside_the_rootfs(runtime, bundle, tmp_path, kind, relative):
    """Attack: rootfs/mnt -> <host canary dir>, and a tmpfs or bind mount with destination /mnt. The mount must land
    on the symlink's target resolved inside the rootfs (or be refused), never on the host directory."""
    canary = make_canary(tmp_path)
    before = snapshot(canary)
    os.symlink(escape_link(canary, relative), rootfs_of(bundle) / "mnt")
    if kind == "bind":
        source = tmp_path / "bind-source"
        source.mkdir()
        (source / "from-bind").write_text("b\n")
        bundle.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(source),
                                        "options": ["rbind"]})
    else:
        bundle.config["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"})
    proc = run_sh(runtime, bundle, "ls -A /mnt/; grep -c ' /mnt ' /proc/self/mountinfo; true")
    if proc.returncode == 0:
        listing, mounted_at_link = proc.stdout.split("\n")[:-2], proc.stdout.split("\n")[-2]
        assert listing == (["from-bind"] if kind == "bind" else []), proc.stdout
        assert mounted_at_link == "0", "the symlink itself was mounted over"
        assert in_rootfs(bundle, canary).is_dir(), "the mount point is made inside the rootfs"
    else:
        assert_refused(proc)
    assert_host_unchanged(canary, before)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-link", "dotdot-link"])
@pytest.mark.parametrize("name", ["dev", "proc", "sys"])
def test_special_mount_point_symlinked_to_a_host_dir_stays_inside(runtime, bundle, tmp_path, name, relative):
    """Attack: rootfs/dev, rootfs/proc or rootfs/sys replaced by a symlink to a host directory, so that the devtmpfs
    nodes, procfs or sysfs of the config would be mounted (and /dev populated) on the host. Refused, or contained:
    the container still sees working /dev, /proc and /sys and the host directory is untouched."""
    canary = make_canary(tmp_path)
    before = snapshot(canary)
    os.rmdir(rootfs_of(bundle) / name)
    os.symlink(escape_link(canary, relative), rootfs_of(bundle) / name)
    proc = run_sh(runtime, bundle, "head -c 4 /dev/zero | wc -c; head -1 /proc/self/status; ls -d /sys/kernel")
    if proc.returncode == 0:
        assert proc.stdout.split() == ["4", "Name:", "head", "/sys/kernel"], proc.stdout
    else:
        assert_refused(proc)
    assert_host_unchanged(canary, before)


def test_proc_as_a_regular_file_is_refused_cleanly(runtime, bundle, tmp_path):
    """Attack: rootfs/proc is a regular file (runc refuses to mount procfs on anything but a directory). Refused
    with one error line, or replaced by a working /proc; the file outside the container's view is not followed."""
    proc_file = rootfs_of(bundle) / "proc"
    os.rmdir(proc_file)
    proc_file.write_text("not a directory\n")
    proc = run_sh(runtime, bundle, "head -1 /proc/self/status")
    if proc.returncode == 0:
        assert proc.stdout.startswith("Name:"), proc.stdout
    else:
        assert "proc" in assert_refused(proc)


# --- process.cwd through symlinks -------------------------------------------------------------------------------


def test_cwd_through_a_symlink_to_etc_is_the_containers_etc(runtime, bundle):
    """Attack: rootfs/work -> /etc and process.cwd /work: the process must start in the container's /etc (the
    rootfs copy), never in the host's /etc."""
    rootfs = rootfs_of(bundle)
    os.symlink("/etc", rootfs / "work")
    (rootfs / "etc" / "MARKER-inside-rootfs").write_text("")
    bundle.config["process"]["cwd"] = "/work"
    proc = run_sh(runtime, bundle, "pwd -P; ls -A")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "/etc"
    assert sorted(lines[1:]) == sorted(os.listdir(rootfs / "etc")), "the listing is the rootfs's /etc, not the host's"


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-link", "dotdot-link"])
def test_cwd_made_through_a_symlink_out_is_made_inside_the_rootfs(runtime, bundle, tmp_path, relative):
    """Attack: rootfs/work -> <host canary dir>, process.cwd /work/sub (missing, so the runtime creates it). The
    directory must be made inside the rootfs (or create refuses); the host canary gains nothing."""
    canary = make_canary(tmp_path)
    before = snapshot(canary)
    os.symlink(escape_link(canary, relative), rootfs_of(bundle) / "work")
    bundle.config["process"]["cwd"] = "/work/sub"
    proc = run_sh(runtime, bundle, "pwd -P; ls -A")
    if proc.returncode == 0:
        assert proc.stdout.splitlines() == [f"{canary}/sub"], proc.stdout
        assert in_rootfs(bundle, canary / "sub").is_dir()
    else:
        assert_refused(proc)
    assert_host_unchanged(canary, before)


# --- maskedPaths and readonlyPaths through symlinks -------------------------------------------------------------


def test_masked_and_readonly_paths_through_symlinks_act_on_the_rootfs_copy(runtime, bundle, tmp_path):
    """Attack: rootfs/secret -> <host file>, rootfs/secretdir -> <host dir>; maskedPaths ["/secret"],
    readonlyPaths ["/secretdir"]. The targets resolve inside the rootfs (where a copy exists): that copy is masked
    and made read-only; the host file and directory are neither masked, changed nor made read-only."""
    canary = make_canary(tmp_path)
    before = snapshot(canary)
    rootfs = rootfs_of(bundle)
    os.symlink(str(canary / "host-file"), rootfs / "secret")
    os.symlink(str(canary), rootfs / "secretdir")
    inside = in_rootfs(bundle, canary)
    inside.mkdir(parents=True)
    (inside / "host-file").write_text("inside copy\n")
    bundle.config["linux"]["maskedPaths"] = ["/secret"]
    bundle.config["linux"]["readonlyPaths"] = ["/secretdir"]
    proc = run_sh(runtime, bundle, 'echo "[$(cat /secret)]"; touch /secretdir/new 2>/dev/null && echo rw || echo ro')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[]", "ro"], "the rootfs copy is masked and read-only"
    assert_host_unchanged(canary, before)
    assert (inside / "host-file").read_text() == "inside copy\n"
    (canary / "host-file").write_text("still writable\n")  # the host file is not read-only


def test_masked_paths_through_symlinks_to_host_paths_missing_in_the_rootfs_touch_nothing(runtime, bundle, tmp_path):
    """Attack: maskedPaths and readonlyPaths naming symlinks to host paths that do not exist in the rootfs: they are
    skipped (or refused); nothing is created, masked or remounted on the host."""
    canary = make_canary(tmp_path)
    before = snapshot(canary)
    rootfs = rootfs_of(bundle)
    os.symlink(str(canary / "host-file"), rootfs / "secret")
    os.symlink(escape_link(canary, relative=True), rootfs / "secretdir")
    bundle.config["linux"]["maskedPaths"] = ["/secret", "/secretdir"]
    bundle.config["linux"]["readonlyPaths"] = ["/secret", "/secretdir"]
    proc = run_sh(runtime, bundle, "cat /secret 2>/dev/null; ls -A /secretdir/ 2>/dev/null; true")
    if proc.returncode == 0:
        assert proc.stdout == "", "host contents are visible in the container"
    else:
        assert_refused(proc)
    assert_host_unchanged(canary, before)


# --- config.json that is not a plain file -----------------------------------------------------------------------


def test_config_json_symlink_is_followed_as_runc_does(runtime, bundle, tmp_path):
    """A bundle whose config.json is a symlink to a valid config elsewhere: runc follows it; so does oci-runtime
    (documented behaviour). The state names the bundle directory, not the link's target."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bundle.config["process"]["args"] = ["sleep", "1000"]
    (elsewhere / "real-config.json").write_text(json.dumps(bundle.config))
    os.symlink(elsewhere / "real-config.json", bundle.path / "config.json")
    proc = runtime("create", "--bundle", str(bundle.path), "h1", stdin=subprocess.DEVNULL, timeout=REFUSAL_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert runtime.state("h1")["bundle"] == str(bundle.path)


@pytest.mark.parametrize("kind", ["fifo", "symlink-to-fifo", "symlink-to-dev-zero", "directory", "dangling-symlink",
                                  "symlink-to-an-open-pipe"])
def test_config_json_that_is_not_a_regular_file_fails_fast(runtime, bundle, tmp_path, kind):
    """Attack: config.json as a FIFO nobody writes (or a symlink to one, to /dev/zero, to a pipe held open, a
    directory, a dangling link): create must fail within seconds with one clear error, not hang or read forever."""
    config = bundle.path / "config.json"
    fifo = tmp_path / "fifo"
    keep_open = []
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "symlink-to-fifo":
        os.mkfifo(fifo)
        os.symlink(fifo, config)
    elif kind == "symlink-to-dev-zero":
        os.symlink("/dev/zero", config)
    elif kind == "directory":
        config.mkdir()
    elif kind == "dangling-symlink":
        os.symlink(tmp_path / "missing.json", config)
    else:
        r, w = os.pipe()
        keep_open += [r, w]
        os.symlink(f"/proc/self/fd/{r}", config)
    started = time.monotonic()
    try:
        proc = runtime("create", "--bundle", str(bundle.path), "h1", timeout=REFUSAL_TIMEOUT,
                       pass_fds=keep_open[:1], stdin=subprocess.DEVNULL)
    finally:
        for fd in keep_open:
            os.close(fd)
    assert time.monotonic() - started < REFUSAL_TIMEOUT / 2
    message = assert_refused(proc)
    expected = "no such file or directory" if kind == "dangling-symlink" else "is not a regular file"
    assert message.startswith("config.json: ") and expected in message, message
    assert runtime.ids() == []


# --- leaked and preserved file descriptors ----------------------------------------------------------------------


class LeakedFds:
    """Inheritable fds of several kinds, as a careless caller (a shim, a shell) leaks them into the runtime: a host
    secret file, the host's / directory, a socket and a pipe."""

    def __init__(self, tmp_path: Path) -> None:
        self.secret = tmp_path / f"host-secret-{secrets.token_hex(4)}"
        self.secret.write_text("HOST SECRET\n")
        a, b = socket.socketpair()
        self.sockets = (a, b)
        r, w = os.pipe()
        self.fds = [os.open(self.secret, os.O_RDONLY), os.open("/", os.O_RDONLY | os.O_DIRECTORY), a.fileno(), r, w]
        for fd in self.fds:
            os.set_inheritable(fd, True)

    def close(self) -> None:
        for fd in self.fds[:2] + self.fds[3:]:
            os.close(fd)
        for s in self.sockets:
            s.close()


@pytest.fixture
def leaked(tmp_path):
    fds = LeakedFds(tmp_path)
    yield fds
    fds.close()


# The fd numbers, then their link targets (busybox ls cannot read the link of its own directory fd).
LIST_FDS = "ls /proc/self/fd; echo --; ls -l /proc/self/fd 2>/dev/null"


def fd_table(output: str) -> tuple[set[int], dict[int, str]]:
    """The output of LIST_FDS -> (open fd numbers, fd -> link target)."""
    numbers, _, long_listing = output.partition("--\n")
    targets = {}
    for line in long_listing.splitlines():
        if " -> " in line:
            name, target = line.split(" -> ", 1)
            targets[int(name.split()[-1])] = target
    return {int(n) for n in numbers.split()}, targets


def assert_only_stdio_and_ls_dir(output: str, secret: Path) -> None:
    numbers, targets = fd_table(output)
    assert numbers == {0, 1, 2, 3}, f"fds beyond stdio (and ls's own, 3) reached the container: {numbers} {targets}"
    assert set(targets) <= {0, 1, 2, 3} and targets.get(3, "/proc/x/fd").endswith("/fd"), targets
    assert not any(str(secret) in t or t == "/" for t in targets.values()), targets


def test_leaked_fds_do_not_reach_the_containers_program(runtime, bundle, leaked):
    """Attack: the caller of `run` leaks a host file, the host / directory, a socket and a pipe. The program sees
    only fds 0, 1, 2 (and the directory fd `ls` itself opens)."""
    proc = run_sh(runtime, bundle, LIST_FDS, pass_fds=leaked.fds)
    assert proc.returncode == 0, proc.stderr
    assert_only_stdio_and_ls_dir(proc.stdout, leaked.secret)


def test_leaked_fds_do_not_reach_an_exec_process(runtime, bundle, leaked):
    """Attack: the caller of `exec` leaks host fds: the exec'd process sees only 0, 1, 2 (and ls's own)."""
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "h1", check=True, stdin=subprocess.DEVNULL)
    runtime("start", "h1", check=True)
    proc = runtime("exec", "h1", "sh", "-c", LIST_FDS, pass_fds=leaked.fds, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert_only_stdio_and_ls_dir(proc.stdout, leaked.secret)


def test_leaked_fds_are_not_held_by_the_created_init(runtime, bundle, leaked):
    """Attack: the caller of `create` leaks a host file; until `start`, the container's init must not hold it,
    since a process exec'd into the created container with CAP_SYS_PTRACE could open it through /proc/1/fd (the
    CVE-2024-21626 class: runc's init gets only stdio and the fds it is given)."""
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "h1", check=True, stdin=subprocess.DEVNULL, pass_fds=leaked.fds)
    pid = runtime.state("h1")["pid"]
    targets = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    read_regular_files = 'for f in /proc/1/fd/*; do [ -f "$f" ] && cat "$f"; done 2>/dev/null; true'
    peek = runtime("exec", "--cap", "CAP_SYS_PTRACE", "h1", "sh", "-c", read_regular_files, stdin=subprocess.DEVNULL)
    assert peek.returncode == 0, peek.stderr
    assert "HOST SECRET" not in peek.stdout, "a container process read the host file through the init's fds"
    leaked_inodes = {os.fstat(fd).st_ino for fd in leaked.fds}
    held = {fd: t for fd, t in targets.items()
            if fd > 2 and os.stat(f"/proc/{pid}/fd/{fd}").st_ino in leaked_inodes and "pipe:" not in t}
    assert not held, f"the created init holds the caller's leaked fds: {held}"


def test_preserve_fds_passes_exactly_the_given_fds(runtime, bundle, tmp_path, leaked):
    """--preserve-fds 2: the caller's fds 3 and 4 reach the program (readable), fd 5 (and any other leaked fd)
    does not; nothing else is open."""
    one, two = tmp_path / "preserved-1", tmp_path / "preserved-2"
    one.write_text("first\n")
    two.write_text("second\n")
    bundle.config["process"]["args"] = ["sh", "-c", "cat <&3; cat <&4; " + LIST_FDS]
    script = 'exec "$0" --root "$1" run --preserve-fds 2 --bundle "$2" h1 3<"$3" 4<"$4" 5<"$5"'
    proc = subprocess.run(["sh", "-c", script, OCI_RUNTIME, str(runtime.root), bundle.write(), str(one), str(two),
                           str(leaked.secret)], check=False, capture_output=True, text=True, timeout=30,
                          pass_fds=leaked.fds, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["first", "second"]
    numbers, targets = fd_table("\n".join(lines[2:]) + "\n")
    assert numbers == {0, 1, 2, 3, 4, 5}, (numbers, targets)  # 5: ls's own directory fd
    assert targets[3] == str(one) and targets[4] == str(two), targets
    assert not any(str(leaked.secret) in t for t in targets.values()), targets


def test_a_preserved_number_the_caller_left_closed_stays_closed(runtime, bundle, tmp_path):
    """--preserve-fds 3 with only fd 3 open: fds 4 and 5 stay closed in the program, whatever the runtime
    itself opened at those numbers (its channels to the intermediate, the fds it passes with the orders)."""
    given = tmp_path / "given"
    given.write_text("given\n")
    check = ('cat <&3; for n in 4 5; do '
             '[ -e /proc/$$/fd/$n ] && echo "$n open: $(readlink /proc/$$/fd/$n)" || echo "$n closed"; done')
    bundle.config["process"]["args"] = ["sh", "-c", check]
    script = 'exec "$0" --root "$1" run --preserve-fds 3 --bundle "$2" h1 3<"$3"'
    proc = subprocess.run(["sh", "-c", script, OCI_RUNTIME, str(runtime.root), bundle.write(), str(given)],
                          check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["given", "4 closed", "5 closed"], proc.stdout


# --- sysctls that are not the container's -----------------------------------------------------------------------


def read_sysctl(name: str) -> str:
    return Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()


def write_sysctl(name: str, value: str) -> None:
    Path("/proc/sys/" + name.replace(".", "/")).write_text(value)


@pytest.mark.parametrize("key,drop_netns", [("kernel.printk_ratelimit_burst", False),
                                            ("net.ipv4.tcp_keepalive_probes", True)],
                         ids=["not-namespaced", "net-in-the-host-netns"])
def test_sysctl_that_would_change_the_host_is_refused(runtime, bundle, key, drop_netns):
    """Attack: linux.sysctl naming a sysctl that is not isolated by the container's namespaces: a non-namespaced
    kernel.* key, or a net.* key while the container shares the host's network namespace. runc refuses both
    ("not in a separate kernel namespace" / "not allowed in host network namespace"); the host value must stay."""
    before = read_sysctl(key)
    hostile = str(int(before) + 1)
    bundle.config["linux"]["sysctl"] = {key: hostile}
    if drop_netns:
        bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                                if n["type"] != "network"]
    try:
        proc = runtime("create", "--bundle", bundle.write(), "h1", stdin=subprocess.DEVNULL)
        after = read_sysctl(key)
    finally:
        if read_sysctl(key) != before:
            write_sysctl(key, before)
    assert after == before, f"create changed the host's {key} from {before} to {after} (exit {proc.returncode})"
    assert_refused(proc)
    assert runtime.ids() == []


# --- no mount namespace -----------------------------------------------------------------------------------------


def unmount_below(path: Path) -> list[str]:
    """Lazily unmount every host mount below path (cleaning up after a leak); the mount points found."""
    found = [line.split()[4] for line in host_mounts_mentioning(path)]
    for mountpoint in sorted(found, key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True)
    return found


def test_config_without_a_mount_namespace_leaves_no_mounts_on_the_host(runtime, bundle):
    """Attack: linux.namespaces without "mount", but with the usual mounts and maskedPaths: every mount would be
    made in the host's mount namespace. runc refuses ("unable to restrict sys entries without a private MNT
    namespace"); whatever oci-runtime does, no mount may remain on the host, after create nor after delete.
    (root.readonly is off here so that a failure can never remount anything of the host read-only.)"""
    rootfs = rootfs_of(bundle)
    bundle.config["root"]["readonly"] = False
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "mount"]
    bundle.config["process"]["args"] = ["sleep", "1000"]
    try:
        proc = runtime("create", "--bundle", bundle.write(), "h1", stdin=subprocess.DEVNULL)
        if proc.returncode == 0:
            runtime("delete", "--force", "h1", check=True)
        else:
            assert_refused(proc)
    finally:
        leaked = unmount_below(rootfs)
    assert leaked == [], f"create (exit {proc.returncode}: {proc.stderr.strip()}) left host mounts: {leaked}"


# --- cgroupsPath naming a cgroup that holds host processes ------------------------------------------------------


class VictimCgroup:
    """A cgroup this test makes, holding one host process (a sleep) that is not the container's."""

    def __init__(self) -> None:
        from oci_runtime import cgroups

        self.name = f"oci-hostile-{secrets.token_hex(4)}"
        if cgroups.mode() == "unified":
            self.mounts = [cgroups.ROOT]
            homes = [cgroups.ROOT]
        else:
            hierarchies = cgroups.v1_hierarchies()
            self.mounts = sorted({mp for mp, _ in hierarchies.values()})
            homes = sorted({hierarchies[c][0] for c in ("pids", "freezer") if c in hierarchies})
        self.victim = subprocess.Popen(["sleep", "300"])
        for mp in homes:
            os.mkdir(f"{mp}/{self.name}")
            Path(f"{mp}/{self.name}/cgroup.procs").write_text(str(self.victim.pid))

    def alive(self) -> bool:
        return self.victim.poll() is None

    def remove(self) -> None:
        self.victim.kill()
        self.victim.wait()
        for mp in self.mounts:
            for attempt in range(50):
                try:
                    os.rmdir(f"{mp}/{self.name}")
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
                else:
                    break


@pytest.fixture
def victim_cgroup():
    cg = VictimCgroup()
    yield cg
    cg.remove()


@pytest.mark.parametrize("how", ["delete-force", "failed-create"])
def test_cleanup_kills_only_the_containers_processes_in_a_shared_cgroup(runtime, bundle, victim_cgroup, how):
    """Attack: linux.cgroupsPath names an existing cgroup that already holds a host process. When the container goes
    (delete --force, or a create that fails after joining the cgroup), only the container's processes may be
    killed: runc kills the init (its pid namespace takes the rest), not every pid of the cgroup. (The test uses a
    cgroup of its own holding a sleep: were cgroupsPath "/", the same code would SIGKILL every host process of the
    root cgroup.)"""
    bundle.config["linux"]["cgroupsPath"] = f"/{victim_cgroup.name}"
    bundle.config["process"]["args"] = ["sleep", "1000"]
    if how == "failed-create":
        bundle.config["mounts"].append({"destination": "/missing", "type": "bind", "options": ["bind"],
                                        "source": str(bundle.path / "no-such-source")})
        proc = runtime("create", "--bundle", bundle.write(), "h1", stdin=subprocess.DEVNULL)
        assert_refused(proc)
    else:
        runtime("create", "--bundle", bundle.write(), "h1", check=True, stdin=subprocess.DEVNULL)
        runtime("start", "h1", check=True)
        runtime("delete", "--force", "h1", check=True)
    time.sleep(0.1)
    assert victim_cgroup.alive(), f"{how} killed a host process that shared the container's cgroup"
    assert runtime.ids() == []
