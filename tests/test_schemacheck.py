"""oci_runtime._schemacheck, the validator that oci_runtime/schemagen.py generates from schemas/*.json at build time,
gives jsonschema's verdict: on every client config we have, on a corpus of mutations of them, on hypothesis-made
documents (arbitrary JSON, and documents shaped like the schemas with hostile values), for config, state and
features documents. Also: the generator refuses keywords it does not implement, the keywords our schemas do not use
yet match jsonschema on a synthetic schema, and the installed module matches the installed schemas.

The oracle is oci_runtime.validate's validator (draft 2020-12, strict integers everywhere: see
test_validate_py_integer_type_inside_linux).
"""

from __future__ import annotations

import copy
import functools
import glob
import importlib.util
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import CLIENT_CONFIGS, TEMPLATE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oci_runtime import _schemacheck, schemagen, validate
from oci_runtime.default_spec import default_spec

CONFIG, STATE, FEATURES = "config-schema.json", "state-schema.json", "features-schema.json"
GENERATED: dict[str, Callable[[Any], bool]] = {
    CONFIG: _schemacheck.is_valid_config_schema,
    STATE: _schemacheck.is_valid_state_schema,
    FEATURES: _schemacheck.is_valid_features_schema,
}
REPO_SCHEMAS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")
HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- oracles ---------------------------------------------------------------------------------------------------------


def _strict_integers():
    from jsonschema import Draft202012Validator

    return Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )


def check(name: str, doc: Any) -> bool:
    """Assert that the generated validator agrees with jsonschema on doc; return the verdict."""
    got = GENERATED[name](doc)
    expected = validate.schema_validator(name).is_valid(doc)
    assert got is expected, f"{name}: generated says {got}, jsonschema says {expected}: {_short(doc)}"
    return got


def _short(doc: Any) -> str:
    text = json.dumps(doc)
    return text if len(text) < 600 else text[:600] + "..."


# -- the documents we have -------------------------------------------------------------------------------------------


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def config_documents() -> dict[str, Any]:
    paths = sorted(glob.glob(str(CLIENT_CONFIGS / "*.json")))
    assert len(paths) >= 10, f"client configs missing from {CLIENT_CONFIGS}"
    docs = {"busybox/config.json": _load(str(TEMPLATE)), "default_spec": default_spec()}
    # Alternate between clients (containerd, podman, ...) so that each location is mutated in different clients' docs.
    by_client: dict[str, list[str]] = {}
    for path in paths:
        by_client.setdefault(os.path.basename(path).split("-")[0], []).append(path)
    for group in itertools.zip_longest(*by_client.values()):
        docs.update((os.path.basename(p), _load(p)) for p in group if p)
    return docs


def state_documents() -> dict[str, Any]:
    from oci_runtime.state import Container

    data = {"pid": 4242, "bundle": "/run/bundles/c1", "rootfs": "/run/bundles/c1/rootfs",
            "created": "2024-01-02T03:04:05.123456789Z", "annotations": {"org.example.key": "value"}}  # fmt: skip
    docs = {f"state-{s}": Container("/run/oci-runtime", "c1", -1, data).oci_state(s) for s in ("created", "stopped")}
    docs["state-creating"] = {"ociVersion": "1.3.0", "id": "c1", "status": "creating", "bundle": "/b"}
    return docs


def features_documents() -> dict[str, Any]:
    from oci_runtime.features import features

    return {"features": features()}


DOCUMENTS = {CONFIG: config_documents(), STATE: state_documents(), FEATURES: features_documents()}


@pytest.mark.parametrize(
    "name,label", [(n, label) for n, docs in DOCUMENTS.items() for label in docs], ids=lambda v: str(v)
)
def test_real_documents(name: str, label: str):
    assert check(name, DOCUMENTS[name][label]), f"{label} should be valid"


# -- mutations -------------------------------------------------------------------------------------------------------

HOSTILE: list[tuple[str, Any]] = [
    ("null", None), ("true", True), ("false", False), ("0", 0), ("1", 1), ("-1", -1), ("1.0", 1.0), ("0.5", 0.5),
    ("-0.0", -0.0), ("2**31", 2**31), ("2**32", 2**32), ("2**63", 2**63), ("2**64", 2**64), ("-2**63-1", -(2**63) - 1),
    ("1e300", 1e300), ("empty", ""), ("x", "x"), ("newline", "\n"), ("slash", "/"), ("huge", "A" * 100_000),
    ("unknown-enum", "NOT_A_KNOWN_VALUE"), ("[]", []), ("[1]", [1]), ("[x]", ["x"]), ("[null]", [None]), ("{}", {}),
    ("{x:1}", {"x": 1}),
]  # fmt: skip


def _derived(value: Any) -> Iterator[tuple[str, Any]]:
    """Mutations that depend on the value: near misses of strings, numbers and containers."""
    if isinstance(value, str):
        yield "str+newline", value + "\n"
        yield "newline+str", "\n" + value
        yield "str+X", value + "X"
        yield "lower", value.lower() if value != value.lower() else value.upper()
        yield "str[:1]", value[:1]
    elif isinstance(value, bool):
        yield "int(bool)", int(value)
        yield "str(bool)", str(value).lower()
    elif isinstance(value, int):
        yield "n+1", value + 1
        yield "n-1", value - 1
        yield "-n-1", -value - 1
        yield "float(n)", float(value)
        yield "str(n)", str(value)
        yield "bool(n)", bool(value)
    elif isinstance(value, list):
        yield "[v]", [value]
        if value:
            yield "dup-first", [*value, copy.deepcopy(value[0])]
            yield "[[first]]", [[value[0]]]
            yield "[{first}]", [{"x": value[0]}]
    elif isinstance(value, dict):
        yield "[{}]", [value]
        yield "{unknown}", {**value, "unknownKey": {"x": 1}}
        yield "{:}", {**value, "": "x"}
        for key in list(value)[:1]:
            yield "{first:[]}", {**value, key: [value[key]]}


def _trim(doc: Any) -> Any:
    """doc with long arrays cut to their first two and last entries, so that jsonschema checks each mutant quickly."""
    if isinstance(doc, dict):
        return {k: _trim(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_trim(v) for v in (doc if len(doc) <= 3 else [doc[0], doc[1], doc[-1]])]
    return doc


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _with(doc: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    result = copy.deepcopy(doc)
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return result


MUTANTS_PER_LOCATION = 2
"""How many documents (of different clients, where they have the field) a mutation of one location is made in."""


@functools.cache
def mutants(name: str) -> list[tuple[str, tuple, str, Any]]:
    """(document label, path, mutation, mutated document): each mutation once per location in the schema's terms
    (array indexes and map keys of the same field count as one location), taken from the first document with it."""
    seen: dict[tuple, int] = {}
    result = []
    for label, doc in DOCUMENTS[name].items():
        base = _trim(doc)
        for path, mutation, new in [((), n, v) for n, v in HOSTILE] + [((), "[doc]", [base])]:
            if ((), mutation) not in seen:
                seen[((), mutation)] = 1
                result.append((label, path, mutation, copy.deepcopy(new)))
        shapes = set()
        for path in _paths(base):
            shape = tuple("*" if isinstance(p, int) or (i and path[i - 1] in _MAPS) else p for i, p in enumerate(path))
            if shape in shapes:
                continue
            shapes.add(shape)
            value = functools.reduce(lambda node, key: node[key], path, base)
            for mutation, new in [("delete", None), *HOSTILE, *_derived(value)]:
                if seen.get((shape, mutation), 0) >= MUTANTS_PER_LOCATION:
                    continue
                seen[shape, mutation] = seen.get((shape, mutation), 0) + 1
                result.append((label, path, mutation, _with(base, path, new, delete=mutation == "delete")))
    return result


_MAPS = {"annotations", "sysctl", "unified", "timeOffsets", "netDevices", "rdma"}
"""Objects whose keys are free-form (not field names): their entries count as one location."""


@pytest.mark.parametrize("name", [CONFIG, STATE, FEATURES])
def test_mutations(name: str):
    cases = mutants(name)
    mismatches, verdicts = [], {True: 0, False: 0}
    for label, path, mutation, doc in cases:
        try:
            verdicts[check(name, doc)] += 1
        except AssertionError as err:
            mismatches.append(f"{label} {'.'.join(map(str, path)) or '(root)'} {mutation}: {str(err)[:300]}")
    assert not mismatches, f"{len(mismatches)} of {len(cases)} mutants disagree:\n" + "\n".join(mismatches[:20])
    assert verdicts[True] and verdicts[False], verdicts
    print(f"{name}: {len(cases)} mutants, {verdicts[True]} valid, {verdicts[False]} invalid")


def test_mutation_corpus_is_large():
    sizes = {name: len(mutants(name)) for name in (CONFIG, STATE, FEATURES)}
    assert sizes[CONFIG] > 6000 and sizes[STATE] > 200 and sizes[FEATURES] > 500, sizes


# -- hypothesis ------------------------------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, -1.0, 4294967295.0, 1e300])
    | st.text()
    | st.sampled_from(["", "/", "/x", "x", "1.0.0", "1.3.0\n", "RLIMIT_NOFILE", "CAP_KILL", "pid", "SCMP_ACT_ALLOW"])
)
ARBITRARY_JSON = st.recursive(
    SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30,
)  # fmt: skip


def _field_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        names = set(node.get("properties", {})) | {r for r in node.get("required", []) if isinstance(r, str)}
        return names.union(*(_field_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_field_names(v) for v in node))
    return set()


SCHEMA_DOCS = {os.path.basename(p): _load(p) for p in glob.glob(os.path.join(validate.schema_dir(), "*.json"))}
FIELD_NAMES = sorted(set().union(*(_field_names(d) for d in SCHEMA_DOCS.values())))
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)
KEYED_JSON = st.recursive(
    SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)  # fmt: skip


@pytest.mark.parametrize("name", [CONFIG, STATE, FEATURES])
@HYPOTHESIS
@given(doc=ARBITRARY_JSON | KEYED_JSON)
def test_arbitrary_json(name: str, doc: Any):
    check(name, doc)


def _resolve(file: str, ref: str) -> tuple[str, Any]:
    uri, _, fragment = ref.partition("#")
    file = uri or file
    node = SCHEMA_DOCS[file]
    for segment in [s for s in fragment.split("/") if s]:
        node = node[int(segment)] if isinstance(node, list) else node[segment]
    return file, node


def _flatten(draw, file: str, schema: Any) -> dict[str, Any]:
    """The schema with its $ref merged in and one anyOf branch (or an if's then) chosen: what to generate."""
    if not isinstance(schema, dict):
        return {}
    merged: dict[str, Any] = {}
    if "$ref" in schema:
        merged = _flatten(draw, *_resolve(file, schema["$ref"]))
    properties = {k: (file, v) for k, v in schema.get("properties", {}).items()}
    merged["properties"] = {**merged.get("properties", {}), **properties}
    merged["required"] = [*merged.get("required", []), *schema.get("required", [])]
    for key, value in schema.items():
        if key not in ("$ref", "properties", "required", "anyOf", "if", "then"):
            merged[key] = (file, value) if key in ("items", "additionalProperties", "propertyNames") else value
    if "anyOf" in schema:
        branch = _flatten(draw, file, draw(st.sampled_from(schema["anyOf"])))
        merged["properties"].update(branch["properties"])
        merged["required"] += branch["required"]
        for key in branch.keys() - {"properties", "required"}:
            merged.setdefault(key, branch[key])
    if "then" in schema and draw(st.integers(0, 3)):
        merged["required"] += schema["then"].get("required", [])
    return merged


HOSTILE_VALUES = st.sampled_from([value for _, value in HOSTILE if value != "A" * 100_000]) | SCALARS


@st.composite
def shaped(draw, file: str) -> Any:
    """A document shaped by the schema in file (properties, items, enums, patterns, ranges), with hostile values at
    a rate drawn per document: none (valid documents), a few, or many."""
    rate = draw(st.sampled_from([0, 0, 0.01, 0.03, 0.1]))
    return _shaped_value(draw, file, SCHEMA_DOCS[file], rate, 0)


def _shaped_value(draw, file: str, schema: Any, rate: float, depth: int) -> Any:
    if rate and draw(st.integers(0, 999)) < rate * 1000:
        return draw(HOSTILE_VALUES)
    spec = _flatten(draw, file, schema)
    if "enum" in spec:
        return draw(st.sampled_from(spec["enum"]))
    types = spec.get("type", ["object"] if spec.get("properties") else ["string"])
    kind = draw(st.sampled_from(types if isinstance(types, list) else [types]))
    if kind == "object":
        result = {}
        names = list(spec["properties"])
        wanted = set(spec["required"]) | {n for n in names if depth < 6 and draw(st.integers(0, 2)) == 0}
        for name in names:
            if name in wanted:
                result[name] = _shaped_value(draw, *spec["properties"][name], rate, depth + 1)
        if "additionalProperties" in spec and isinstance(spec["additionalProperties"][1], dict):
            for key in draw(st.lists(st.text(max_size=6), max_size=2 if depth < 6 else 0)):
                result.setdefault(key, _shaped_value(draw, *spec["additionalProperties"], rate, depth + 1))
        if rate and draw(st.integers(0, 9)) == 0:
            result[draw(st.sampled_from(FIELD_NAMES))] = draw(HOSTILE_VALUES)
        return result
    if kind == "array":
        low = spec.get("minItems", 0)
        count = draw(st.integers(low, low + (2 if depth < 6 else 0)))
        return [_shaped_value(draw, *spec["items"], rate, depth + 1) for _ in range(count)] if "items" in spec else []
    if kind == "string":
        if "pattern" in spec:
            return draw(st.from_regex(spec["pattern"]))
        return draw(st.text(min_size=spec.get("minLength", 0), max_size=8))
    if kind == "integer":
        low, high = spec.get("minimum", -(2**70)), spec.get("maximum", 2**70)
        return draw(st.integers(low, high) | st.sampled_from([low, high, low - 1, high + 1, float(low)]))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "null":
        return None
    raise AssertionError(f"no generator for {kind}")


@pytest.mark.parametrize("name", [CONFIG, STATE, FEATURES])
def test_shaped(name: str):
    """Schema-shaped documents with hostile values; the strategy must make both valid and invalid ones."""
    verdicts = {True: 0, False: 0}

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(doc=shaped(name))
    def run(doc: Any):
        verdicts[check(name, doc)] += 1

    run()
    assert verdicts[True] >= 15 and verdicts[False] >= 15, verdicts
    print(f"{name}: {verdicts[True]} valid, {verdicts[False]} invalid shaped documents")


# -- the generator ---------------------------------------------------------------------------------------------------


def _module(documents: dict[str, Any], tmp_path, name: str = "generated") -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(schemagen.Generator(documents).module({file: "0" * 64 for file in documents}))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "schema,message",
    [
        ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
        ({"properties": {"a": {"items": {"contains": {"type": "string"}}}}}, "contains"),
        ({"$defs": {"unused": {"type": "string", "format": "date-time"}}}, "format"),
        ({"anyOf": [{"multipleOf": 2}, {"type": "null"}]}, "multipleOf"),
        ({"$id": "https://example.com/s.json"}, "$id"),
        ({"dependencies": {"a": ["b"]}}, "dependencies"),
        ({"additionalItems": False}, "additionalItems"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "draft-07"),
        ({"$ref": "other.json#/$defs/x"}, "names no schema file"),
        ({"$ref": "#anchor"}, "JSON pointer"),
        ({"$ref": "#/$defs/missing"}, "no such location"),
        ({"type": "integr"}, "unsupported type"),
        ({"then": {"required": ["a"]}}, "then/else without if"),
        ({"pattern": "("}, "bad pattern"),
        ({"minLength": -1}, "minLength"),
        ({"required": "a"}, "required"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_generator_refuses_what_it_does_not_implement(schema, message):
    with pytest.raises(schemagen.SchemaGenError, match=message.replace("$", r"\$")):
        schemagen.Generator({"t-schema.json": schema}).module({"t-schema.json": "0" * 64})


def test_generator_refuses_an_unknown_keyword_in_our_schemas(tmp_path):
    """A keyword added to a vendored schema that the generator does not know stops the build."""
    for file in sorted(os.listdir(REPO_SCHEMAS)):
        if file.endswith(".json"):
            with open(os.path.join(REPO_SCHEMAS, file), encoding="utf-8") as f:
                (tmp_path / file).write_text(f.read())
    document = json.loads((tmp_path / "defs.json").read_text())
    document["$defs"]["uint32"]["multipleOf"] = 1
    (tmp_path / "defs.json").write_text(json.dumps(document))
    with pytest.raises(
        schemagen.SchemaGenError, match=r"defs.json#/\$defs/uint32: unsupported keyword\(s\) multipleOf"
    ):
        schemagen.generate(str(tmp_path))
    assert schemagen.main(["--schemas", str(tmp_path), "--output", str(tmp_path / "out.py")]) == 1
    assert not (tmp_path / "out.py").exists()


def test_installed_module_is_generated_from_installed_schemas():
    """pip install generated it (setup.py's build_py), from the schemas it installed, deterministically."""
    with open(_schemacheck.__file__, encoding="utf-8") as f:
        installed = f.read()
    assert installed == schemagen.generate(validate.schema_dir()) == schemagen.generate(validate.schema_dir())
    assert installed.startswith("# GENERATED FILE - DO NOT EDIT.")


def test_installed_module_matches_the_checkout():
    """Catches a stale install: reinstall (pip install .) after editing schemas/."""
    _, hashes = schemagen.load_schemas(REPO_SCHEMAS)
    assert _schemacheck.SOURCES == hashes


def test_module_imports_nothing():
    code = (
        "import sys; before = set(sys.modules); import oci_runtime._schemacheck as m; "
        "imported = set(sys.modules) - before; "
        "m.is_valid_config_schema({'ociVersion': 1, 'root': {'path': 'r'}}); "
        "after_invalid = set(sys.modules) - before; "
        "import json; print(json.dumps([sorted(imported), sorted(after_invalid - {'json'} - imported)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/").stdout
    assert json.loads(out) == [["oci_runtime", "oci_runtime._schemacheck"], []]
    with open(_schemacheck.__file__, encoding="utf-8") as f:
        text = f.read()
    assert "\nimport " not in text and "\nfrom " not in text


# -- patterns without re -----------------------------------------------------------------------------------------------

PURE = [(i, p) for i, p in enumerate(_schemacheck._PATTERNS) if p in schemagen.PURE_PATTERNS]
# characters that each pattern treats specially, with look-alikes: Unicode digits (re's \\d takes them, [0-9] does
# not), a lowercase letter, newlines (`$` matches before a final one), and the separators of versions
TRICKY = "09185aZzKMGBrwm-.+/,_ \n\u0663\uff11\u00b2"


def test_our_schemas_need_no_re():
    """Every pattern in the vendored schemas has a pure-Python form: validating a config never imports re."""
    assert [p for p in _schemacheck._PATTERNS if p not in schemagen.PURE_PATTERNS] == []
    assert len(PURE) == len(_schemacheck._PATTERNS) >= 9


@pytest.mark.parametrize("index,pattern", PURE, ids=[p for _, p in PURE])
def test_pure_pattern_agrees_with_re_on_all_short_strings(index, pattern):
    """Exhaustive up to 3 characters of TRICKY, plus each pattern's literal words with a character changed."""
    import re

    pure, compiled = getattr(_schemacheck, f"_pattern_{index}"), re.compile(pattern)
    words = ["".join(w) for n in range(4) for w in itertools.product(TRICKY, repeat=n)]
    words += [f"{prefix}{w}" for prefix in ("RLIMIT_", "CAP_", "MB:", "1.0.", "1.2.3-", "1.2.3+", "1.2.3-a.") for w in words[:400]]
    disagree = [w for w in words if pure(w) != (compiled.search(w) is not None)]
    assert disagree == []
    matched = sum(pure(w) for w in words)
    assert 0 < matched < len(words), (matched, len(words))  # the corpus exercises both verdicts


@pytest.mark.parametrize("index,pattern", PURE, ids=[p for _, p in PURE])
def test_pure_pattern_agrees_with_re_on_generated_strings(index, pattern):
    """Strings that match (hypothesis' from_regex), then the same with a character inserted, removed or replaced."""
    import re

    pure, compiled = getattr(_schemacheck, f"_pattern_{index}"), re.compile(pattern)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern), st.integers(0, 40), st.sampled_from(TRICKY), st.sampled_from(["insert", "drop", "set", "none"]))
    def run(text, at, char, how):
        at = min(at, len(text))
        mutated = {"insert": text[:at] + char + text[at:], "drop": text[:at] + text[at + 1:],
                   "set": text[:at] + char + text[at + 1:], "none": text}[how]
        for candidate in (text, mutated):
            assert pure(candidate) == (compiled.search(candidate) is not None), candidate

    run()


SYNTHETIC = {
    "$schema": schemagen.DIALECT,
    "$defs": {
        "num": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"const": "x"}], "items": False},
        "tree": {"type": ["object", "null"],
                 "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}},
    },
    "type": "object",
    "properties": {
        "a": {"$ref": "#/$defs/num"},
        "b": {"$ref": "#/$defs/pair"},
        "c": {"type": "array", "uniqueItems": True, "maxItems": 5},
        "d": {"type": "string", "minLength": 1, "maxLength": 3},
        "e": {"oneOf": [{"type": "integer"}, {"minimum": 5}]},
        "f": {"allOf": [{"type": ["integer", "string"]}, {"not": {"const": 3}}]},
        "g": {"if": {"type": "string"}, "then": {"pattern": "^a"}, "else": {"enum": [1, True, None, [1], {"k": 1.0}]}},
        "h": {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": {"type": "boolean"},
              "patternProperties": {"^x": {"type": "integer"}, "y$": False}},
        "i": {"const": {"k": [1, False]}},
        "j": False,
        "k": True,
        "l": {"$ref": "#/$defs/tree"},
        "m": {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "null"}},
        "n": {"propertyNames": {"pattern": "^[a-z]+$", "maxLength": 3}},
        "o": {"dependentRequired": {"p": ["q"]}, "additionalProperties": False, "properties": {"p": {}, "q": {}}},
        "p": {"enum": [0, False, "0", 1.5]},
        "q": {"const": 1},
        "r": {"not": {"type": "string"}, "minimum": -1, "maximum": 1.5},
        "s": {"const": None},
        "t": {"uniqueItems": True},
    },
    "additionalProperties": {"type": ["null", "number"]},
}  # fmt: skip
POOL_VALUES = ([0, 1, 2, 3, 5, 9.5, 10, 1.0, 0.0, -0.0, True, False, None, "", "a", "ab", "abcd", "x", "xy",
                        [1], [True], [1.0], [0], [False], [1, False], {"k": 1}, {"k": True}, {"k": [1, False]},
                        {"k": [1.0, False]}, {"k": [True, 0]}, [1, "x"], [1.0, "x"], [1, "x", 2], {"p": 1},
                        {"p": 1, "q": 2}, {"x1": 1, "zy": 2}, {"xy": 1}, {"ab": 1, "abcd": 2},
                        {"kids": [None]}])  # fmt: skip
POOL = st.sampled_from(POOL_VALUES)
SYNTHETIC_VALUES = st.recursive(POOL | SCALARS,
                                lambda c: st.lists(c, max_size=4) | st.dictionaries(KEYS, c, max_size=3),
                                max_leaves=8)  # fmt: skip


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The keywords our schemas do not use (yet), compiled, and jsonschema's strict-integer validator for them."""
    from jsonschema import Draft202012Validator, validators

    cls = validators.extend(Draft202012Validator, type_checker=_strict_integers())
    module = _module({"t-schema.json": SYNTHETIC}, tmp_path_factory.mktemp("synthetic"))
    return module.is_valid_t_schema, cls(SYNTHETIC)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(doc=st.dictionaries(st.sampled_from(sorted(SYNTHETIC["properties"])) | KEYS, SYNTHETIC_VALUES, max_size=4))
def test_keywords_our_schemas_do_not_use(synthetic, doc):
    generated, oracle = synthetic
    assert generated(doc) is oracle.is_valid(doc), doc


@pytest.mark.parametrize("field", sorted(SYNTHETIC["properties"]))
def test_keywords_our_schemas_do_not_use_pool(synthetic, field):
    """Every pool value under every synthetic field, both verdicts seen where the field allows anything."""
    generated, oracle = synthetic
    for value in POOL_VALUES:
        doc = {field: value}
        assert generated(doc) is oracle.is_valid(doc), doc


# -- what validate.py does today -------------------------------------------------------------------------------------


def test_validate_py_integer_type_inside_linux():
    """validate.py registers the schema files without $schema: jsonschema keeps our strict integers
    when a $ref enters config-linux.json (it used to swap in the stock validator: 1.0 was a limit)."""
    doc = {"ociVersion": "1.3.0", "root": {"path": "r"}, "linux": {"resources": {"memory": {"limit": 1.0}}}}
    assert not _schemacheck.is_valid_config_schema(doc)
    assert not validate.schema_validator(CONFIG).is_valid(doc)
