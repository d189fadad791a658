"""Typed model of config.json (config.md, config-linux.md): the attrs definitions, the source of truth.

Attribute names are the spec's field names in snake_case (`noNewPrivileges` -> `no_new_privileges`;
a `json` metadata entry names the few that don't convert mechanically, like `hostID`). Appliers
receive these objects and never look at raw JSON. Sections whose appliers come later
(resources, seccomp, personality, intelRdt...) stay raw dicts until they are modelled.

The runtime does not import this module: importing attrs and building these classes costs ~40 ms
of every `create`. oci_runtime/modelgen.py compiles them at build time into plain classes
(oci_runtime/_model.py, re-exported by oci_runtime/model.py) with the same fields, defaults,
equality, repr, immutability and structure(); tests/test_model_equivalence.py proves the two
agree. structure() and load_spec() here are the reference implementation the generated ones
are checked against.
"""
import functools
import os
import types
import typing
from typing import Any

import attr

Raw = dict[str, Any]


def _json(name: str) -> dict:
    return {"json": name}


@attr.frozen
class Root:
    path: str
    readonly: bool = False


@attr.frozen
class IDMapping:
    container_id: int = attr.field(metadata=_json("containerID"))
    host_id: int = attr.field(metadata=_json("hostID"))
    size: int


@attr.frozen
class Mount:
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] = attr.Factory(list)
    uid_mappings: list[IDMapping] = attr.Factory(list)
    gid_mappings: list[IDMapping] = attr.Factory(list)


@attr.frozen
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] = attr.Factory(list)
    username: str | None = None


@attr.frozen
class ConsoleSize:
    height: int
    width: int


@attr.frozen
class Process:
    cwd: str
    args: list[str] = attr.Factory(list)
    env: list[str] = attr.Factory(list)
    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = attr.Factory(User)
    command_line: str | None = None
    capabilities: Raw | None = None
    rlimits: list[Raw] = attr.Factory(list)
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    scheduler: Raw | None = None
    selinux_label: str | None = None
    io_priority: Raw | None = None
    exec_cpu_affinity: Raw | None = attr.field(default=None, metadata=_json("execCPUAffinity"))


@attr.frozen
class Hook:
    path: str
    args: list[str] = attr.Factory(list)
    env: list[str] = attr.Factory(list)
    timeout: int | None = None


@attr.frozen
class Hooks:
    prestart: list[Hook] = attr.Factory(list)
    create_runtime: list[Hook] = attr.Factory(list)
    create_container: list[Hook] = attr.Factory(list)
    start_container: list[Hook] = attr.Factory(list)
    poststart: list[Hook] = attr.Factory(list)
    poststop: list[Hook] = attr.Factory(list)


@attr.frozen
class Namespace:
    type: str
    path: str | None = None


@attr.frozen
class Device:
    type: str
    path: str
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@attr.frozen
class Linux:
    namespaces: list[Namespace] = attr.Factory(list)
    uid_mappings: list[IDMapping] = attr.Factory(list)
    gid_mappings: list[IDMapping] = attr.Factory(list)
    time_offsets: Raw | None = None
    devices: list[Device] = attr.Factory(list)
    net_devices: Raw | None = None
    cgroups_path: str | None = None
    resources: Raw | None = None
    rootfs_propagation: str | None = None
    seccomp: Raw | None = None
    sysctl: dict[str, str] = attr.Factory(dict)
    masked_paths: list[str] = attr.Factory(list)
    readonly_paths: list[str] = attr.Factory(list)
    mount_label: str | None = None
    personality: Raw | None = None
    intel_rdt: Raw | None = None
    memory_policy: Raw | None = None

    def namespace(self, ns_type: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == ns_type), None)


@attr.frozen
class Spec:
    oci_version: str
    root: Root | None = None
    mounts: list[Mount] = attr.Factory(list)
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    hooks: Hooks = attr.Factory(Hooks)
    annotations: dict[str, str] = attr.Factory(dict)
    linux: Linux = attr.Factory(Linux)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


@functools.cache
def _fields(cls: type) -> list[tuple[str, str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, f.metadata.get("json", _camel(f.name)), hints[f.name]) for f in attr.fields(cls)]


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is types.UnionType:  # `X | None`
        return _convert(next(a for a in typing.get_args(tp) if a is not type(None)), value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_convert(item, v) for v in value]
    if attr.has(tp):
        return structure(tp, value)
    return value


def structure(cls: type, data: Raw) -> Any:
    """Build `cls` from validated JSON: absent keys take the attrs defaults, unknown keys are ignored."""
    return cls(**{name: _convert(tp, data[key]) for name, key, tp in _fields(cls) if key in data})


def load_spec(config: Raw, bundle: str) -> Spec:
    """The model of a validated config, with root.path made absolute against the bundle."""
    spec: Spec = structure(Spec, config)
    if spec.root is not None:
        spec = attr.evolve(spec, root=attr.evolve(spec.root, path=os.path.join(bundle, spec.root.path)))
    return spec
