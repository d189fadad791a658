"""Unit tests of appliers/lsm.py: runc's behaviour without the LSM (error for a profile or process
label, mount label ignored), and the /proc/self/attr writes when it is enabled (recorded)."""

import pytest
from conftest import Written

from oci_runtime.appliers import lsm
from oci_runtime.errors import OCIError
from oci_runtime.model import Linux, Process, Spec


def spec(linux: Linux = Linux(), **process: str) -> Spec:
    return Spec("1.0.0", process=Process(cwd="/", **process), linux=linux)


@pytest.fixture
def no_lsm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)


def test_apparmor_profile_without_apparmor_is_an_error(no_lsm: None) -> None:
    with pytest.raises(OCIError, match="^process.apparmorProfile: acme: AppArmor is not enabled on this host$"):
        lsm.check(spec(apparmor_profile="acme"))


def test_selinux_label_without_selinux_is_an_error(no_lsm: None) -> None:
    with pytest.raises(OCIError, match="^process.selinuxLabel: system_u:system_r:x:s0: SELinux is not enabled on this host$"):
        lsm.check(spec(selinux_label="system_u:system_r:x:s0"))


def test_mount_label_without_selinux_is_ignored_as_runc_does(no_lsm: None) -> None:
    lsm.check(spec(Linux(mount_label="system_u:object_r:x:s0")))


def test_mount_label_with_selinux_is_refused_until_mounts_apply_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: True)
    with pytest.raises(OCIError, match="^linux.mountLabel: SELinux mount labels are not supported"):
        lsm.check(spec(Linux(mount_label="system_u:object_r:x:s0")))


def test_enabled_check_matches_this_host() -> None:
    """This test host has neither LSM: the checks must say so (features and create depend on it)."""
    assert lsm.apparmor_enabled() is False and lsm.selinux_enabled() is False




@pytest.mark.parametrize("has_apparmor_dir, path", [(True, "/proc/self/attr/apparmor/exec"), (False, "/proc/self/attr/exec")])
def test_apply_requests_the_labels_for_exec(monkeypatch: pytest.MonkeyPatch, has_apparmor_dir: bool, path: str) -> None:
    written: dict[str, str] = {}
    monkeypatch.setattr(lsm, "open", lambda p, mode="r": Written(p, written), raising=False)
    monkeypatch.setattr(lsm.os.path, "exists", lambda p: has_apparmor_dir and "apparmor" in p)
    lsm.apply(Process(cwd="/", apparmor_profile="acme"))
    assert written == {path: "exec acme"}
    written.clear()
    lsm.apply(Process(cwd="/", selinux_label="system_u:system_r:x:s0"))
    assert written == {"/proc/self/attr/exec": "system_u:system_r:x:s0"}
