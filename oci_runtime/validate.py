"""Reading and validating config.json (runtime-spec v1.3.0 config.md and config-linux.md), and checking our own
state (runtime.md#state) and features (features.md) documents.

The JSON schemas in schemas/ check shapes, types, ranges and enums. The checks written here cover what a schema
cannot say: rules that compare fields with each other, and requirements that depend on the operation.
jsonschema is imported only when a document is validated: every CLI call imports this module, most never validate.
"""

from __future__ import annotations

import os
import stat

from oci_runtime import jsonio, log
from oci_runtime.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of every `create`)
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator
    from referencing import Registry

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""config.json is read whole into memory; real configs are tens of KiB, so anything this big is a mistake."""

_TYPE_NAMES = {
    "array": "an array",
    "boolean": "a boolean",
    "integer": "an integer",
    "null": "null",
    "number": "a number",
    "object": "an object",
    "string": "a string",
}
_ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

JsonPath = list[str | int]


def load_config(bundle_dir: str) -> dict[str, Any]:
    """Read and parse <bundle_dir>/config.json, refusing anything that is not a small regular file of JSON."""
    path = os.path.join(bundle_dir, "config.json")
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise ConfigError(f"config.json: open {path}: {(err.strerror or str(err)).lower()}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"config.json: {path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config.json: {path} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config.json: not valid UTF-8 at byte offset {err.start}") from None
    try:
        doc = jsonio.loads(text)
    except RecursionError:
        raise ConfigError("config.json: invalid JSON: nested too deeply") from None
    except ValueError:
        raise ConfigError(f"config.json: invalid JSON{_json_error(text)}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"config.json: (root): {_show(doc)} is not an object")
    return doc


def _json_error(text: str) -> str:
    """Where and why text is not JSON, from the json package (imports re and enum: only for a broken config)."""
    import json

    def reject_constant(name: str) -> None:  # json takes NaN and Infinity; JSON (and Go's decoder, hence runc) does not
        raise ValueError(f"{name} is not a JSON value")

    try:
        json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as err:
        return f" at line {err.lineno} column {err.colno}: {err.msg}"
    except ValueError as err:  # e.g. an integer of more digits than int() converts
        return f": {err}"
    return ""


def validate_config(doc: object, require_process: bool = True) -> None:
    """Raise ConfigError (one line, naming the JSON path) unless doc is a config.json we can act on.

    require_process: `process` is OPTIONAL in config.json but REQUIRED once `start` is called; create needs it.
    """
    problem = _schema_problem("config-schema.json", doc) or next(_config_problems(doc, require_process), None)
    if problem is not None:
        path, text = problem
        raise ConfigError(f"config.json: {_json_path(path)}: {text}")
    _warn_relative_destinations(doc)


def validate_state(doc: object) -> None:
    """Raise ValueError unless doc is a state document as the spec defines it (a check of our own output)."""
    problem = _schema_problem("state-schema.json", doc)
    if problem is not None:
        raise ValueError(f"state: {_json_path(problem[0])}: {problem[1]}")


def validate_features(doc: object) -> None:
    """Raise ValueError unless doc is a features document as the spec defines it (a check of our own output)."""
    problem = _schema_problem("features-schema.json", doc) or next(_features_problems(doc), None)
    if problem is not None:
        raise ValueError(f"features: {_json_path(problem[0])}: {problem[1]}")


def schema_dir() -> str:
    """The directory holding our JSON schemas."""
    try:
        import oci_runtime.schemas as package
    except ModuleNotFoundError:
        # A source checkout: pyproject.toml maps the top-level schemas/ directory to oci_runtime.schemas on install.
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")
    return os.path.dirname(os.path.abspath(package.__file__))


def _generated_check(name: str):
    """is_valid_<schema> from the generated module; in a source checkout where it was never
    generated (python3 -m oci_runtime.schemagen), a check that sends everything to jsonschema."""
    try:
        from oci_runtime import _schemacheck
    except ImportError:
        return lambda doc: False
    return getattr(_schemacheck, "is_valid_" + name.removesuffix(".json").replace("-", "_"))


_registry: Registry | None = None
_validators: dict[str, Validator] = {}


def schema_registry() -> Registry:
    """Our schema files, each registered under its file name so that relative $refs like defs.json#/$defs/uint32
    resolve between them."""
    global _registry
    if _registry is not None:
        return _registry
    import json

    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    directory = schema_dir()
    resources = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".json"):
            with open(os.path.join(directory, entry), encoding="utf-8") as f:
                contents = json.load(f)
            # Without $schema: a file's own dialect would make jsonschema follow a $ref into it with
            # its stock validator, dropping our strict integers (1.0 accepted under linux.*).
            contents.pop("$schema", None)
            resources.append((entry, DRAFT202012.create_resource(contents)))
    _registry = Registry().with_resources(resources)
    return _registry


def schema_validator(name: str) -> Validator:
    """A draft 2020-12 validator for schemas/<name>, resolving the relative $refs between our schema files.

    JSON integers must be written without a fraction: 1.0 is not a uid, as for Go's decoder and draft-04.
    """
    from jsonschema import Draft202012Validator, validators

    if name in _validators:
        return _validators[name]
    registry = schema_registry()
    strict_integers = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    cls = validators.extend(Draft202012Validator, type_checker=strict_integers)
    _validators[name] = cls(registry.contents(name), registry=registry)
    return _validators[name]


def _schema_problem(name: str, doc: object) -> tuple[JsonPath, str] | None:
    """The single most relevant schema violation in doc, or None.

    The check generated from the same schemas at build time (schemagen.py, tests/test_schemacheck.py
    prove it agrees with jsonschema) answers valid documents in microseconds; jsonschema (~90 ms to
    import) is loaded only to explain a rejection."""
    if _generated_check(name)(doc):
        return None
    from jsonschema.exceptions import best_match

    try:
        error = best_match(schema_validator(name).iter_errors(doc))
    except RecursionError:  # jsonschema descends (and reprs the value) with Python recursion, level by level
        return [], "nested too deeply to be checked"
    return None if error is None else _describe(error)


def _describe(error: ValidationError) -> tuple[JsonPath, str]:
    """Turn a jsonschema error into (JSON path, what is wrong), pointing at the missing or offending field."""
    path: JsonPath = list(error.absolute_path)
    kind, expected, value = error.validator, error.validator_value, error.instance
    subject = _show(value)
    if list(error.absolute_schema_path)[-2:-1] == ["propertyNames"]:
        subject = f"key {subject}"
    if kind == "required":
        return [*path, next(p for p in expected if p not in value)], "is required"
    if kind == "dependentRequired":
        prop, needs = next((p, n) for p, n in expected.items() if p in value and any(x not in value for x in n))
        return [*path, next(x for x in needs if x not in value)], f"is required when {prop} is set"
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        return [*path, next(k for k in value if k not in known)], "is not a known property"
    if kind == "enum":
        return path, f"{subject} is not one of {', '.join(_enum_text(v) for v in sorted(expected, key=str))}"
    if kind == "type":
        return path, f"{subject} is not {_type_text([expected])}"
    if kind == "minimum":
        return path, f"{subject} is less than the minimum {expected}"
    if kind == "maximum":
        return path, f"{subject} is greater than the maximum {expected}"
    if kind == "pattern":
        description = error.schema.get("description")
        return path, f"{subject} is not {description}" if description else f"{subject} does not match {expected}"
    if kind in ("minItems", "minLength") and expected == 1:
        return path, f"{subject} must not be empty"
    if kind in ("anyOf", "oneOf"):
        return _describe_alternatives(error)
    return path, error.message


def _describe_alternatives(error: ValidationError) -> tuple[JsonPath, str]:
    """An anyOf/oneOf failure that best_match could not narrow down to one branch."""
    path: JsonPath = list(error.absolute_path)
    branches = error.validator_value
    if all(list(b) == ["required"] and len(b["required"]) == 1 for b in branches):
        return path, f"must set at least one of {', '.join(b['required'][0] for b in branches)}"
    if all(e.validator == "type" for e in error.context):
        return path, f"{_show(error.instance)} is not {_type_text([e.validator_value for e in error.context])}"
    return _describe(next(e for e in error.context if e.validator != "type"))


def _config_problems(doc: Any, require_process: bool) -> Iterator[tuple[JsonPath, str]]:
    """The spec's MUSTs that the schema cannot express; doc already matches config-schema.json."""
    yield from _unusable_strings(doc)
    if require_process and "process" not in doc:
        yield ["process"], "is required to create a container"
    process = doc.get("process", {})
    linux = doc.get("linux", {})
    yield from _duplicates(["linux", "namespaces"], linux.get("namespaces", []), "type")
    yield from _duplicates(["process", "rlimits"], process.get("rlimits", []), "type")
    yield from _seccomp_errno_problems(linux.get("seccomp"))
    yield from _idmap_problems(doc.get("mounts", []), linux.get("namespaces", []))


def _unusable_text(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate (\\ud800): no UTF-8 spelling for the kernel
        return "is not valid Unicode text (a lone surrogate)"
    return None


def _unusable_strings(doc: Any) -> Iterator[tuple[JsonPath, str]]:
    """JSON can carry \\u0000 and lone surrogates; no path, argument or name the kernel takes can:
    refuse them by name rather than fail deep inside create. (A loop: documents nest as deep as
    the parser allows.)"""
    stack: list[tuple[JsonPath, Any]] = [([], doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and (problem := _unusable_text(value)):
            yield path, problem
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := _unusable_text(key):
                    yield path, f"a key {problem}"
                    return
                stack.append(([*path, key], item))
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in enumerate(value))


def _duplicates(path: JsonPath, entries: Sequence[dict[str, Any]], key: str) -> Iterator[tuple[JsonPath, str]]:
    """config-linux.md and config.md: duplicate namespace types and rlimit types MUST be errors."""
    first_index: dict[Any, int] = {}
    for index, entry in enumerate(entries):
        value = entry[key]
        if value in first_index:
            yield (
                [*path, index, key],
                f"{_show(value)} is a duplicate of {_json_path([*path, first_index[value], key])}",
            )
        first_index.setdefault(value, index)


def _seccomp_errno_problems(seccomp: dict[str, Any] | None) -> Iterator[tuple[JsonPath, str]]:
    """config-linux.md: when the action doesn't support an errno, the runtime MUST print an error and fail."""
    if seccomp is None:
        return
    if "defaultErrnoRet" in seccomp and seccomp["defaultAction"] not in _ERRNO_ACTIONS:
        yield (
            ["linux", "seccomp", "defaultErrnoRet"],
            f"is only allowed with defaultAction {' or '.join(_ERRNO_ACTIONS)}, not {_show(seccomp['defaultAction'])}",
        )
    for index, rule in enumerate(seccomp.get("syscalls", [])):
        if "errnoRet" in rule and rule["action"] not in _ERRNO_ACTIONS:
            yield (
                ["linux", "seccomp", "syscalls", index, "errnoRet"],
                f"is only allowed with action {' or '.join(_ERRNO_ACTIONS)}, not {_show(rule['action'])}",
            )


def _idmap_problems(
    mounts: Sequence[dict[str, Any]], namespaces: Sequence[dict[str, Any]]
) -> Iterator[tuple[JsonPath, str]]:
    """config.md, idmap/ridmap: with no mount mappings and no user namespace an error MUST be returned."""
    if any(ns["type"] == "user" for ns in namespaces):
        return
    for index, mount in enumerate(mounts):
        option = next((o for o in mount.get("options", []) if o in ("idmap", "ridmap")), None)
        if option is not None and "uidMappings" not in mount:
            yield (
                ["mounts", index, "options"],
                f"{option} needs the mount's uidMappings and gidMappings or a user namespace in linux.namespaces",
            )


def _features_problems(doc: Any) -> Iterator[tuple[JsonPath, str]]:
    """features.md: ociVersionMax MUST NOT be less than ociVersionMin; doc already matches features-schema.json."""
    if _semver_key(doc["ociVersionMax"]) < _semver_key(doc["ociVersionMin"]):
        yield ["ociVersionMax"], f"{_show(doc['ociVersionMax'])} is less than ociVersionMin {doc['ociVersionMin']}"


def _warn_relative_destinations(doc: Any) -> None:
    """config.md (Linux): a destination SHOULD be absolute but MAY be relative (deprecated), meaning relative to "/".

    So relative destinations are accepted, as runc does, with a warning for the log (the spec: runtimes MAY log).
    """
    for index, mount in enumerate(doc.get("mounts", [])):
        if not mount["destination"].startswith("/"):
            log.warning(
                f"config.json: {_json_path(['mounts', index, 'destination'])}: {_show(mount['destination'])}"
                " is relative (deprecated); it is taken as relative to /"
            )


def _semver_key(version: str) -> tuple[Any, ...]:
    """SemVer 2.0.0 precedence: build metadata ignored, a pre-release sorts before its release, numeric
    pre-release identifiers compare as numbers and before alphanumeric ones. version already matched the pattern."""
    core, _, pre = version.split("+", 1)[0].partition("-")
    major, minor, patch = (int(part) for part in core.split("."))
    identifiers = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (major, minor, patch, 0 if pre else 1, identifiers)


def _json_path(path: JsonPath) -> str:
    """Write a path like linux.namespaces[2].type, quoting odd keys: linux.sysctl["net.ipv4.ip_forward"]."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isascii() and part.isidentifier():
            text += f".{part}" if text else part
        else:
            text += f"[{_dumps(part)}]"
    return text or "(root)"


def _dumps(value: object, ensure_ascii: bool = True) -> str:
    """json.dumps for messages (Infinity included), imported only when there is one to write."""
    import json

    return json.dumps(value, ensure_ascii=ensure_ascii)


def _show(value: object) -> str:
    """A value as one line of JSON, shortened when long."""
    text = _dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _enum_text(value: object) -> str:
    """Enum members unquoted when they are plain strings, as in `"pidd" is not one of cgroup, ipc, ...`."""
    return value if isinstance(value, str) and value else _dumps(value)


def _type_text(expected: list[str | list[str]]) -> str:
    """The JSON types a value should have had, as in "a boolean or null"."""
    names = [name for item in expected for name in ([item] if isinstance(item, str) else item)]
    return " or ".join(_TYPE_NAMES[name] for name in names)
