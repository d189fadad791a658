"""The config.json files podman and containerd really generated (../shared/fixtures/client-configs)
run on oci-runtime, with root.path pointed at a busybox rootfs and the host paths they name
(bind sources under /var/lib/example) replaced by test files of the same kind."""
import json
import os
from pathlib import Path

import pytest

from conftest import CLIENT_CONFIGS, error_message

FIXTURES = CLIENT_CONFIGS
NEEDS_USER_NAMESPACES = {"podman-uidmap.json"}  # issue 3
# Their programs read the container's cgroup limits, which come with cgroups (issue 4): until
# then they run `echo` instead, so the rest of the config is still exercised.
READS_CGROUP_LIMITS = {"containerd-mem-cpus-seccomp-mount.json", "podman-rootfs-memory-pids-cpus.json"}
DIR_DESTINATIONS = {"/vol", "/dev/shm", "/run/notify"}


def fixture_names() -> list[str]:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert names, f"no client configs found in {FIXTURES}"
    return names


def adapt(name: str, config: dict, bundle_path: Path, rootfs: str) -> dict:
    """Point the config at our rootfs and give every missing bind source a stand-in."""
    config["root"]["path"] = rootfs
    if config["process"].get("terminal"):
        config["process"]["terminal"] = False  # terminals: issue 3
        config["process"]["args"] = ["/bin/echo", "was a terminal config"]
    if config["process"]["args"] == ["/bin/sleep", "1000"] or name in READS_CGROUP_LIMITS:
        config["process"]["args"] = ["/bin/echo", name]
    for i, m in enumerate(config.get("mounts", [])):
        source = m.get("source", "")
        if "bind" in m.get("options", []) or "rbind" in m.get("options", []) or m.get("type") == "bind":
            if os.path.exists(source):
                continue
            stand_in = bundle_path / f"src{i}"
            if m["destination"] in DIR_DESTINATIONS:
                stand_in.mkdir()
            elif m["destination"] == "/run/podman-init":
                stand_in.write_text('#!/bin/sh\nshift\nexec "$@"\n')
                stand_in.chmod(0o755)
            else:
                stand_in.write_text(f"stand-in for {m['destination']}\n")
            m["source"] = str(stand_in)
    return config


@pytest.mark.parametrize("name", fixture_names())
def test_client_config_runs(runtime, bundle, name):
    config = json.loads((FIXTURES / name).read_text())
    adapt(name, config, bundle.path, bundle.config["root"]["path"])
    bundle.config = config
    proc = runtime("run", "--bundle", bundle.write(), "client")
    if name in NEEDS_USER_NAMESPACES:
        assert proc.returncode == 1
        assert "creating a user namespace is not supported" in error_message(proc.stderr)
        return
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "the program printed nothing"
    assert runtime.ids() == []
