"""Unit tests of appliers/devices.py: real device nodes, made with mknod in a temporary rootfs (we are root),
checked with stat: type, major/minor, mode and owner; the /dev symlinks; and when defaults are skipped."""
import os
import stat
from pathlib import Path

import pytest

from oci_runtime.appliers import devices
from oci_runtime.errors import OCIError
from oci_runtime.model import Device, Linux, Mount, Spec


def spec(*configured: Device, mounts: tuple[Mount, ...] = ()) -> Spec:
    return Spec("1.0.0", mounts=list(mounts), linux=Linux(devices=list(configured)))


def node(path: Path) -> tuple[int, int, int, int, int]:
    """(file type, permission bits, major, minor, uid) of a node, without following symlinks."""
    st = path.lstat()
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev), st.st_uid


@pytest.mark.parametrize(("name", "major", "minor"), [
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
])
def test_default_devices_are_made(root: Path, rootfd: int, name: str, major: int, minor: int) -> None:
    """runtime-spec "Default Devices": character devices, mode 0666 whatever the umask, owned by root."""
    devices.apply(spec(), rootfd)
    assert node(root / "dev" / name) == (stat.S_IFCHR, 0o666, major, minor, 0)


def test_default_symlinks_and_directories(root: Path, rootfd: int) -> None:
    devices.apply(spec(), rootfd)
    dev = root / "dev"
    assert {name: os.readlink(dev / name) for name in ("fd", "stdin", "stdout", "stderr", "ptmx")} == {
        "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
        "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx",
    }
    assert (dev / "pts").is_dir() and (dev / "shm").is_dir()


def test_existing_ptmx_node_is_replaced_by_the_symlink(root: Path, rootfd: int) -> None:
    """A ptmx node shipped in the image would open the host's devpts instance, not the container's."""
    (root / "dev").mkdir()
    os.mknod(root / "dev" / "ptmx", stat.S_IFCHR | 0o666, os.makedev(5, 2))
    devices.apply(spec(), rootfd)
    assert os.readlink(root / "dev" / "ptmx") == "pts/ptmx"


def test_existing_symlinks_other_than_ptmx_are_kept(root: Path, rootfd: int) -> None:
    (root / "dev").mkdir()
    (root / "dev" / "stdin").symlink_to("/somewhere")
    devices.apply(spec(), rootfd)
    assert os.readlink(root / "dev" / "stdin") == "/somewhere"


def test_configured_device_replaces_the_default_of_the_same_path(root: Path, rootfd: int) -> None:
    """Only the configured /dev/null is made: were the default made too, the different minor would clash."""
    devices.apply(spec(Device("c", "/dev/null", 1, 5, 0o600, 1000, 1000)), rootfd)
    assert node(root / "dev" / "null") == (stat.S_IFCHR, 0o600, 1, 5, 1000)
    assert node(root / "dev" / "zero")[2:4] == (1, 5)


def test_configured_device_gets_its_mode_uid_and_gid(root: Path, rootfd: int) -> None:
    devices.apply(spec(Device("c", "/dev/fuse", 10, 229, 0o620, 1000, 5)), rootfd)
    st = (root / "dev" / "fuse").stat()
    assert node(root / "dev" / "fuse") == (stat.S_IFCHR, 0o620, 10, 229, 1000)
    assert st.st_gid == 5


@pytest.mark.parametrize(("dtype", "ifmt"), [("b", stat.S_IFBLK), ("u", stat.S_IFCHR)])
def test_block_and_unbuffered_device_types(root: Path, rootfd: int, dtype: str, ifmt: int) -> None:
    devices.apply(spec(Device(dtype, "/dev/disk0", 8, 1, 0o660, 0, 6)), rootfd)
    assert node(root / "dev" / "disk0") == (ifmt, 0o660, 8, 1, 0)


def test_fifo_device_without_mode_defaults_to_0666(root: Path, rootfd: int) -> None:
    devices.apply(spec(Device("p", "/dev/myfifo")), rootfd)
    assert node(root / "dev" / "myfifo") == (stat.S_IFIFO, 0o666, 0, 0, 0)


def test_device_outside_dev_gets_its_parents(root: Path, rootfd: int) -> None:
    devices.apply(spec(Device("c", "/run/dev/kmsg", 1, 11, 0o644)), rootfd)
    assert node(root / "run" / "dev" / "kmsg") == (stat.S_IFCHR, 0o644, 1, 11, 0)


def test_existing_matching_node_is_reused_and_its_mode_fixed(root: Path, rootfd: int) -> None:
    (root / "dev").mkdir()
    os.mknod(root / "dev" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    devices.apply(spec(), rootfd)
    assert node(root / "dev" / "null") == (stat.S_IFCHR, 0o666, 1, 3, 0)


@pytest.mark.parametrize("wrong", ["file", "other-device"])
def test_existing_wrong_node_is_an_error(root: Path, rootfd: int, wrong: str) -> None:
    """Something else at /dev/null (a file, another device) must not silently stand in for it."""
    (root / "dev").mkdir()
    if wrong == "file":
        (root / "dev" / "null").write_text("")
    else:
        os.mknod(root / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    with pytest.raises(OCIError, match="linux.devices: creating /dev/null: .*file exists"):
        devices.apply(spec(), rootfd)


def test_a_file_at_a_configured_device_path_is_an_error(root: Path, rootfd: int) -> None:
    """config-linux.md "Devices": a different file already at a configured device's path MUST be an
    error (the defaults are covered above)."""
    (root / "dev").mkdir()
    (root / "dev" / "fuse").write_text("not a device")
    with pytest.raises(OCIError, match="linux.devices: creating /dev/fuse: .*file exists"):
        devices.apply(spec(Device("c", "/dev/fuse", 10, 229)), rootfd)
    assert (root / "dev" / "fuse").read_text() == "not a device"


@pytest.mark.parametrize("dev_mount", [
    Mount("/dev", "bind", "/dev"),
    Mount("/dev/", "none", "/dev", ["rbind"]),
    Mount("/dev", "none", "/dev", ["bind", "ro"]),
])
def test_dev_bound_from_the_host_gets_no_defaults(root: Path, rootfd: int, dev_mount: Mount) -> None:
    """/dev is the host's then: only the configured devices are added, no default nodes or symlinks."""
    devices.apply(spec(Device("c", "/dev/fuse", 10, 229), mounts=(dev_mount,)), rootfd)
    assert sorted(p.name for p in (root / "dev").iterdir()) == ["fuse", "pts", "shm"]


def test_dev_tmpfs_mount_still_gets_defaults(root: Path, rootfd: int) -> None:
    devices.apply(spec(mounts=(Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "mode=755"]),)), rootfd)
    assert node(root / "dev" / "null")[0] == stat.S_IFCHR


@pytest.mark.parametrize("major", [2**63 - 1, 2**32, -1])
def test_out_of_range_major_is_an_error_naming_the_device(root: Path, rootfd: int, major: int) -> None:
    """int64 in the schema, an unsigned 32-bit number for mknod: one clear error, not an OverflowError."""
    with pytest.raises(OCIError, match=rf"linux.devices: creating /dev/big: major {major} or minor 1 is not between"):
        devices.apply(spec(Device(type="c", path="/dev/big", major=major, minor=1)), rootfd)
