"""Runtime-spec v1.3.0 requirements that no other test file's area covers (conformance/requirements.toml): the
extensibility rule for unknown properties, the oldest ociVersion the runtime claims, consoleSize without a
terminal, and features that describe the build rather than the host."""
import copy
import json
import subprocess

import pytest

from oci_runtime import cgroups
from oci_runtime.appliers import lsm
from oci_runtime.features import features
from oci_runtime.validate import validate_config


def with_unknown_keys(config: dict) -> dict:
    """config with properties no spec version defines at the top level and inside process, linux, a mount and
    linux.resources."""
    config = copy.deepcopy(config)
    config["org.example.top"] = {"nested": [1, 2]}
    config["process"]["org.example.process"] = "x"
    config["linux"]["org.example.linux"] = [True]
    config["mounts"][0]["org.example.mount"] = 1
    config["linux"].setdefault("resources", {})["org.example.resources"] = {"limit": "none"}
    return config


def test_unknown_properties_are_ignored_by_validation_and_create(runtime, bundle):
    """config.md "Extensibility": runtimes MUST ignore unknown properties, never generating an error: a config
    with unknown keys at five levels validates, and a container from it runs its program."""
    bundle.config["process"]["args"] = ["echo", "ran"]
    bundle.config = with_unknown_keys(bundle.config)
    validate_config(copy.deepcopy(bundle.config))
    proc = runtime("run", "--bundle", bundle.write(), "x1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"


def test_the_oldest_claimed_oci_version_is_accepted(runtime, bundle):
    """features.md: the runtime MUST accept ociVersionMin (1.0.0) as config.json's ociVersion, in validation and
    when creating a container."""
    oldest = features()["ociVersionMin"]
    assert oldest == "1.0.0"
    bundle.config["ociVersion"] = oldest
    bundle.config["process"]["args"] = ["echo", "ran"]
    validate_config(copy.deepcopy(bundle.config))
    proc = runtime("run", "--bundle", bundle.write(), "v1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"


def test_console_size_without_a_terminal_is_ignored(runtime, bundle):
    """config.md "Process": runtimes MUST ignore consoleSize if terminal is false: create needs no console
    socket, the program's stdio are not ttys, and `run` succeeds."""
    bundle.config["process"]["terminal"] = False
    bundle.config["process"]["consoleSize"] = {"height": 10, "width": 40}
    bundle.config["process"]["args"] = ["sh", "-c", "for fd in 0 1 2; do [ -t $fd ] && echo tty$fd; done; echo ok"]
    proc = runtime("run", "--bundle", bundle.write(), "t1", stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    assert proc.stderr == ""


def test_features_do_not_depend_on_what_the_host_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    """features.md: the Features structure is about the build, not the host, so it SHOULD be determined at build
    time: it stays the same when the host's AppArmor, SELinux and cgroup setup look entirely different. (Seccomp's
    archs and supportedFlags are probed from libseccomp at run time as runc does; the host does not change here.)"""
    before = json.dumps(features(), sort_keys=True)
    apparmor, selinux = lsm.apparmor_enabled(), lsm.selinux_enabled()
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: not apparmor)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: not selinux)
    for mode in ("unified", "hybrid", "legacy", "none"):
        monkeypatch.setattr(cgroups, "mode", lambda root=cgroups.ROOT, mode=mode: mode)
        monkeypatch.setattr(cgroups, "_mounts", list)
        assert json.dumps(features(), sort_keys=True) == before, mode
