"""Unit tests of appliers/mounts.py: how `options` are split, and which mount(2)/mount_setattr(2) calls
mount_one() makes, on which object. The kernel is replaced by a recorder (oci_runtime.syscalls is the seam);
destinations are really created in a temporary rootfs, so path resolution is the real openat2 one."""
import errno
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from oci_runtime import syscalls as sc
from oci_runtime.appliers import mounts
from oci_runtime.appliers.mounts import MountOptions
from oci_runtime.errors import OCIError
from oci_runtime.model import Mount, Spec


@dataclass
class Call:
    name: str  # "mount" or "mount_setattr"
    source: str | None
    target: str  # the path handed to the kernel
    resolved: str  # what that path named at the time of the call
    fstype: str | None = None
    flags: int = 0
    data: str | None = None
    attr_clr: int = 0


class Kernel:
    """Records mount calls; `effect` lets a test mimic what a real mount would change; `error` fails them."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.effect: Callable[[Call], None] | None = None
        self.error: OSError | None = None

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        call = Call("mount", source, target, _resolve(target), fstype, flags, data)
        self.calls.append(call)
        if self.error:
            raise self.error
        if self.effect:
            self.effect(call)

    def mount_setattr(self, fd: int, attr_set: int, attr_clr: int, recursive: bool = True) -> None:
        assert recursive
        self.calls.append(Call("mount_setattr", None, str(fd), os.readlink(f"/proc/self/fd/{fd}"),
                               flags=attr_set, attr_clr=attr_clr))


def _resolve(path: str) -> str:
    return os.readlink(path) if path.startswith("/proc/self/fd/") else path


class Root(NamedTuple):
    path: Path
    fd: int


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    k = Kernel()
    monkeypatch.setattr(sc, "mount", k.mount)
    monkeypatch.setattr(sc, "mount_setattr", k.mount_setattr)
    return k


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    path = tmp_path / "rootfs"
    path.mkdir()
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY)
    yield Root(path, fd)
    os.close(fd)


# --- MountOptions ---------------------------------------------------------------------------

SETTERS = {
    "ro": sc.MS_RDONLY, "nosuid": sc.MS_NOSUID, "nodev": sc.MS_NODEV, "noexec": sc.MS_NOEXEC,
    "sync": sc.MS_SYNCHRONOUS, "dirsync": sc.MS_DIRSYNC, "mand": sc.MS_MANDLOCK, "noatime": sc.MS_NOATIME,
    "nodiratime": sc.MS_NODIRATIME, "relatime": sc.MS_RELATIME, "strictatime": sc.MS_STRICTATIME,
    "lazytime": sc.MS_LAZYTIME, "iversion": sc.MS_I_VERSION, "silent": sc.MS_SILENT,
    "nosymfollow": sc.MS_NOSYMFOLLOW,
}
CLEARERS = {
    "rw": "ro", "suid": "nosuid", "dev": "nodev", "exec": "noexec", "async": "sync", "nomand": "mand",
    "atime": "noatime", "diratime": "nodiratime", "norelatime": "relatime", "nostrictatime": "strictatime",
    "nolazytime": "lazytime", "noiversion": "iversion", "loud": "silent", "symfollow": "nosymfollow",
}


@pytest.mark.parametrize("option", SETTERS)
def test_flag_option_sets_its_mount_flag(option: str) -> None:
    """Each flag option maps to its MS_* bit, and is not passed on as filesystem data."""
    opts = MountOptions([option])
    assert (opts.flags, opts.data) == (SETTERS[option], "")


@pytest.mark.parametrize("clearer", CLEARERS)
def test_opposite_flag_option_clears_the_flag_set_before_it(clearer: str) -> None:
    """`nosuid,suid` ends with suid: options apply left to right."""
    assert MountOptions([CLEARERS[clearer], clearer]).flags == 0
    assert MountOptions([clearer, CLEARERS[clearer]]).flags == SETTERS[CLEARERS[clearer]]


def test_last_of_ro_and_rw_wins() -> None:
    """["ro", "rw"] is a writable mount, ["rw", "ro"] a read-only one."""
    assert MountOptions(["ro", "rw"]).flags == 0
    assert MountOptions(["rw", "ro"]).flags == sc.MS_RDONLY


def test_bind_rbind_remount_and_defaults() -> None:
    assert MountOptions(["bind"]).flags == sc.MS_BIND
    assert MountOptions(["rbind"]).flags == sc.MS_BIND | sc.MS_REC
    assert MountOptions(["remount"]).flags == sc.MS_REMOUNT
    assert MountOptions(["defaults"]).flags == 0
    assert MountOptions(["rbind"]).is_bind and not MountOptions(["ro"]).is_bind


def test_propagation_options_are_kept_in_order_apart_from_flags() -> None:
    """Propagation needs mount calls of its own, after the mount, in the order given."""
    opts = MountOptions(["rslave", "nosuid", "private", "runbindable", "shared"])
    assert opts.propagation == [sc.MS_SLAVE | sc.MS_REC, sc.MS_PRIVATE, sc.MS_UNBINDABLE | sc.MS_REC, sc.MS_SHARED]
    assert opts.flags == sc.MS_NOSUID


@pytest.mark.parametrize(("options", "attr_set", "attr_clr"), [
    (["rro", "rnosuid", "rnodev", "rnoexec"],
     sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC, 0),
    (["rro", "rrw"], 0, sc.MOUNT_ATTR_RDONLY),
    (["rnosuid", "rsuid", "rdev", "rexec"], 0, sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC),
    (["rnoatime", "rrelatime"], sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME),
    (["rnoatime", "ratime"], 0, sc.MOUNT_ATTR__ATIME),
    (["rnodiratime"], sc.MOUNT_ATTR_NODIRATIME, 0),
    (["rnodiratime", "rdiratime"], 0, sc.MOUNT_ATTR_NODIRATIME),
    (["rnosymfollow"], sc.MOUNT_ATTR_NOSYMFOLLOW, 0),
    (["rstrictatime"], sc.MOUNT_ATTR_STRICTATIME, sc.MOUNT_ATTR__ATIME),
    (["rstrictatime", "rnostrictatime"], 0, sc.MOUNT_ATTR__ATIME),
    (["rrelatime", "rnorelatime"], 0, sc.MOUNT_ATTR__ATIME),
    (["rnosymfollow", "rsymfollow"], 0, sc.MOUNT_ATTR_NOSYMFOLLOW),
])
def test_recursive_attributes_become_mount_setattr_sets(options: list[str], attr_set: int, attr_clr: int) -> None:
    """`rro`, `rnosuid`... are mount_setattr attributes (not MS_* flags); atime modes clear the whole atime field."""
    opts = MountOptions(options)
    assert (opts.attr_set, opts.attr_clr, opts.flags) == (attr_set, attr_clr, 0)


def test_unknown_options_are_passed_through_as_data() -> None:
    """Filesystem options (tmpfs mode/size...) reach mount(2) as one comma-joined data string, in order."""
    opts = MountOptions(["nosuid", "mode=755", "size=65536k", "nr_inodes=4k"])
    assert (opts.flags, opts.data) == (sc.MS_NOSUID, "mode=755,size=65536k,nr_inodes=4k")


def test_tmpcopyup_is_an_instruction_not_data() -> None:
    opts = MountOptions(["tmpcopyup", "mode=1777"])
    assert opts.tmpcopyup and opts.data == "mode=1777"


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_idmap_options_never_reach_mount_data(option: str) -> None:
    """config.md: idmap/ridmap SHOULD NOT be passed to mount(2); appliers/idmap.py does the work."""
    assert MountOptions(["bind", option]).data == ""


# --- mount_one ------------------------------------------------------------------------------

def test_tmpfs_is_mounted_on_the_destination_created_inside_the_root(kernel: Kernel, root: Root) -> None:
    """The mount target is an fd path naming the new directory <root>/run/app, with flags and data split."""
    mounts.mount_one(Mount("/run/app", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=755", "size=65536k"]), root.fd, "/")
    assert (root.path / "run" / "app").is_dir()
    [call] = kernel.calls
    assert call.target.startswith("/proc/self/fd/")
    assert call == Call("mount", "tmpfs", call.target, str(root.path / "run" / "app"), "tmpfs",
                        sc.MS_NOSUID | sc.MS_NODEV, "mode=755,size=65536k")


def test_mount_without_source_or_data_uses_the_type_and_no_data(kernel: Kernel, root: Root) -> None:
    mounts.mount_one(Mount("/proc", "proc"), root.fd, "/")
    [call] = kernel.calls
    assert (call.source, call.fstype, call.data) == ("proc", "proc", None)


def test_ro_bind_is_bound_then_remounted_read_only(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    """The kernel ignores MS_RDONLY on a new bind: a second MS_BIND|MS_REMOUNT call must carry it (and the
    flags the mount already has, which a remount may not clear)."""
    src = tmp_path / "src"
    src.mkdir()
    mounts.mount_one(Mount("/data", "none", str(src), ["bind", "ro", "nosuid"]), root.fd, "/")
    dest = str(root.path / "data")
    locked = mounts.locked_flags(dest)
    assert [(c.source, c.resolved, c.fstype, c.flags) for c in kernel.calls] == [
        (str(src), dest, None, sc.MS_BIND),
        (None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | locked),
    ]


def test_rbind_keeps_rec_and_is_not_remounted_without_extra_flags(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    """`rw` clears nothing on a fresh bind, so there is nothing to remount."""
    mounts.mount_one(Mount("/data", "none", str(tmp_path), ["rbind", "rw"]), root.fd, "/")
    assert [(c.source, c.flags) for c in kernel.calls] == [(str(tmp_path), sc.MS_BIND | sc.MS_REC)]


def test_type_bind_alone_makes_a_bind_mount(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    mounts.mount_one(Mount("/data", "bind", str(tmp_path)), root.fd, "/")
    assert [(c.source, c.fstype, c.flags) for c in kernel.calls] == [(str(tmp_path), None, sc.MS_BIND)]


def test_propagation_is_changed_after_the_mount_in_option_order(kernel: Kernel, root: Root) -> None:
    mounts.mount_one(Mount("/shared", "tmpfs", "tmpfs", ["rshared", "private"]), root.fd, "/")
    dest = str(root.path / "shared")
    assert [(c.source, c.resolved, c.fstype, c.flags) for c in kernel.calls] == [
        ("tmpfs", dest, "tmpfs", 0),
        (None, dest, None, sc.MS_SHARED | sc.MS_REC),
        (None, dest, None, sc.MS_PRIVATE),
    ]


def test_recursive_attributes_are_set_on_the_new_mount_last(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    mounts.mount_one(Mount("/data", "none", str(tmp_path), ["rbind", "rro", "rnosuid", "rslave"]), root.fd, "/")
    dest = str(root.path / "data")
    assert [(c.name, c.resolved, c.flags, c.attr_clr) for c in kernel.calls] == [
        ("mount", dest, sc.MS_BIND | sc.MS_REC, 0),
        ("mount", dest, sc.MS_SLAVE | sc.MS_REC, 0),
        ("mount_setattr", dest, sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID, 0),
    ]


def test_relative_bind_source_is_resolved_against_the_bundle(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "data").mkdir(parents=True)
    mounts.mount_one(Mount("/data", "none", "data", ["bind"]), root.fd, str(bundle))
    assert [c.source for c in kernel.calls] == [str(bundle / "data")]


def test_file_bind_source_gets_a_file_destination(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    """Binding a file needs a file to mount on; its missing parents are still directories."""
    src = tmp_path / "resolv.conf"
    src.write_text("nameserver 192.0.2.1\n")
    mounts.mount_one(Mount("/etc/resolv.conf", "bind", str(src), ["rbind", "ro"]), root.fd, "/")
    assert (root.path / "etc").is_dir()
    assert (root.path / "etc" / "resolv.conf").is_file()
    assert {c.resolved for c in kernel.calls} == {str(root.path / "etc" / "resolv.conf")}


def test_symlink_to_host_directory_is_followed_inside_the_root(kernel: Kernel, root: Root) -> None:
    """A hostile rootfs's `evil -> /etc` must land the mount on <root>/etc/..., never on the host's /etc."""
    name = "oci-runtime-unit-test-target"
    assert not os.path.lexists(f"/etc/{name}")
    (root.path / "etc").mkdir()
    (root.path / "evil").symlink_to("/etc")
    mounts.mount_one(Mount(f"/evil/{name}", "tmpfs", "tmpfs"), root.fd, "/")
    assert not os.path.lexists(f"/etc/{name}")
    assert (root.path / "etc" / name).is_dir()
    assert [c.resolved for c in kernel.calls] == [str(root.path / "etc" / name)]


def test_dangling_symlink_to_host_path_is_created_inside_the_root(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    """`evil -> <host dir>` with no such directory inside the root: the mount lands on <root><host dir>/x
    and the host's directory stays empty."""
    host = tmp_path / "host"
    host.mkdir()
    (root.path / "evil").symlink_to(host)
    mounts.mount_one(Mount("/evil/x", "tmpfs", "tmpfs"), root.fd, "/")
    assert list(host.iterdir()) == []
    assert [c.resolved for c in kernel.calls] == [str(root.path / str(host).lstrip("/") / "x")]


def test_dotdot_in_destination_is_clamped_to_the_root(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    mounts.mount_one(Mount("/../../escape", "tmpfs", "tmpfs"), root.fd, "/")
    assert not (tmp_path / "escape").exists()
    assert [c.resolved for c in kernel.calls] == [str(root.path / "escape")]


def test_mounts_are_applied_in_config_order(kernel: Kernel, root: Root) -> None:
    spec = Spec("1.0.0", mounts=[Mount("/a", "tmpfs", "tmpfs"), Mount("/a/b", "proc", "proc")])
    mounts.apply(spec, root.fd, "/")
    assert [(c.fstype, c.resolved) for c in kernel.calls] == [("tmpfs", str(root.path / "a")),
                                                              ("proc", str(root.path / "a" / "b"))]


def test_kernel_error_becomes_oci_error_naming_source_and_destination(kernel: Kernel, root: Root) -> None:
    kernel.error = OSError(errno.EPERM, os.strerror(errno.EPERM), "/proc/self/fd/9")
    with pytest.raises(OCIError, match=r"error mounting 'tmpfs' to rootfs at '/run/x': .*operation not permitted"):
        mounts.apply(Spec("1.0.0", mounts=[Mount("/run/x", "tmpfs", "tmpfs")]), root.fd, "/")


def test_missing_bind_source_is_reported_with_its_path(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    spec = Spec("1.0.0", mounts=[Mount("/data", "bind", missing, ["bind"])])
    with pytest.raises(OCIError, match=f"at '/data': {missing}: no such file or directory"):
        mounts.apply(spec, root.fd, "/")
    assert kernel.calls == []


def test_tmpcopyup_copies_what_was_below_into_the_new_tmpfs(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    """The tmpfs is mounted writable, filled with the old contents, then remounted read-only if asked."""
    (root.path / "run").mkdir()
    (root.path / "run" / "keep").write_text("kept")

    def shadow(call: Call) -> None:  # what a real mount does: the path now shows a new, empty filesystem
        if call.fstype == "tmpfs":
            os.rename(call.resolved, tmp_path / "below")
            os.mkdir(call.resolved)

    kernel.effect = shadow
    mounts.mount_one(Mount("/run", "tmpfs", "tmpfs", ["tmpcopyup", "ro", "nosuid", "mode=755"]), root.fd, "/")
    assert (root.path / "run" / "keep").read_text() == "kept"
    dest = str(root.path / "run")
    assert [(c.source, c.resolved, c.fstype, c.flags, c.data) for c in kernel.calls] == [
        ("tmpfs", dest, "tmpfs", sc.MS_NOSUID, "mode=755"),
        (None, dest, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID, "mode=755"),
    ]


def test_cgroup_on_a_cgroup2_host_is_one_cgroup2_mount(kernel: Kernel, root: Root,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "host_cgroup_mounts", lambda: [(".", "cgroup2", "")])
    mounts.mount_one(Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", "nosuid"]), root.fd, "/")
    assert [(c.source, c.resolved, c.fstype, c.flags) for c in kernel.calls] == [
        ("cgroup2", str(root.path / "sys/fs/cgroup"), "cgroup2", sc.MS_RDONLY | sc.MS_NOSUID)]


def test_cgroup_on_a_v1_host_binds_the_containers_own_cgroups(kernel: Kernel, root: Root,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a cgroup namespace: a writable tmpfs holding a bind of init's own cgroup directory
    per hierarchy, each made read-only, then the tmpfs."""
    from oci_runtime import cgroups

    monkeypatch.setattr(mounts, "host_cgroup_mounts",
                        lambda: [("cpu,cpuacct", "cgroup", "cpu,cpuacct"), ("unified", "cgroup2", "")])
    monkeypatch.setattr(cgroups, "own_dirs", lambda: {"/sys/fs/cgroup/cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c1"})
    mounts.mount_one(Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro"]), root.fd, "/")
    top = str(root.path / "sys/fs/cgroup")
    ro_bind = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY
    calls = [(c.source, c.resolved, c.fstype, c.flags & (ro_bind | sc.MS_REC)) for c in kernel.calls]
    assert calls == [
        ("tmpfs", top, "tmpfs", 0),
        ("/sys/fs/cgroup/cpu,cpuacct/c1", top + "/cpu,cpuacct", None, sc.MS_BIND | sc.MS_REC),
        (None, top + "/cpu,cpuacct", None, ro_bind),
        ("/sys/fs/cgroup/unified", top + "/unified", None, sc.MS_BIND | sc.MS_REC),  # not in own_dirs: as is
        (None, top + "/unified", None, ro_bind),
        (None, top, None, ro_bind),
    ]


def test_cgroup_on_a_v1_host_with_a_cgroup_namespace_is_a_tmpfs_of_fresh_hierarchies(
        kernel: Kernel, root: Root, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cgroup namespace each hierarchy is mounted afresh (its root is the container's
    cgroup) under a writable tmpfs, which is made read-only at the end."""
    monkeypatch.setattr(mounts, "host_cgroup_mounts",
                        lambda: [("cpu,cpuacct", "cgroup", "cpu,cpuacct"), ("unified", "cgroup2", "")])
    mounts.mount_one(Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro"]), root.fd, "/", cgroupns=True)
    top = str(root.path / "sys/fs/cgroup")
    *made, remount = kernel.calls
    assert [(c.source, c.resolved, c.fstype, c.flags, c.data) for c in made] == [
        ("tmpfs", top, "tmpfs", 0, "mode=755"),
        ("cgroup", top + "/cpu,cpuacct", "cgroup", sc.MS_RDONLY, "cpu,cpuacct"),
        ("cgroup2", top + "/unified", "cgroup2", sc.MS_RDONLY, None),
    ]
    ro_bind = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY
    assert (remount.source, remount.resolved, remount.flags & ro_bind) == (None, top, ro_bind)


def test_host_cgroup_mounts_reads_hierarchies_from_mountinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    mountinfo = (
        "25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate\n"
        "27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "29 1 0:26 / /mnt/other rw - cgroup2 cgroup2 rw\n"
    )
    monkeypatch.setattr(mounts, "open", lambda *_: io.StringIO(mountinfo), raising=False)
    assert mounts.host_cgroup_mounts() == [
        ("unified", "cgroup2", "nsdelegate"),
        ("systemd", "cgroup", "xattr,name=systemd"),
        ("cpu,cpuacct", "cgroup", "cpu,cpuacct"),
    ]


def test_locked_flags_repeat_the_flags_of_the_existing_mount() -> None:
    """A bind remount must repeat the per-mount flags mountinfo shows for /proc (nosuid, relatime...)."""
    by_option = {"nosuid": sc.MS_NOSUID, "nodev": sc.MS_NODEV, "noexec": sc.MS_NOEXEC, "noatime": sc.MS_NOATIME,
                 "nodiratime": sc.MS_NODIRATIME, "relatime": sc.MS_RELATIME}
    with open("/proc/self/mountinfo") as f:
        [options] = [line.split()[5] for line in f if line.split()[4] == "/proc"]
    assert mounts.locked_flags("/proc") == sum(by_option.get(o, 0) for o in options.split(","))


@pytest.mark.parametrize(("option", "flags"), [
    ("slave", sc.MS_SLAVE), ("rprivate", sc.MS_PRIVATE | sc.MS_REC), ("unbindable", sc.MS_UNBINDABLE),
])
def test_each_propagation_option_is_one_propagation_change(option: str, flags: int) -> None:
    """config.md "Linux mount options": `slave`, `rprivate` and `unbindable` MUST be implemented; each is one
    mount(2) propagation change (MS_REC only for the r* form), not a flag or data of the mount itself."""
    opts = MountOptions([option])
    assert (opts.propagation, opts.flags, opts.data) == ([flags], 0, "")


def test_relative_destination_is_taken_relative_to_the_root(kernel: Kernel, root: Root, tmp_path: Path) -> None:
    """config.md "Mounts": a relative Linux destination MUST be interpreted as relative to "/": `data` is
    mounted on <rootfs>/data, whatever the runtime's working directory is."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        mounts.mount_one(Mount("data", "tmpfs", "tmpfs"), root.fd, "/")
    finally:
        os.chdir(old)
    assert (root.path / "data").is_dir()
    assert list(cwd.iterdir()) == []
    assert [(c.fstype, c.resolved) for c in kernel.calls] == [("tmpfs", str(root.path / "data"))]
