"""Unit tests of model.py: every real client config in the shared fixtures becomes the typed model with
its values where the appliers look for them (camelCase -> snake_case, nested types, defaults filled)."""
import copy
import glob
import json
import os
from typing import Any

import pytest

from oci_runtime import model
from oci_runtime.model import Device, IDMapping, Namespace, Spec
from conftest import CLIENT_CONFIGS

FIXTURES = sorted(glob.glob(str(CLIENT_CONFIGS / "*.json")))


def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def test_fixtures_are_present() -> None:
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize("path", FIXTURES, ids=os.path.basename)
def test_fixture_config_is_structured(path: str) -> None:
    config = load(path)
    spec: Spec = model.structure(Spec, config)
    proc, linux = config["process"], config.get("linux", {})

    assert (spec.oci_version, spec.hostname, spec.annotations) == (
        config["ociVersion"], config.get("hostname"), config.get("annotations", {}))
    assert (spec.root.path, spec.root.readonly) == (config["root"]["path"], config["root"].get("readonly", False))
    assert [(m.destination, m.type, m.source, m.options) for m in spec.mounts] == [
        (m["destination"], m.get("type"), m.get("source"), m.get("options", [])) for m in config.get("mounts", [])]

    p = spec.process
    assert (p.args, p.env, p.cwd, p.terminal, p.no_new_privileges) == (
        proc["args"], proc.get("env", []), proc["cwd"], proc.get("terminal", False), proc.get("noNewPrivileges", False))
    user = proc["user"]
    assert (p.user.uid, p.user.gid, p.user.umask, p.user.additional_gids) == (
        user["uid"], user["gid"], user.get("umask"), user.get("additionalGids", []))
    assert (p.capabilities, p.rlimits) == (proc.get("capabilities"), proc.get("rlimits", []))

    lx = spec.linux
    assert [(ns.type, ns.path) for ns in lx.namespaces] == [(ns["type"], ns.get("path")) for ns in linux["namespaces"]]
    assert [(d.type, d.path, d.major, d.minor, d.file_mode, d.uid, d.gid) for d in lx.devices] == [
        (d["type"], d["path"], d.get("major"), d.get("minor"), d.get("fileMode"), d.get("uid"), d.get("gid"))
        for d in linux.get("devices", [])]
    assert (lx.masked_paths, lx.readonly_paths, lx.sysctl) == (
        linux.get("maskedPaths", []), linux.get("readonlyPaths", []), linux.get("sysctl", {}))
    assert (lx.cgroups_path, lx.resources, lx.seccomp, lx.rootfs_propagation) == (
        linux.get("cgroupsPath"), linux.get("resources"), linux.get("seccomp"), linux.get("rootfsPropagation"))
    assert [(m.container_id, m.host_id, m.size) for m in lx.uid_mappings] == [
        (m["containerID"], m["hostID"], m["size"]) for m in linux.get("uidMappings", [])]


def test_uid_and_gid_mappings_use_hostid_and_containerid() -> None:
    spec = model.structure(Spec, load(str(CLIENT_CONFIGS / "podman-uidmap.json")))
    assert spec.linux.uid_mappings == [IDMapping(container_id=0, host_id=100000, size=65536)]
    assert spec.linux.namespace("user") == Namespace("user")


BASE = load(FIXTURES[0])


def test_fields_with_irregular_json_names_and_nested_types() -> None:
    config = copy.deepcopy(BASE)
    config["process"]["execCPUAffinity"] = {"initial": "0-3", "final": "1"}
    config["process"]["consoleSize"] = {"height": 25, "width": 80}
    config["linux"]["namespaces"].append({"type": "cgroup", "path": "/proc/1/ns/cgroup"})
    config["linux"]["timeOffsets"] = {"monotonic": {"secs": 5}}
    config["linux"]["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438}]
    config["mounts"].append({"destination": "/m", "type": "bind", "source": "/s", "options": ["rbind"],
                             "uidMappings": [{"containerID": 1, "hostID": 2, "size": 3}]})
    config["hooks"] = {"createRuntime": [{"path": "/bin/hook", "args": ["hook"], "timeout": 3}]}
    spec = model.structure(Spec, config)
    assert spec.process.exec_cpu_affinity == {"initial": "0-3", "final": "1"}
    assert (spec.process.console_size.height, spec.process.console_size.width) == (25, 80)
    assert spec.linux.namespace("cgroup") == Namespace("cgroup", "/proc/1/ns/cgroup")
    assert spec.linux.time_offsets == {"monotonic": {"secs": 5}}
    assert spec.linux.devices == [Device("c", "/dev/fuse", 10, 229, 0o666)]
    assert spec.mounts[-1].uid_mappings == [IDMapping(1, 2, 3)] and spec.mounts[-1].gid_mappings == []
    [hook] = spec.hooks.create_runtime
    assert (hook.path, hook.args, hook.env, hook.timeout) == ("/bin/hook", ["hook"], [], 3)
    assert spec.hooks.prestart == []


def test_absent_sections_take_defaults_and_unknown_keys_are_ignored() -> None:
    spec = model.structure(Spec, {"ociVersion": "1.0.0", "process": {"cwd": "/"}, "vm": {"x": 1}, "future": True})
    assert (spec.root, spec.mounts, spec.hostname) == (None, [], None)
    assert (spec.linux.namespaces, spec.linux.devices, spec.linux.sysctl) == ([], [], {})
    assert (spec.process.user.uid, spec.process.user.umask, spec.process.args, spec.process.exec_cpu_affinity) == (
        0, None, [], None)


def test_linux_namespace_lookup() -> None:
    spec = model.structure(Spec, BASE)
    assert spec.linux.namespace("pid") == Namespace("pid")
    assert spec.linux.namespace("user") is None


def test_load_spec_makes_a_relative_root_absolute_against_the_bundle() -> None:
    spec = model.load_spec({"ociVersion": "1.0.0", "root": {"path": "rootfs", "readonly": True}}, "/srv/bundle")
    assert (spec.root.path, spec.root.readonly) == ("/srv/bundle/rootfs", True)


def test_load_spec_keeps_an_absolute_root() -> None:
    spec = model.load_spec({"ociVersion": "1.0.0", "root": {"path": "/var/lib/rootfs"}}, "/srv/bundle")
    assert spec.root.path == "/var/lib/rootfs"


def test_load_spec_without_root() -> None:
    assert model.load_spec({"ociVersion": "1.0.0"}, "/srv/bundle").root is None
