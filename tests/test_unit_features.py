"""Unit tests of features.py: `oci-runtime features` is a valid features document that claims exactly what
the appliers implement (every namespace type and hook, every mount option the mounts tables know)."""
import json

import pytest

from oci_runtime import cli, log
from oci_runtime.appliers import mounts
from oci_runtime.features import features
from oci_runtime.validate import validate_features


def test_features_document_is_valid() -> None:
    validate_features(features())


def test_every_namespace_type_and_hook_is_claimed() -> None:
    assert set(features()["linux"]["namespaces"]) == {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}
    assert features()["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                                   "poststop"]


def test_every_mount_option_the_tables_know_is_listed_once_and_sorted() -> None:
    options = features()["mountOptions"]
    assert options == sorted(set(options))
    assert set(options) == {*mounts.FLAGS, *mounts.PROPAGATION, *mounts.RECURSIVE, "tmpcopyup", "idmap", "ridmap"}


def test_every_listed_mount_option_is_accepted_by_mount_options() -> None:
    """A listed option must not be refused (like idmap) nor end up in the filesystem data string."""
    for option in features()["mountOptions"]:
        assert mounts.MountOptions([option]).data == "", option


def test_idmap_is_claimed() -> None:
    f = features()
    assert {"idmap", "ridmap"} <= set(f["mountOptions"]) and f["linux"]["mountExtensions"]["idmap"]["enabled"]


def test_features_command_prints_the_document(capfd: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("_fd", "_json", "_min_level"):  # main() configures the log module: restore it afterwards
        monkeypatch.setattr(log, name, getattr(log, name))
    assert cli.main(["features"]) == 0
    assert json.loads(capfd.readouterr().out) == features()


def test_every_listed_memory_policy_mode_and_flag_is_understood() -> None:
    """features-linux.md: the modes and flags listed MUST be recognised in linux.memoryPolicy."""
    from oci_runtime.appliers import memorypolicy

    listed = features()["linux"]["memoryPolicy"]
    for mode in listed["modes"]:
        nodes = "" if mode in memorypolicy.NO_NODES else "0"
        value, _ = memorypolicy.parse({"mode": mode, "nodes": nodes, "flags": listed["flags"]})
        assert value & 0xFF == memorypolicy.MODES[mode]
    assert sorted(listed["flags"]) == sorted(memorypolicy.FLAGS)
