"""Tests of oci_runtime.validate: our schemas accept what real clients send, reject a corpus of broken configs with
a message naming the right JSON path, agree with the upstream (Debian) schema where both know the fields, and
load_config refuses unreadable bundles without blocking."""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from oci_runtime import validate
from oci_runtime.errors import ConfigError
from conftest import CLIENT_CONFIGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = sorted(glob.glob(str(CLIENT_CONFIGS / "*.json")))
DEBIAN_SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema"

# A valid config that only uses fields the 1.0.2 schema knows too, so the differential test can compare verdicts.
BASE: dict[str, Any] = {
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "box",
    "process": {
        "terminal": False,
        "consoleSize": {"height": 25, "width": 80},
        "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5]},
        "args": ["sh"],
        "env": ["PATH=/usr/bin:/bin"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
        "oomScoreAdj": 100,
    },
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "none", "source": "/srv/data", "options": ["rbind", "rw"]},
    ],
    "hooks": {
        "prestart": [{"path": "/usr/bin/setup", "args": ["setup"], "timeout": 5}],
        "poststop": [{"path": "/usr/bin/cleanup"}],
    },
    "annotations": {"com.example.key": "value"},
    "linux": {
        "namespaces": [
            {"type": "pid"},
            {"type": "network", "path": "/var/run/netns/a"},
            {"type": "mount"},
            {"type": "ipc"},
            {"type": "uts"},
            {"type": "user"},
        ],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "cgroupsPath": "/oci/box",
        "resources": {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            ],
            "memory": {"limit": 536870912, "swap": -1},
            "cpu": {"shares": 1024, "quota": 100000, "period": 100000, "cpus": "0-1"},
            "pids": {"limit": 100},
            "blockIO": {
                "weight": 10,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
        },
        "rootfsPropagation": "slave",
        "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {
                    "names": ["getcwd"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
                }
            ],
        },
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "mountLabel": "system_u:object_r:container_file_t:s0",
        "personality": {"domain": "LINUX"},
    },
}

DELETE = object()
"""An edit value meaning: remove this field."""

# How our schema and the upstream 1.0.2 schema judge a corpus item (see test_differential_corpus_verdicts).
SAME = "same"  # both schemas reject it
STRICTER = "stricter"  # our schema rejects it for a v1.3.0 MUST/REQUIRED that the upstream schema does not encode
SEMANTIC = "semantic"  # both schemas accept it; a semantic check of validate_config rejects it
NEW = "new"  # it uses a field the 1.0.2 schema does not know: not compared


@dataclass(frozen=True)
class Invalid:
    """A broken config: BASE with edits applied (JSON path -> new value), and what the error must say."""

    edits: dict[str, Any]
    path: str
    says: str
    upstream: str


CORPUS = [
    # Both schemas reject.
    Invalid({"ociVersion": DELETE}, "ociVersion", "is required", SAME),
    Invalid({"ociVersion": 1}, "ociVersion", "1 is not a string", SAME),
    Invalid({"root.path": DELETE}, "root.path", "is required", SAME),
    Invalid({"root.readonly": "yes"}, "root.readonly", '"yes" is not a boolean', SAME),
    Invalid({"hostname": 5}, "hostname", "5 is not a string", SAME),
    Invalid({"process": "sh"}, "process", '"sh" is not an object', SAME),
    Invalid({"process.user.uid": -1}, "process.user.uid", "-1 is less than the minimum 0", SAME),
    Invalid({"process.user.uid": 4294967296}, "process.user.uid", "greater than the maximum 4294967295", SAME),
    Invalid({"process.user.uid": 1.0}, "process.user.uid", "1.0 is not an integer", SAME),
    Invalid({"process.user.gid": "0"}, "process.user.gid", '"0" is not an integer', SAME),
    Invalid({"process.user.additionalGids[0]": -5}, "process.user.additionalGids[0]", "less than the minimum", SAME),
    Invalid({"process.cwd": DELETE}, "process.cwd", "is required", SAME),
    Invalid({"process.args": "sh"}, "process.args", '"sh" is not an array', SAME),
    Invalid({"process.env[0]": 5}, "process.env[0]", "5 is not a string", SAME),
    Invalid({"process.terminal": "true"}, "process.terminal", "is not a boolean", SAME),
    Invalid({"process.consoleSize.height": DELETE}, "process.consoleSize.height", "is required", SAME),
    Invalid({"process.rlimits[0].type": "NOFILE"}, "process.rlimits[0].type", '"NOFILE" is not a resource name', SAME),
    Invalid({"process.rlimits[0].soft": -1}, "process.rlimits[0].soft", "less than the minimum 0", SAME),
    Invalid({"process.rlimits[0].hard": DELETE}, "process.rlimits[0].hard", "is required", SAME),
    Invalid({"process.capabilities.bounding": "CAP_KILL"}, "process.capabilities.bounding", "is not an array", SAME),
    Invalid({"process.oomScoreAdj": "100"}, "process.oomScoreAdj", '"100" is not an integer', SAME),
    Invalid({"process.noNewPrivileges": "yes"}, "process.noNewPrivileges", '"yes" is not a boolean', SAME),
    Invalid({"mounts[1].destination": DELETE}, "mounts[1].destination", "is required", SAME),
    Invalid({"mounts[1].options": "ro"}, "mounts[1].options", '"ro" is not an array', SAME),
    Invalid({"mounts[0].source": 5}, "mounts[0].source", "5 is not a string", SAME),
    Invalid({"hooks.prestart[0].path": DELETE}, "hooks.prestart[0].path", "is required", SAME),
    Invalid({"hooks.prestart[0].timeout": 0}, "hooks.prestart[0].timeout", "0 is less than the minimum 1", SAME),
    Invalid({"hooks.poststop": "cleanup"}, "hooks.poststop", "is not an array", SAME),
    Invalid({'annotations["com.example.key"]': 1}, 'annotations["com.example.key"]', "1 is not a string", SAME),
    Invalid(
        {"linux.namespaces[2].type": "pidd"},
        "linux.namespaces[2].type",
        '"pidd" is not one of cgroup, ipc, mount, network, pid, time, user, uts',
        SAME,
    ),
    Invalid({"linux.namespaces[0]": {"path": "/proc/1/ns/pid"}}, "linux.namespaces[0].type", "is required", SAME),
    Invalid({"linux.uidMappings[0].size": DELETE}, "linux.uidMappings[0].size", "is required", SAME),
    Invalid({"linux.gidMappings[0].hostID": -1}, "linux.gidMappings[0].hostID", "less than the minimum 0", SAME),
    Invalid({"linux.devices[0].type": "x"}, "linux.devices[0].type", '"x" is not one of b, c, p, u', SAME),
    Invalid({"linux.devices[0].path": DELETE}, "linux.devices[0].path", "is required", SAME),
    Invalid(
        {'linux.sysctl["net.ipv4.ip_forward"]': 1}, 'linux.sysctl["net.ipv4.ip_forward"]', "1 is not a string", SAME
    ),
    Invalid({"linux.cgroupsPath": 5}, "linux.cgroupsPath", "5 is not a string", SAME),
    Invalid({"linux.resources.memory.limit": "512m"}, "linux.resources.memory.limit", "is not an integer", SAME),
    Invalid({"linux.resources.cpu.shares": -1}, "linux.resources.cpu.shares", "less than the minimum 0", SAME),
    Invalid({"linux.resources.devices[0].allow": DELETE}, "linux.resources.devices[0].allow", "is required", SAME),
    Invalid({"linux.resources.pids.limit": "100"}, "linux.resources.pids.limit", "is not an integer", SAME),
    Invalid(
        {"linux.resources.hugepageLimits[0].pageSize": "2M"},
        "linux.resources.hugepageLimits[0].pageSize",
        '"2M" is not a page size',
        SAME,
    ),
    Invalid({"linux.resources.blockIO.weight": 70000}, "linux.resources.blockIO.weight", "maximum 65535", SAME),
    Invalid(
        {"linux.resources.network.priorities[0].priority": DELETE},
        "linux.resources.network.priorities[0].priority",
        "is required",
        SAME,
    ),
    Invalid({"linux.seccomp.defaultAction": "SCMP_ACT_DENY"}, "linux.seccomp.defaultAction", "is not one of", SAME),
    Invalid({"linux.seccomp.defaultAction": DELETE}, "linux.seccomp.defaultAction", "is required", SAME),
    Invalid({"linux.seccomp.architectures[0]": "x86_64"}, "linux.seccomp.architectures[0]", "is not one of", SAME),
    Invalid({"linux.seccomp.syscalls[0].names": []}, "linux.seccomp.syscalls[0].names", "must not be empty", SAME),
    Invalid({"linux.seccomp.syscalls[0].args[0].op": "EQ"}, "linux.seccomp.syscalls[0].args[0].op", "not one of", SAME),
    Invalid({"linux.rootfsPropagation": "sideways"}, "linux.rootfsPropagation", '"sideways" is not one of', SAME),
    Invalid({"linux.maskedPaths": "/proc/kcore"}, "linux.maskedPaths", "is not an array", SAME),
    Invalid({"linux.personality.domain": "LINUX64"}, "linux.personality.domain", "is not one of LINUX, LINUX32", SAME),
    # The v1.3.0 text requires it; the upstream schema does not check it.
    Invalid({"ociVersion": "1.0"}, "ociVersion", '"1.0" is not a SemVer 2.0.0 version', STRICTER),
    Invalid({"ociVersion": "v1.0.2"}, "ociVersion", "is not a SemVer 2.0.0 version", STRICTER),
    Invalid({"root": DELETE}, "root", "is required", STRICTER),
    Invalid({"process.args": DELETE}, "process.args", "is required", STRICTER),
    Invalid({"process.args": []}, "process.args", "[] must not be empty", STRICTER),
    Invalid({"process.user.uid": DELETE}, "process.user.uid", "is required", STRICTER),
    Invalid({"process.cwd": "home"}, "process.cwd", '"home" is not an absolute path', STRICTER),
    Invalid({"hooks.prestart[0].path": "setup"}, "hooks.prestart[0].path", "is not an absolute path", STRICTER),
    Invalid({"linux.namespaces[1].path": "netns/a"}, "linux.namespaces[1].path", "is not an absolute path", STRICTER),
    Invalid({"linux.maskedPaths[0]": "proc/kcore"}, "linux.maskedPaths[0]", "is not an absolute path", STRICTER),
    Invalid({"linux.readonlyPaths[0]": "proc/sys"}, "linux.readonlyPaths[0]", "is not an absolute path", STRICTER),
    Invalid({"linux.devices[0].major": DELETE}, "linux.devices[0].major", "is required", STRICTER),
    Invalid(
        {"linux.resources.devices[1].type": "x"}, "linux.resources.devices[1].type", "is not one of a, b, c", STRICTER
    ),
    Invalid(
        {"linux.resources.devices[0].access": "rwx"},
        "linux.resources.devices[0].access",
        "combination of r, w",
        STRICTER,
    ),
    Invalid(
        {"linux.resources.blockIO.weightDevice[0].weight": DELETE},
        "linux.resources.blockIO.weightDevice[0]",
        "must set at least one of weight, leafWeight",
        STRICTER,
    ),
    Invalid(
        {"linux.resources.blockIO.throttleReadBpsDevice[0].rate": DELETE},
        "linux.resources.blockIO.throttleReadBpsDevice[0].rate",
        "is required",
        STRICTER,
    ),
    Invalid(
        {"linux.resources.rdma": {"mlx5_1": {}}},
        "linux.resources.rdma.mlx5_1",
        "must set at least one of hcaHandles, hcaObjects",
        STRICTER,
    ),
    Invalid(
        {"linux.seccomp.listenerMetadata": "x"},
        "linux.seccomp.listenerPath",
        "is required when listenerMetadata is set",
        STRICTER,
    ),
    Invalid(
        {"mounts[1].uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
        "mounts[1].gidMappings",
        "is required when uidMappings is set",
        STRICTER,
    ),
    Invalid({'annotations[""]': "x"}, "annotations", 'key "" must not be empty', STRICTER),
    # No schema can say it: validate_config's own checks.
    Invalid(
        {"linux.namespaces[6]": {"type": "pid"}},
        "linux.namespaces[6].type",
        "duplicate of linux.namespaces[0]",
        SEMANTIC,
    ),
    Invalid(
        {"process.rlimits[1]": {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}},
        "process.rlimits[1].type",
        '"RLIMIT_NOFILE" is a duplicate of process.rlimits[0].type',
        SEMANTIC,
    ),
    Invalid({"process": DELETE}, "process", "is required", SEMANTIC),
    Invalid(
        {"linux.seccomp.syscalls[0].errnoRet": 1},
        "linux.seccomp.syscalls[0].errnoRet",
        'only allowed with action SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not "SCMP_ACT_ALLOW"',
        SEMANTIC,
    ),
    Invalid(
        {"linux.seccomp.defaultAction": "SCMP_ACT_KILL"},
        "linux.seccomp.defaultErrnoRet",
        "only allowed with defaultAction",
        SEMANTIC,
    ),
    Invalid(
        {"mounts[1].options": ["rbind", "idmap"], "linux.namespaces[5]": DELETE},
        "mounts[1].options",
        "idmap needs the mount's uidMappings",
        SEMANTIC,
    ),
    # Fields added after 1.0.2.
    Invalid({"process.scheduler": {"policy": "SCHED_FAST"}}, "process.scheduler.policy", "is not one of", NEW),
    Invalid(
        {"process.ioPriority": {"class": "IOPRIO_CLASS_X", "priority": 0}},
        "process.ioPriority.class",
        "not one of",
        NEW,
    ),
    Invalid({"process.ioPriority": {"class": "IOPRIO_CLASS_BE"}}, "process.ioPriority.priority", "is required", NEW),
    Invalid(
        {"process.execCPUAffinity": {"initial": "all"}}, "process.execCPUAffinity.initial", "is not a list of", NEW
    ),
    Invalid({"linux.memoryPolicy": {"mode": "MPOL_FOO"}}, "linux.memoryPolicy.mode", '"MPOL_FOO" is not one of', NEW),
    Invalid({"linux.memoryPolicy": {"nodes": "0"}}, "linux.memoryPolicy.mode", "is required", NEW),
    Invalid({"linux.netDevices": {"eth0": {"name": 5}}}, "linux.netDevices.eth0.name", "5 is not a string", NEW),
    Invalid(
        {"linux.intelRdt": {"schemata": ["L3:0=7f0\nMB:0=20"]}},
        "linux.intelRdt.schemata[0]",
        "is not a single line",
        NEW,
    ),
    Invalid(
        {"linux.timeOffsets": {"monotonic": {"secs": 1, "nanosecs": -1}}},
        "linux.timeOffsets.monotonic.nanosecs",
        "less than the minimum 0",
        NEW,
    ),
    # REQUIRED fields and rules of v1.3.0 that conformance/requirements.toml traces here (appended: ids stay stable).
    Invalid(
        {"mounts[1].gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
        "mounts[1].uidMappings",
        "is required when gidMappings is set",
        STRICTER,
    ),
    Invalid({"process.consoleSize.width": DELETE}, "process.consoleSize.width", "is required", SAME),
    Invalid({"process.rlimits[0].type": DELETE}, "process.rlimits[0].type", "is required", SAME),
    Invalid({"process.rlimits[0].soft": DELETE}, "process.rlimits[0].soft", "is required", SAME),
    Invalid({"process.scheduler": {"nice": 1}}, "process.scheduler.policy", "is required", NEW),
    Invalid({"process.ioPriority": {"priority": 0}}, "process.ioPriority.class", "is required", NEW),
    Invalid({"process.user.gid": DELETE}, "process.user.gid", "is required", STRICTER),
    Invalid({"hooks.createRuntime": [{"args": ["x"]}]}, "hooks.createRuntime[0].path", "is required", SAME),
    Invalid(
        {"hooks.createRuntime": [{"path": "setup"}]}, "hooks.createRuntime[0].path", "is not an absolute path", STRICTER
    ),
    Invalid(
        {"hooks.createRuntime": [{"path": "/usr/bin/setup", "timeout": 0}]},
        "hooks.createRuntime[0].timeout",
        "0 is less than the minimum 1",
        SAME,
    ),
    Invalid({"annotations": ["x"]}, "annotations", '["x"] is not an object', SAME),
    Invalid({"linux.uidMappings[0].containerID": DELETE}, "linux.uidMappings[0].containerID", "is required", SAME),
    Invalid({"linux.gidMappings[0].hostID": DELETE}, "linux.gidMappings[0].hostID", "is required", SAME),
    Invalid({"linux.devices[0].type": DELETE}, "linux.devices[0].type", "is required", SAME),
    Invalid(
        {"linux.resources.blockIO.weightDevice[0].major": DELETE},
        "linux.resources.blockIO.weightDevice[0].major",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.resources.blockIO.throttleReadBpsDevice[0].minor": DELETE},
        "linux.resources.blockIO.throttleReadBpsDevice[0].minor",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.resources.blockIO.throttleWriteIOPSDevice": [{"minor": 0, "rate": 1}]},
        "linux.resources.blockIO.throttleWriteIOPSDevice[0].major",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.resources.blockIO.throttleReadIOPSDevice": [{"major": 8, "minor": 0}]},
        "linux.resources.blockIO.throttleReadIOPSDevice[0].rate",
        "is required",
        STRICTER,
    ),
    Invalid(
        {"linux.resources.hugepageLimits[0].pageSize": DELETE},
        "linux.resources.hugepageLimits[0].pageSize",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.resources.hugepageLimits[0].limit": DELETE},
        "linux.resources.hugepageLimits[0].limit",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.resources.network.priorities[0].name": DELETE},
        "linux.resources.network.priorities[0].name",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.intelRdt": {"memBwSchema": "L3:0=1"}},
        "linux.intelRdt.memBwSchema",
        '"L3:0=1" is not a single line starting with MB:',
        SAME,
    ),
    Invalid(
        {"linux.intelRdt": {"memBwSchema": "MB:0=20\nMB:1=30"}},
        "linux.intelRdt.memBwSchema",
        "is not a single line starting with MB:",
        SAME,
    ),
    Invalid({"linux.seccomp.syscalls[0].names": DELETE}, "linux.seccomp.syscalls[0].names", "is required", SAME),
    Invalid({"linux.seccomp.syscalls[0].action": DELETE}, "linux.seccomp.syscalls[0].action", "is required", SAME),
    Invalid(
        {"linux.seccomp.syscalls[0].args[0].index": DELETE},
        "linux.seccomp.syscalls[0].args[0].index",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.seccomp.syscalls[0].args[0].value": DELETE},
        "linux.seccomp.syscalls[0].args[0].value",
        "is required",
        SAME,
    ),
    Invalid(
        {"linux.seccomp.syscalls[0].args[0].op": DELETE}, "linux.seccomp.syscalls[0].args[0].op", "is required", SAME
    ),
    Invalid({"linux.personality": {"flags": []}}, "linux.personality.domain", "is required", STRICTER),
]

# Fields unknown to the 1.0.2 schema (by JSON path, [] for any index), and values its enums lack.
V13_ONLY_FIELDS = (
    "process.scheduler",
    "process.ioPriority",
    "process.execCPUAffinity",
    "linux.netDevices",
    "linux.memoryPolicy",
    "linux.timeOffsets",
    "linux.intelRdt.schemata",
    "linux.intelRdt.enableMonitoring",
)
V13_ONLY_VALUES = {
    "linux.namespaces[].type": {"time"},
    "linux.seccomp.architectures[]": {"SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB"},
}


def parse_path(path: str) -> list[str | int]:
    """Split a path in our error-message syntax (linux.sysctl["a.b"], mounts[0]) into keys and indexes."""
    parts: list[str | int] = []
    for name, index, quoted in re.findall(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]', path):
        parts.append(name or (int(index) if index else json.loads(quoted)))
    return parts


def edited(edits: dict[str, Any]) -> dict[str, Any]:
    """A copy of BASE with each path set to its value (DELETE removes it; index == len appends)."""
    doc = copy.deepcopy(BASE)
    for path, value in edits.items():
        *parents, last = parse_path(path)
        target: Any = doc
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list) and last == len(target):
            target.append(value)
        else:
            target[last] = value
    return doc


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) for every field, with array indexes written as [] so that paths can be compared as patterns."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, f"{path}[]")


def v13_only_fields(doc: dict[str, Any]) -> list[str]:
    """The parts of doc that only v1.3.0 (not the 1.0.2 upstream schema) knows."""
    found = []
    for path, value in leaves(doc):
        if path in V13_ONLY_FIELDS or (isinstance(value, str) and value in V13_ONLY_VALUES.get(path, ())):
            found.append(path)
    return found


def config_error(doc: Any, **kwargs: Any) -> str:
    """The message validate_config raises for doc (failing the test if it accepts doc)."""
    with pytest.raises(ConfigError) as caught:
        validate.validate_config(doc, **kwargs)
    return str(caught.value)


@pytest.fixture(scope="module")
def upstream() -> Any:
    """A draft-04 validator for Debian's packaged runtime-spec 1.0.2+ config schema, with its relative $refs
    resolved through a registry of the files next to it."""
    if not os.path.isfile(os.path.join(DEBIAN_SCHEMA_DIR, "config-schema.json")):
        pytest.fail(
            f"{DEBIAN_SCHEMA_DIR} is missing: the differential test needs the upstream schema; "
            "apt-get install golang-github-opencontainers-specs-dev"
        )
    from jsonschema import Draft4Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    resources = []
    for name in os.listdir(DEBIAN_SCHEMA_DIR):
        if name.endswith(".json"):
            with open(os.path.join(DEBIAN_SCHEMA_DIR, name), encoding="utf-8") as f:
                resources.append((name, DRAFT4.create_resource(json.load(f))))
    registry = Registry().with_resources(resources)
    return Draft4Validator(registry.contents("config-schema.json"), registry=registry)


def corpus_params() -> list[Any]:
    return [pytest.param(item, id=f"{n:02d}-{item.upstream}-{item.path}") for n, item in enumerate(CORPUS)]


# --- Schemas -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(validate.schema_dir()) if n.endswith(".json")))
def test_schema_file_is_a_valid_2020_12_schema_with_resolvable_relative_refs(name: str) -> None:
    from jsonschema import Draft202012Validator

    with open(os.path.join(validate.schema_dir(), name), encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    refs = [value for path, value in leaves(schema) if path.endswith("$ref")]
    resolver = validate.schema_registry().resolver(base_uri=name)
    for ref in refs:
        assert "://" not in ref and not ref.startswith("/"), f"{name}: $ref {ref} is not relative"
        resolver.lookup(ref)


def test_base_config_is_valid_and_uses_only_fields_both_schema_versions_know(upstream: Any) -> None:
    validate.validate_config(copy.deepcopy(BASE))
    assert upstream.is_valid(BASE)
    assert v13_only_fields(BASE) == []


# --- Real client configs -------------------------------------------------------------------------------------------


def test_fixture_configs_exist() -> None:
    assert len(FIXTURES) >= 10, f"expected the podman/containerd configs in {CLIENT_CONFIGS}"


@pytest.mark.parametrize("path", FIXTURES, ids=os.path.basename)
def test_client_config_is_accepted(path: str) -> None:
    validate.validate_config(_read(path))


def _read(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --- The invalid corpus --------------------------------------------------------------------------------------------


def test_corpus_is_large_and_each_item_changes_base() -> None:
    assert len(CORPUS) >= 40
    for item in CORPUS:
        assert edited(item.edits) != BASE, item


@pytest.mark.parametrize("item", corpus_params())
def test_invalid_config_is_rejected_naming_the_path(item: Invalid) -> None:
    message = config_error(edited(item.edits))
    assert message.startswith(f"config.json: {item.path}: "), message
    assert item.says in message, message
    assert "\n" not in message


# --- Differential: our schema against the upstream 1.0.2 schema ---------------------------------------------------


def upstream_objections(upstream: Any, doc: Any) -> set[tuple[str, str]]:
    """What the upstream schema finds wrong with doc, as (path with [] for indexes, keyword)."""
    return {
        ("".join("[]" if isinstance(p, int) else f".{p}" for p in e.absolute_path).lstrip("."), e.validator)
        for e in upstream.iter_errors(doc)
    }


@pytest.mark.parametrize("path", FIXTURES, ids=os.path.basename)
def test_differential_fixture_accepted_by_both_schemas(path: str, upstream: Any) -> None:
    """Real client configs: both schemas accept them. They use only fields both versions know (checked).

    One documented exception: podman --privileged copies each host device's st_mode, file-type bits included
    (8612 = 0o20644), into linux.devices[].fileMode. The v1.3.0 text types fileMode as uint32 and we follow it; the
    1.0.2 schema caps it at 512. So the upstream verdict may object to that, and to nothing else.
    """
    doc = _read(path)
    assert v13_only_fields(doc) == []
    assert validate.schema_validator("config-schema.json").is_valid(doc)
    assert upstream_objections(upstream, doc) <= {("linux.devices[].fileMode", "maximum")}


@pytest.mark.parametrize("item", corpus_params())
def test_differential_corpus_verdicts(item: Invalid, upstream: Any) -> None:
    """Our schema (config-schema.json, no semantic checks) and Debian's upstream schema judge every corpus item
    as its category says.

    Excluded: NEW items. They use fields that only v1.3.0 defines (process.scheduler, process.ioPriority,
    process.execCPUAffinity, linux.netDevices, linux.memoryPolicy, linux.timeOffsets, linux.intelRdt.schemata and
    .enableMonitoring, namespace type "time", the newer seccomp architectures); the 1.0.2 schema ignores unknown
    fields or lacks the enum values, so its verdict says nothing. Every other item is asserted to use none of them.

    SAME: both schemas reject.
    STRICTER: only ours rejects, because the v1.3.0 text states a MUST/REQUIRED the upstream schema never encoded:
    SemVer ociVersion, root REQUIRED on Linux, at least one process.args entry, uid/gid REQUIRED, absolute
    process.cwd / hook path / namespace path / masked and readonly paths, device major/minor unless type p, cgroup
    device type a|c|b and access made of r, w, m, a weight or leafWeight per weightDevice, a rate per throttle
    device, hcaHandles or hcaObjects per rdma entry, listenerMetadata only with listenerPath, mount uidMappings
    and gidMappings only together, non-empty annotation keys, personality.domain REQUIRED.
    SEMANTIC: rules no schema expresses (duplicate namespace or rlimit types, process required for create, errnoRet
    with an action that takes none, idmap mounts without mappings or user namespace). Only the schema verdicts are
    compared for these: both accept.
    """
    doc = edited(item.edits)
    if item.upstream == NEW:
        assert v13_only_fields(doc) != [], "a NEW item must use a v1.3.0-only field"
        return
    assert v13_only_fields(doc) == []
    ours = validate.schema_validator("config-schema.json").is_valid(doc)
    theirs = upstream.is_valid(doc)
    expected = {SAME: (False, False), STRICTER: (False, True), SEMANTIC: (True, True)}[item.upstream]
    assert (ours, theirs) == expected


# Valid by the v1.3.0 text (or our documented choice) but rejected by the 1.0.2 schema: (edits, reason).
ACCEPTED_WHERE_UPSTREAM_REJECTS = [
    ({"linux.resources.pids": {}}, "pids.limit is OPTIONAL in v1.3.0; 1.0.2 required it"),
    (
        {"linux.devices[0].fileMode": 8612},
        "fileMode is a uint32 in v1.3.0 (podman sends st_mode); 1.0.2 caps it at 512",
    ),
    ({"linux.rootfsPropagation": "rslave"}, "our choice: podman and containerd's CRI send r* values, runc takes them"),
    ({"linux.namespaces[6]": {"type": "time"}}, "the time namespace is new in v1.1.0"),
]


@pytest.mark.parametrize(
    "edits,reason", ACCEPTED_WHERE_UPSTREAM_REJECTS, ids=[r for _, r in ACCEPTED_WHERE_UPSTREAM_REJECTS]
)
def test_accepted_where_upstream_schema_rejects(edits: dict[str, Any], reason: str, upstream: Any) -> None:
    doc = edited(edits)
    validate.validate_config(doc)
    assert not upstream.is_valid(doc), reason


# --- Semantic checks and spec choices ------------------------------------------------------------------------------


def test_process_is_optional_when_not_required() -> None:
    validate.validate_config(edited({"process": DELETE}), require_process=False)
    assert "process: is required" in config_error(edited({"process": DELETE}))


def test_relative_mount_destination_is_accepted_with_a_warning(capfd: pytest.CaptureFixture[str]) -> None:
    """config.md (Linux): destinations SHOULD be absolute but MAY be relative (deprecated), relative to "/"."""
    validate.validate_config(edited({"mounts[0].destination": "proc"}))
    assert 'mounts[0].destination: \\"proc\\" is relative' in capfd.readouterr().err


def test_idmap_mount_is_accepted_with_mappings_or_a_user_namespace() -> None:
    mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
    without_userns = {"mounts[1].options": ["rbind", "ridmap"], "linux.namespaces[5]": DELETE}
    validate.validate_config(
        edited({**without_userns, "mounts[1].uidMappings": mapping, "mounts[1].gidMappings": mapping})
    )
    validate.validate_config(edited({"mounts[1].options": ["rbind", "ridmap"]}))
    assert "ridmap needs" in config_error(edited(without_userns))


def test_errno_ret_is_accepted_with_trace_action() -> None:
    validate.validate_config(
        edited({"linux.seccomp.syscalls[0].action": "SCMP_ACT_TRACE", "linux.seccomp.syscalls[0].errnoRet": 38})
    )


def test_top_level_must_be_an_object() -> None:
    assert config_error([1, 2]) == "config.json: (root): [1, 2] is not an object"


def test_long_values_are_shortened_to_one_line() -> None:
    message = config_error(edited({"hostname": ["x" * 200]}))
    assert message.startswith('config.json: hostname: ["xxx') and message.endswith("... is not a string")
    assert len(message) < 150


def test_odd_keys_are_quoted_in_the_path() -> None:
    message = config_error(edited({'annotations["a\\nb c"]': 1}))
    assert message == 'config.json: annotations["a\\nb c"]: 1 is not a string'


# --- load_config ---------------------------------------------------------------------------------------------------


def write(tmp_path: Any, data: bytes) -> str:
    (tmp_path / "config.json").write_bytes(data)
    return str(tmp_path)


def load_error(bundle: str) -> str:
    with pytest.raises(ConfigError) as caught:
        validate.load_config(bundle)
    return str(caught.value)


def test_load_config_reads_a_json_object(tmp_path: Any) -> None:
    assert validate.load_config(write(tmp_path, json.dumps(BASE).encode())) == BASE


def test_load_config_missing_file(tmp_path: Any) -> None:
    path = tmp_path / "config.json"
    assert load_error(str(tmp_path)) == f"config.json: open {path}: no such file or directory"


def test_load_config_refuses_a_fifo_without_blocking(tmp_path: Any) -> None:
    os.mkfifo(tmp_path / "config.json")

    def timed_out(_signum: int, _frame: Any) -> None:
        raise TimeoutError("load_config blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(5)
    try:
        message = load_error(str(tmp_path))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert message == f"config.json: {tmp_path / 'config.json'} is not a regular file"


def test_load_config_refuses_a_directory(tmp_path: Any) -> None:
    (tmp_path / "config.json").mkdir()
    assert load_error(str(tmp_path)).endswith("config.json is not a regular file")


def test_load_config_invalid_json_names_line_and_column(tmp_path: Any) -> None:
    bundle = write(tmp_path, b'{\n  "ociVersion": "1.0.2",\n  oops\n}\n')
    assert (
        load_error(bundle)
        == "config.json: invalid JSON at line 3 column 3: Expecting property name enclosed in double quotes"
    )


def test_load_config_refuses_nan(tmp_path: Any) -> None:
    assert load_error(write(tmp_path, b'{"ociVersion": NaN}')) == "config.json: invalid JSON: NaN is not a JSON value"


def test_load_config_refuses_non_utf8(tmp_path: Any) -> None:
    assert load_error(write(tmp_path, b'{"hostname": "\xff"}')) == "config.json: not valid UTF-8 at byte offset 14"


@pytest.mark.parametrize("text,shown", [(b"[1]", "[1]"), (b'"x"', '"x"'), (b"null", "null")])
def test_load_config_refuses_a_non_object(tmp_path: Any, text: bytes, shown: str) -> None:
    assert load_error(write(tmp_path, text)) == f"config.json: (root): {shown} is not an object"


def test_load_config_refuses_deep_nesting(tmp_path: Any) -> None:
    assert load_error(write(tmp_path, b"[" * 200_000)) == "config.json: invalid JSON: nested too deeply"


def test_load_config_refuses_huge_files(tmp_path: Any) -> None:
    with open(tmp_path / "config.json", "wb") as f:
        f.truncate(validate.MAX_CONFIG_BYTES + 1)
    assert load_error(str(tmp_path)).endswith("config.json is larger than 16 MiB")


# --- state and features --------------------------------------------------------------------------------------------

STATE = {"ociVersion": "1.3.0", "id": "box", "status": "running", "pid": 42, "bundle": "/run/b", "annotations": {}}


def test_state_is_accepted() -> None:
    validate.validate_state(STATE)
    validate.validate_state({**STATE, "status": "stopped", "pid": 0, "created": "extra fields are allowed"})


@pytest.mark.parametrize(
    "change,message",
    [
        ({"pid": DELETE}, "state: pid: is required"),
        ({"status": "exploded"}, 'state: status: "exploded" is not one of'),
        ({"bundle": "b"}, 'state: bundle: "b" is not an absolute path'),
        ({"id": ""}, 'state: id: "" must not be empty'),
    ],
)
def test_state_is_rejected(change: dict[str, Any], message: str) -> None:
    doc = {k: v for k, v in {**STATE, **change}.items() if v is not DELETE}
    with pytest.raises(ValueError, match=re.escape(message)):
        validate.validate_state(doc)


FEATURES = {
    "ociVersionMin": "1.0.0",
    "ociVersionMax": "1.3.0",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    "mountOptions": ["bind", "rbind", "ro"],
    "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
        "capabilities": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": None},
        "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW"], "operators": ["SCMP_CMP_EQ"], "archs": None},
        "apparmor": {"enabled": False},
        "selinux": None,
        "memoryPolicy": {"modes": ["MPOL_BIND"], "flags": []},
        "intelRdt": {"enabled": False, "schemata": False, "monitoring": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": False},
    },
    "annotations": {"org.example.version": "0.1.0"},
    "potentiallyUnsafeConfigAnnotations": ["org.systemd.property."],
}


def test_features_are_accepted() -> None:
    validate.validate_features(FEATURES)
    validate.validate_features({"ociVersionMin": "1.0.0", "ociVersionMax": "1.0.0", "linux": None, "hooks": None})


@pytest.mark.parametrize(
    "change,message",
    [
        ({"ociVersionMax": "1.0.0-rc.1"}, 'features: ociVersionMax: "1.0.0-rc.1" is less than ociVersionMin'),
        ({"ociVersionMin": "1.0.0-rc.10", "ociVersionMax": "1.0.0-rc.9"}, "is less than ociVersionMin"),
        ({"ociVersionMin": DELETE}, "features: ociVersionMin: is required"),
        ({"hooks": ["prestop"]}, 'features: hooks[0]: "prestop" is not one of'),
        ({"linux": "yes"}, 'features: linux: "yes" is not null or an object'),
        ({"linux": {"cgroup": {"v3": True}}}, "features: linux.cgroup.v3: is not a known property"),
        ({"linux": {"capabilities": ["chown"]}}, 'features: linux.capabilities[0]: "chown" is not a capability name'),
        ({"extra": 1}, "features: extra: is not a known property"),
    ],
)
def test_features_are_rejected(change: dict[str, Any], message: str) -> None:
    doc = {k: v for k, v in {**FEATURES, **change}.items() if v is not DELETE}
    with pytest.raises(ValueError, match=re.escape(message)):
        validate.validate_features(doc)


def test_prerelease_ordering_allows_rc_below_release() -> None:
    validate.validate_features({"ociVersionMin": "1.0.0-rc.9", "ociVersionMax": "1.0.0-rc.10"})
    validate.validate_features({"ociVersionMin": "1.0.0-rc.1", "ociVersionMax": "1.0.0+build.5"})


# --- Import cost ---------------------------------------------------------------------------------------------------


def test_importing_validate_does_not_import_jsonschema() -> None:
    code = (
        "import sys, oci_runtime.validate; print(sorted(m for m in ('jsonschema', 'referencing') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": REPO}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
