"""Generate oci_runtime/_schemacheck.py, a validator compiled from our vendored JSON schemas (schemas/*.json).

jsonschema costs ~90 ms to import; the generated module costs next to nothing and checks a config in well under a
millisecond. For each top-level schema file (a name ending in -schema.json) it defines is_valid_<stem>(doc) -> bool,
e.g. is_valid_config_schema, with the verdict of jsonschema's Draft202012Validator using a strict integer type
(1.0 and True are not integers), as oci_runtime.validate.schema_validator intends. There is no error reporting:
when a document is not valid, ask jsonschema why.

The generator implements the draft 2020-12 keywords listed in KEYWORDS and nothing else: any other keyword (or a
malformed value of a known one) raises SchemaGenError, so a schema change can never silently weaken validation.
Each $ref is resolved here, at generation time, to a call of the generated function for its target; recursion
between definitions is allowed. Documents are expected to be JSON values (dict, list, str, int, float, bool, None)
as json.loads returns them.

Stdlib only: setup.py runs this file during `pip install .` to put the module into the build (see setup.py), and
`python3 -m oci_runtime.schemagen` writes it into the source tree for development.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from typing import Any
from urllib.parse import unquote

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODULE = "_schemacheck.py"

ANNOTATIONS = frozenset(
    {"$schema", "$comment", "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly"}
)
"""Keywords that never affect validity (with $defs, which only holds subschemas for $ref)."""

OBJECT_KEYWORDS = (
    "required", "dependentRequired", "minProperties", "maxProperties",
    "properties", "patternProperties", "additionalProperties", "propertyNames",
)  # fmt: skip
ARRAY_KEYWORDS = ("minItems", "maxItems", "uniqueItems", "prefixItems", "items")
STRING_KEYWORDS = ("minLength", "maxLength", "pattern")
NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
GENERIC_KEYWORDS = ("type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf", "not", "if", "then", "else")
KEYWORDS = frozenset(OBJECT_KEYWORDS + ARRAY_KEYWORDS + STRING_KEYWORDS + NUMBER_KEYWORDS + GENERIC_KEYWORDS)
"""The validation keywords the generated code implements."""

# JSON values fall in these disjoint kinds; a schema "type" names a set of them ("number" is int and float).
ALL_KINDS = frozenset({"null", "boolean", "object", "array", "string", "int", "float"})
TYPE_KINDS = {
    "null": frozenset({"null"}),
    "boolean": frozenset({"boolean"}),
    "object": frozenset({"object"}),
    "array": frozenset({"array"}),
    "string": frozenset({"string"}),
    "integer": frozenset({"int"}),
    "number": frozenset({"int", "float"}),
}
NUMBER_KINDS = frozenset({"int", "float"})
NUMBER_TEST = "isinstance({v}, (int, float)) and not isinstance({v}, bool)"
KIND_TESTS = {
    # jsonschema's type checks (integer: the strict one of oci_runtime.validate), for JSON values.
    "null": "{v} is None",
    "boolean": "isinstance({v}, bool)",
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
}


class SchemaGenError(Exception):
    """The schemas use something the generator does not implement, or are malformed."""


Location = tuple[str, tuple[str, ...]]  # (schema file name, JSON pointer segments)


def _where(location: Location) -> str:
    file, pointer = location
    return file + "#" + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in pointer)


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text, flags=re.ASCII)


def _location_name(location: Location) -> str:
    """A readable identifier for a location: config-linux.json#/$defs/Device/if -> _config_linux__Device__if."""
    file, pointer = location
    parts = [file.removesuffix(".json")] + [p for p in pointer if p not in ("$defs", "properties")]
    return "_" + "__".join(_identifier(p) for p in parts)


def _negate(test: str) -> str:
    if test.endswith(" is None") and " or " not in test and " and " not in test:
        return test.removesuffix(" is None") + " is not None"
    return f"not ({test})" if " or " in test or " and " in test else f"not {test}"


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _emit_length_bounds(where: str, schema: dict[str, Any], keywords: tuple[str, str], var: str, out: list[str],
                        indent: str) -> None:
    """minItems/maxItems or minLength/maxLength: len(var) against the bound."""
    for keyword, op in zip(keywords, ("<", ">")):
        if keyword in schema:
            if not _is_count(schema[keyword]):
                raise SchemaGenError(f"{where}: {keyword} must be a non-negative integer")
            out.append(f"{indent}if len({var}) {op} {schema[keyword]!r}:")
            out.append(f"{indent}    return False")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


class _Function:
    def __init__(self, name: str, location: Location) -> None:
        self.name = name
        self.location = location
        self.lines: list[str] = []
        self.calls: set[str] = set()
        self.counter = 0

    def variable(self, prefix: str = "x") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


class Generator:
    """Compiles a set of schema documents, keyed by file name, into the source text of a Python module."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.functions: dict[Location, _Function] = {}
        self.names: set[str] = set()
        self.pending: list[_Function] = []
        self.constants: dict[str, str] = {}  # name -> Python literal
        self.constant_names: dict[str, str] = {}  # Python literal -> name
        self.patterns: list[str] = []
        self.helpers: set[str] = set()
        for file, document in documents.items():
            if not isinstance(document, (dict, bool)):
                raise SchemaGenError(f"{file}: a schema must be an object or a boolean")

    # -- locations and $ref ------------------------------------------------------------------------------------

    def schema_at(self, location: Location) -> Any:
        file, pointer = location
        node = self.documents[file]
        for segment in pointer:
            if isinstance(node, list):
                if not segment.isdigit() or int(segment) >= len(node):
                    raise SchemaGenError(f"{_where(location)}: no such location")
                node = node[int(segment)]
            elif isinstance(node, dict) and segment in node:
                node = node[segment]
            else:
                raise SchemaGenError(f"{_where(location)}: no such location")
        if not isinstance(node, (dict, bool)):
            raise SchemaGenError(f"{_where(location)}: not a schema")
        return node

    def resolve(self, location: Location, ref: object) -> Location:
        """The location a $ref names: a file of ours (relative to the referring file, as jsonschema with our registry
        does) and a JSON pointer fragment."""
        if not isinstance(ref, str):
            raise SchemaGenError(f"{_where(location)}: $ref must be a string")
        uri, _, fragment = ref.partition("#")
        if uri:
            if uri not in self.documents:
                raise SchemaGenError(f"{_where(location)}: $ref {ref!r} names no schema file of ours")
            file = uri
        else:
            file = location[0]
        if fragment and not fragment.startswith("/"):
            raise SchemaGenError(f"{_where(location)}: $ref {ref!r}: only JSON pointer fragments are supported")
        segments = unquote(fragment[1:]).split("/") if fragment else []
        pointer = tuple(s.replace("~1", "/").replace("~0", "~") for s in segments)
        target = (file, pointer)
        self.schema_at(target)
        return target

    def kinds(self, location: Location, seen: frozenset[Location] = frozenset()) -> frozenset[str]:
        """The kinds of JSON value that can be valid at location, as far as type, $ref and allOf tell."""
        schema = self.schema_at(location)
        if schema is True or schema is False:
            return ALL_KINDS if schema else frozenset()
        result = ALL_KINDS
        if "type" in schema:
            result &= self.type_kinds(location, schema["type"])
        if "$ref" in schema:
            target = self.resolve(location, schema["$ref"])
            if target not in seen:
                result &= self.kinds(target, seen | {location})
        for index, _ in enumerate(schema.get("allOf", ())):
            result &= self.kinds((location[0], (*location[1], "allOf", str(index))), seen | {location})
        return result

    def type_kinds(self, location: Location, types: object) -> frozenset[str]:
        names = [types] if isinstance(types, str) else types
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n in TYPE_KINDS for n in names):
            raise SchemaGenError(f"{_where(location)}: unsupported type {types!r}")
        return frozenset().union(*(TYPE_KINDS[n] for n in names))

    # -- functions ---------------------------------------------------------------------------------------------

    def function(self, location: Location) -> str:
        """The name of the generated function checking the schema at location (compiled later, once)."""
        if location in self.functions:
            return self.functions[location].name
        base = _location_name(location)
        name, suffix = base, 1
        while name in self.names:
            suffix += 1
            name = f"{base}_{suffix}"
        self.names.add(name)
        function = _Function(name, location)
        self.functions[location] = function
        self.pending.append(function)
        return name

    def call(self, fn: _Function, location: Location, var: str) -> str:
        name = self.function(location)
        fn.calls.add(name)
        return f"{name}({var})"

    def compile_all(self) -> None:
        for file in sorted(self.documents):
            self.function((file, ()))
        while self.pending:
            fn = self.pending.pop(0)
            self.emit(fn, fn.location, "x", ALL_KINDS, fn.lines, "    ")

    # -- constants ---------------------------------------------------------------------------------------------

    def constant(self, name_hint: str, literal: str) -> str:
        if literal in self.constant_names:
            return self.constant_names[literal]
        name, suffix = name_hint, 1
        while name in self.constants or name in self.names:
            suffix += 1
            name = f"{name_hint}_{suffix}"
        self.constants[name] = literal
        self.constant_names[literal] = name
        return name

    def pattern(self, location: Location, pattern: object) -> int:
        if not isinstance(pattern, str):
            raise SchemaGenError(f"{_where(location)}: a pattern must be a string")
        try:
            re.compile(pattern)
        except re.error as err:
            raise SchemaGenError(f"{_where(location)}: bad pattern {pattern!r}: {err}") from None
        if pattern not in self.patterns:
            self.patterns.append(pattern)
        return self.patterns.index(pattern)

    def search(self, index: int, var: str) -> str:
        """The test `re.search(pattern, var) is not None`, without re for the patterns in PURE_PATTERNS."""
        return f"_pattern_{index}({var})" if self.patterns[index] in PURE_PATTERNS else f"_search({index}, {var})"

    # -- code --------------------------------------------------------------------------------------------------

    def check_node(self, location: Location, schema: dict[str, Any]) -> None:
        """Refuse what the generated code would not implement exactly."""
        where = _where(location)
        unknown = set(schema) - KEYWORDS - ANNOTATIONS - {"$defs"}
        if unknown:
            raise SchemaGenError(f"{where}: unsupported keyword(s) {', '.join(sorted(unknown))}")
        if "$schema" in schema and schema["$schema"] != DIALECT:
            raise SchemaGenError(f"{where}: only {DIALECT} is supported, not {schema['$schema']!r}")
        if ("then" in schema or "else" in schema) and "if" not in schema:
            raise SchemaGenError(f"{where}: then/else without if")

    def simple(self, location: Location) -> bool:
        """Whether the schema at location is a lone $ref or a lone single type whose test names the value once."""
        schema = self.schema_at(location)
        if not isinstance(schema, dict):
            return False
        self.check_node(location, schema)
        keys = set(schema) - ANNOTATIONS
        if keys == {"$ref"}:
            return True
        if keys == {"type"}:
            kinds = self.type_kinds(location, schema["type"])
            return len(kinds) == 1 and next(iter(kinds)) in KIND_TESTS
        return False

    def expression(self, fn: _Function, location: Location, var: str) -> str:
        """A Python expression, true iff var is valid under the schema at location (var is a plain name)."""
        schema = self.schema_at(location)
        if schema is True or schema is False:
            return str(schema)
        self.check_node(location, schema)
        keys = set(schema) - ANNOTATIONS
        if keys == {"$ref"}:
            return self.call(fn, self.resolve(location, schema["$ref"]), var)
        if keys == {"type"}:
            return self.type_test(self.type_kinds(location, schema["type"]), var)
        return self.call(fn, location, var)

    def type_test(self, kinds: frozenset[str], var: str) -> str:
        tests = [KIND_TESTS[k].format(v=var) for k in sorted(kinds) if k in KIND_TESTS]
        if NUMBER_KINDS <= kinds:
            tests.append(NUMBER_TEST.format(v=var))
        elif "int" in kinds:
            tests.append(f"isinstance({var}, int) and not isinstance({var}, bool)")
        elif "float" in kinds:
            tests.append(f"isinstance({var}, float)")
        if len(tests) > 1:
            tests = [f"({t})" if " and " in t else t for t in tests]
        return " or ".join(tests) if tests else "False"

    def emit(self, fn: _Function, location: Location, var: str, known: frozenset[str], out: list[str], indent: str):
        """Statements that `return False` unless var is valid under the schema at location; known: the kinds var is
        already known to have. Returns False when the statements always return False."""
        schema = self.schema_at(location)
        file, pointer = location
        where = _where(location)
        if schema is True:
            return True
        if schema is False or not known:
            out.append(f"{indent}return False")
            return False
        self.check_node(location, schema)
        defs = schema.get("$defs", {})
        if not isinstance(defs, dict):
            raise SchemaGenError(f"{where}: $defs must be an object")
        for name in defs:
            self.function((file, (*pointer, "$defs", name)))  # compiled (so checked) even if never used

        def sub(*segments: str) -> Location:
            return (file, (*pointer, *segments))

        if "type" in schema:
            kinds = self.type_kinds(location, schema["type"])
            if not known <= kinds:
                out.append(f"{indent}if {_negate(self.type_test(kinds, var))}:")
                out.append(f"{indent}    return False")
            known &= kinds
            if not known:
                out.append(f"{indent}return False")
                return False
        if "$ref" in schema:
            target = self.resolve(location, schema["$ref"])
            out.append(f"{indent}if not {self.call(fn, target, var)}:")
            out.append(f"{indent}    return False")
            known &= self.kinds(target)
            if not known:
                out.append(f"{indent}return False")
                return False
        if "enum" in schema:
            self.emit_enum(fn, location, schema["enum"], var, out, indent)
        if "const" in schema:
            self.emit_const(location, schema["const"], var, out, indent)

        for kinds, keywords, test, emitter in (
            (frozenset({"object"}), OBJECT_KEYWORDS, KIND_TESTS["object"], self.emit_object),
            (frozenset({"array"}), ARRAY_KEYWORDS, KIND_TESTS["array"], self.emit_array),
            (frozenset({"string"}), STRING_KEYWORDS, KIND_TESTS["string"], self.emit_string),
            (NUMBER_KINDS, NUMBER_KEYWORDS, NUMBER_TEST, self.emit_number),
        ):
            present = [k for k in keywords if k in schema]
            if not present:
                continue
            block: list[str] = []
            guarded = not known <= kinds
            emitter(fn, location, schema, var, block, indent + "    " if guarded else indent)
            if not (known & kinds):
                continue  # checked above (so malformed values still raise), but it cannot apply here
            if block and guarded:
                out.append(f"{indent}if {test.format(v=var)}:")
            out.extend(block)

        if "allOf" in schema:
            branches = self.branches(location, schema, "allOf")
            for index in range(len(branches)):
                if self.emit(fn, sub("allOf", str(index)), var, known, out, indent) is False:
                    return False
        if "anyOf" in schema:
            branches = self.branches(location, schema, "anyOf")
            tests = [self.expression(fn, sub("anyOf", str(i)), var) for i in range(len(branches))]
            out.append(f"{indent}if {_negate(' or '.join(tests))}:")
            out.append(f"{indent}    return False")
        if "oneOf" in schema:
            branches = self.branches(location, schema, "oneOf")
            tests = [self.expression(fn, sub("oneOf", str(i)), var) for i in range(len(branches))]
            out.append(f"{indent}if [{', '.join(tests)}].count(True) != 1:")
            out.append(f"{indent}    return False")
        if "not" in schema:
            out.append(f"{indent}if {self.expression(fn, sub('not'), var)}:")
            out.append(f"{indent}    return False")
        if "if" in schema:
            test = self.expression(fn, sub("if"), var)
            then: list[str] = []
            otherwise: list[str] = []
            if "then" in schema:
                self.emit(fn, sub("then"), var, known, then, indent + "    ")
            if "else" in schema:
                self.emit(fn, sub("else"), var, known, otherwise, indent + "    ")
            if then:
                out.append(f"{indent}if {test}:")
                out.extend(then)
                if otherwise:
                    out.append(f"{indent}else:")
                    out.extend(otherwise)
            elif otherwise:
                out.append(f"{indent}if {_negate(test)}:")
                out.extend(otherwise)
        return None

    def branches(self, location: Location, schema: dict[str, Any], keyword: str) -> list[Any]:
        branches = schema[keyword]
        if not isinstance(branches, list) or not branches:
            raise SchemaGenError(f"{_where(location)}: {keyword} must be a non-empty array")
        return branches

    def emit_enum(self, fn: _Function, location: Location, members: object, var: str, out: list[str], indent: str):
        if not isinstance(members, list):
            raise SchemaGenError(f"{_where(location)}: enum must be an array")
        hint = _location_name(location) + "__enum"
        if all(isinstance(m, str) for m in members):
            # jsonschema's equal(member, instance) is == when either is a string: only an equal string matches.
            name = self.constant(hint, "frozenset({" + ", ".join(repr(m) for m in sorted(set(members))) + "})")
            out.append(f"{indent}if not (isinstance({var}, str) and {var} in {name}):")
        else:
            self.helpers.add("_equal")
            name = self.constant(hint, "(" + "".join(repr(m) + ", " for m in members) + ")")
            out.append(f"{indent}if not any(_equal(each, {var}) for each in {name}):")
        out.append(f"{indent}    return False")

    def emit_const(self, location: Location, value: object, var: str, out: list[str], indent: str):
        if isinstance(value, str):
            out.append(f"{indent}if not (isinstance({var}, str) and {var} == {value!r}):")
        elif value is None or isinstance(value, bool):
            out.append(f"{indent}if {var} is not {value!r}:")
        else:
            self.helpers.add("_equal")
            out.append(f"{indent}if not _equal({var}, {value!r}):")
        out.append(f"{indent}    return False")

    def emit_object(self, fn: _Function, location: Location, schema: dict[str, Any], var: str, out, indent: str):
        where = _where(location)
        file, pointer = location
        if "required" in schema:
            required = schema["required"]
            if not _is_string_list(required):
                raise SchemaGenError(f"{where}: required must be an array of strings")
            if required:
                missing = " or ".join(f"{name!r} not in {var}" for name in dict.fromkeys(required))
                out.append(f"{indent}if {missing}:")
                out.append(f"{indent}    return False")
        if "dependentRequired" in schema:
            dependencies = schema["dependentRequired"]
            if not isinstance(dependencies, dict) or not all(_is_string_list(d) for d in dependencies.values()):
                raise SchemaGenError(f"{where}: dependentRequired must map names to arrays of strings")
            for name, needs in dependencies.items():
                if needs:
                    missing = " or ".join(f"{need!r} not in {var}" for need in dict.fromkeys(needs))
                    out.append(f"{indent}if {name!r} in {var} and ({missing}):")
                    out.append(f"{indent}    return False")
        for keyword, op in (("minProperties", "<"), ("maxProperties", ">")):
            if keyword in schema:
                if not _is_count(schema[keyword]):
                    raise SchemaGenError(f"{where}: {keyword} must be a non-negative integer")
                out.append(f"{indent}if len({var}) {op} {schema[keyword]!r}:")
                out.append(f"{indent}    return False")
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise SchemaGenError(f"{where}: properties must be an object")
        for name in properties:
            at = (file, (*pointer, "properties", name))
            if self.simple(at):
                item = f"{var}[{name!r}]"
                test = self.expression(fn, at, item)
                out.append(f"{indent}if {name!r} in {var} and {_negate(test)}:")
                out.append(f"{indent}    return False")
                continue
            value = fn.variable()
            block: list[str] = [f"{indent}    {value} = {var}[{name!r}]"]
            self.emit(fn, at, value, ALL_KINDS, block, indent + "    ")
            if len(block) > 1:
                out.append(f"{indent}if {name!r} in {var}:")
                out.extend(block)
        patterns = schema.get("patternProperties", {})
        if not isinstance(patterns, dict):
            raise SchemaGenError(f"{where}: patternProperties must be an object")
        for pattern in patterns:
            index = self.pattern(location, pattern)
            key, value = fn.variable("k"), fn.variable()
            block = []
            self.emit(
                fn, (file, (*pointer, "patternProperties", pattern)), value, ALL_KINDS, block, indent + "        "
            )
            if block:
                out.append(f"{indent}for {key}, {value} in {var}.items():")
                out.append(f"{indent}    if {self.search(index, key)}:")
                out.extend(block)
        if "additionalProperties" in schema:
            self.emit_additional(fn, location, schema, var, out, indent)
        if "propertyNames" in schema:
            key = fn.variable("k")
            block = []
            self.emit(fn, (file, (*pointer, "propertyNames")), key, ALL_KINDS, block, indent + "    ")
            if block:
                out.append(f"{indent}for {key} in {var}:")
                out.extend(block)

    def emit_additional(self, fn: _Function, location: Location, schema: dict[str, Any], var: str, out, indent: str):
        """jsonschema's find_additional_properties: keys not in properties, nor matching the patternProperties
        joined with |."""
        file, pointer = location
        at = (file, (*pointer, "additionalProperties"))
        key, value = fn.variable("k"), fn.variable()
        block: list[str] = []
        conditions = []
        if schema.get("properties"):
            names = "frozenset({" + ", ".join(repr(n) for n in sorted(schema["properties"])) + "})"
            conditions.append(f"{key} not in {self.constant(_location_name(location) + '__known', names)}")
        if schema.get("patternProperties"):
            joined = "|".join(schema["patternProperties"])
            conditions.append(f"not {self.search(self.pattern(location, joined), key)}")
        inner = indent + "    " * (1 + bool(conditions))
        if self.emit(fn, at, value, ALL_KINDS, block, inner) is False:
            block, always_false = [f"{inner}return False"], True  # every path returns False: no need for the value
        elif not block:
            return
        else:
            always_false = False
        if always_false and not conditions:
            out.append(f"{indent}if {var}:")
            out.append(f"{indent}    return False")
            return
        if always_false:
            out.append(f"{indent}for {key} in {var}:")
        elif conditions:
            out.append(f"{indent}for {key}, {value} in {var}.items():")
        else:
            out.append(f"{indent}for {value} in {var}.values():")
        if conditions:
            out.append(f"{indent}    if {' and '.join(conditions)}:")
        out.extend(block)

    def emit_array(self, fn: _Function, location: Location, schema: dict[str, Any], var: str, out, indent: str):
        where = _where(location)
        file, pointer = location
        _emit_length_bounds(where, schema, ("minItems", "maxItems"), var, out, indent)
        if "uniqueItems" in schema:
            if not isinstance(schema["uniqueItems"], bool):
                raise SchemaGenError(f"{where}: uniqueItems must be a boolean")
            if schema["uniqueItems"]:
                self.helpers.add("_uniq")
                out.append(f"{indent}if not _uniq({var}):")
                out.append(f"{indent}    return False")
        prefix = schema.get("prefixItems", [])
        if not isinstance(prefix, list) or ("prefixItems" in schema and not prefix):
            raise SchemaGenError(f"{where}: prefixItems must be a non-empty array")
        for index in range(len(prefix)):
            block: list[str] = []
            value = fn.variable()
            self.emit(fn, (file, (*pointer, "prefixItems", str(index))), value, ALL_KINDS, block, indent + "    ")
            if block:
                out.append(f"{indent}if len({var}) > {index}:")
                out.append(f"{indent}    {value} = {var}[{index}]")
                out.extend(block)
        if "items" in schema:
            at = (file, (*pointer, "items"))
            value = fn.variable()
            block = []
            always_false = self.emit(fn, at, value, ALL_KINDS, block, indent + "    ") is False
            if always_false:
                out.append(f"{indent}if len({var}) > {len(prefix)}:")
                out.append(f"{indent}    return False")
            elif block and prefix:
                out.append(f"{indent}for {value} in {var}[{len(prefix)}:]:")
                out.extend(block)
            elif block:
                out.append(f"{indent}for {value} in {var}:")
                out.extend(block)

    def emit_string(self, fn: _Function, location: Location, schema: dict[str, Any], var: str, out, indent: str):
        _emit_length_bounds(_where(location), schema, ("minLength", "maxLength"), var, out, indent)
        if "pattern" in schema:
            index = self.pattern(location, schema["pattern"])
            out.append(f"{indent}if not {self.search(index, var)}:")
            out.append(f"{indent}    return False")

    def emit_number(self, fn: _Function, location: Location, schema: dict[str, Any], var: str, out, indent: str):
        # jsonschema: minimum fails on instance < minimum, exclusiveMinimum on instance <= it, and so on.
        for keyword, op in (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<="), ("exclusiveMaximum", ">=")):
            if keyword in schema:
                if not _is_number(schema[keyword]) or schema[keyword] != schema[keyword]:
                    raise SchemaGenError(f"{_where(location)}: {keyword} must be a number")
                out.append(f"{indent}if {var} {op} {schema[keyword]!r}:")
                out.append(f"{indent}    return False")

    # -- the module --------------------------------------------------------------------------------------------

    def public_name(self, file: str) -> str:
        return "is_valid_" + _identifier(file.removesuffix(".json"))

    def module(self, hashes: dict[str, str]) -> str:
        self.compile_all()
        roots = [file for file in sorted(self.documents) if file.endswith("-schema.json")]
        by_name = {fn.name: fn for fn in self.functions.values()}
        reachable: set[str] = set()
        stack = [self.functions[(file, ())].name for file in roots]
        while stack:
            name = stack.pop()
            if name not in reachable:
                reachable.add(name)
                stack.extend(by_name[name].calls)
        if set(self.constants) & self.names:
            raise SchemaGenError(f"name clash: {sorted(set(self.constants) & self.names)}")
        used_constants = set()
        for fn in self.functions.values():
            if fn.name in reachable:
                text = "\n".join(fn.lines)
                used_constants |= {c for c in self.constants if re.search(rf"\b{c}\b", text)}

        lines = [
            "# GENERATED FILE - DO NOT EDIT. Generated by oci_runtime/schemagen.py from these files of schemas/:",
            *(f"#   {file}  sha256:{hashes[file]}" for file in sorted(hashes)),
            "# Regenerate with `python3 -m oci_runtime.schemagen` (pip install regenerates it at build time).",
            '"""Fast validity checks compiled from our JSON schemas: the verdict of jsonschema\'s Draft202012Validator',
            "with a strict integer type (1.0 and True are not integers), without importing jsonschema, for JSON values",
            "as json.loads returns them. No error messages: ask jsonschema why a document is not valid.",
            '"""',
            "",
            "__all__ = [" + ", ".join(repr(self.public_name(f)) for f in roots) + "]",
            "",
            "SOURCES = {",
            *(f"    {file!r}: {hashes[file]!r}," for file in sorted(hashes)),
            "}",
            '"""The sha256 of each schema file this module was generated from."""',
            "",
        ]
        for name in sorted(used_constants):
            lines.append(f"{name} = {self.constants[name]}")
        if self.patterns:
            lines += ["", "_PATTERNS = ("]
            lines += [f"    {p!r},  # {i}" for i, p in enumerate(self.patterns)]
            lines += [")"]
        pure = [(i, p) for i, p in enumerate(self.patterns) if p in PURE_PATTERNS]
        if any(p not in PURE_PATTERNS for p in self.patterns):
            lines += ["_compiled = [None] * len(_PATTERNS)", "", "", *_SEARCH]
        if pure:
            lines += ["", "", *_PURE_HELPERS]
        for i, p in pure:
            lines += ["", "", f"def _pattern_{i}(text):", f'    """re.search({p!r}, text) is not None"""',
                      f"    return {PURE_PATTERNS[p]}"]
        if "_equal" in self.helpers or "_uniq" in self.helpers:
            lines += ["", "", *_EQUAL]
        if "_uniq" in self.helpers:
            lines += ["", "", *_UNIQ]
        for file in roots:
            lines += [
                "",
                "",
                f"def {self.public_name(file)}(doc):",
                f'    """True if doc is valid under {file}."""',
                f"    return {self.functions[(file, ())].name}(doc)",
            ]
        for fn in self.functions.values():
            if fn.name in reachable:
                lines += [
                    "",
                    "",
                    f"def {fn.name}(x):",
                    f'    """{_where(fn.location)}"""',
                    *fn.lines,
                    "    return True",
                ]
        return "\n".join(lines) + "\n"


_SEARCH = [
    "def _search(index, text):",
    '    """re.search(_PATTERNS[index], text), as jsonschema\'s pattern keyword; re is imported on first use."""',
    "    compiled = _compiled[index]",
    "    if compiled is None:",
    "        import re",
    "",
    "        compiled = _compiled[index] = re.compile(_PATTERNS[index])",
    "    return compiled.search(text) is not None",
]

PURE_PATTERNS = {
    "^[rwm]*$": 'any(all(c in "rwm" for c in t) for t in _ends(text))',
    "^[1-9][0-9]*[KMG]B$": 'any(len(t) >= 3 and t[0] in "123456789" and t[-2] in "KMG" and t[-1] == "B"'
                           ' and all(c in _DIGITS for c in t[1:-2]) for t in _ends(text))',
    "^MB:[^\\n]*$": 'any(t.startswith("MB:") and "\\n" not in t for t in _ends(text))',
    "^[^\\n]*$": 'any("\\n" not in t for t in _ends(text))',
    "^[0-9, -]*$": 'any(all(c in "0123456789, -" for c in t) for t in _ends(text))',
    "^/": 'text.startswith("/")',
    "^RLIMIT_[A-Z]+$": 'any(t.startswith("RLIMIT_") and len(t) > 7 and all(c in _UPPER for c in t[7:]) for t in _ends(text))',
    "^CAP_[A-Z_]+$": 'any(t.startswith("CAP_") and len(t) > 4 and all(c in _UPPER or c == "_" for c in t[4:])'
                     ' for t in _ends(text))',
    (
        "^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)"
        "(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
        "(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$"
    ): "any(_semver(t) for t in _ends(text))",
}
"""Our schemas' regular expressions as Python expressions over `text` with the same verdict as re.search (`$`
also matches before a final newline; \\d is any Unicode decimal digit, as str.isdecimal): importing re costs ~6 ms
(re imports enum), a tenth of a `create`. tests/test_schemacheck.py compares each with re on generated strings. A
pattern not listed here is still checked, with re."""

_PURE_HELPERS = [
    '_DIGITS = "0123456789"',
    '_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"',
    '_IDENT = frozenset(_DIGITS + _UPPER + _UPPER.lower() + "-")',
    "",
    "",
    "def _ends(text):",
    '    """Where `$` (without MULTILINE) may match: at the end of text, or before a final newline."""',
    '    return (text, text[:-1]) if text.endswith("\\n") else (text,)',
    "",
    "",
    "def _number(s):",
    '    """A whole SemVer number: 0, or 1-9 then decimal digits (of any script, as re matches them)."""',
    '    return s == "0" or (len(s) > 0 and s[0] in "123456789" and all(c.isdecimal() for c in s[1:]))',
    "",
    "",
    "def _prerelease(s):",
    '    """A whole pre-release identifier: a number, or decimal digits then a letter or hyphen, then any of those."""',
    "    k = next((i for i, c in enumerate(s) if not c.isdecimal()), len(s))",
    "    return _number(s) or (k < len(s) and s[k] in _IDENT and all(c in _IDENT for c in s[k + 1:]))",
    "",
    "",
    "def _semver(t):",
    '    """SemVer 2.0.0: MAJOR.MINOR.PATCH, then -pre.release identifiers, then +build.metadata identifiers."""',
    '    rest, plus, build = t.partition("+")',
    '    if plus and not all(p and all(c in _IDENT for c in p) for p in build.split(".")):',
    "        return False",
    '    core, dash, pre = rest.partition("-")',
    '    if dash and not all(_prerelease(p) for p in pre.split(".")):',
    "        return False",
    '    parts = core.split(".")',
    "    return len(parts) == 3 and all(_number(p) for p in parts)",
]

_EQUAL = [
    "_TRUE, _FALSE = object(), object()",
    "",
    "",
    "def _unbool(value):",
    '    """jsonschema._utils.unbool: True and False stand apart from 1 and 0."""',
    "    return _TRUE if value is True else _FALSE if value is False else value",
    "",
    "",
    "def _equal(one, two):",
    '    """jsonschema._utils.equal, for JSON values (arrays are lists, objects dicts)."""',
    "    if one is two:",
    "        return True",
    "    if isinstance(one, str) or isinstance(two, str):",
    "        return one == two",
    "    if isinstance(one, list) and isinstance(two, list):",
    "        return len(one) == len(two) and all(_equal(i, j) for i, j in zip(one, two))",
    "    if isinstance(one, dict) and isinstance(two, dict):",
    "        return len(one) == len(two) and all(k in two and _equal(v, two[k]) for k, v in one.items())",
    "    return _unbool(one) == _unbool(two)",
]

_UNIQ = [
    "def _uniq(container):",
    '    """jsonschema._utils.uniq, step for step (sorting when it can, else comparing each pair)."""',
    "    try:",
    "        ordered = sorted(_unbool(i) for i in container)",
    "        for i, j in zip(ordered, ordered[1:]):",
    "            if _equal(i, j):",
    "                return False",
    "    except (NotImplementedError, TypeError):",
    "        seen = []",
    "        for e in container:",
    "            e = _unbool(e)",
    "            for i in seen:",
    "                if _equal(i, e):",
    "                    return False",
    "            seen.append(e)",
    "    return True",
]


def load_schemas(schema_dir: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The schema documents of schema_dir by file name, and the sha256 of each file."""
    documents, hashes = {}, {}
    for entry in sorted(os.listdir(schema_dir)):
        if entry.endswith(".json"):
            with open(os.path.join(schema_dir, entry), "rb") as f:
                data = f.read()
            documents[entry] = json.loads(data)
            hashes[entry] = hashlib.sha256(data).hexdigest()
    if not documents:
        raise SchemaGenError(f"{schema_dir}: no schema files")
    return documents, hashes


def generate(schema_dir: str) -> str:
    """The source of _schemacheck.py for the schemas in schema_dir."""
    documents, hashes = load_schemas(schema_dir)
    return Generator(documents).module(hashes)


def write_module(schema_dir: str, path: str) -> None:
    """Generate the module and write it to path."""
    write_atomically(path, generate(schema_dir))


def write_atomically(path: str, text: str) -> None:
    """Write a generated module (also modelgen's) so that a concurrent import never sees half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def default_schema_dir() -> str:
    """schemas/ of a source checkout, else the installed oci_runtime.schemas package."""
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(os.path.dirname(here), "schemas")
    return checkout if os.path.isdir(checkout) else os.path.join(here, "schemas")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m oci_runtime.schemagen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", default=default_schema_dir(), help="directory of the schema files")
    parser.add_argument(
        "--output",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), MODULE),
        help="where to write the module ('-' for stdout)",
    )
    args = parser.parse_args(argv)
    try:
        if args.output == "-":
            sys.stdout.write(generate(args.schemas))
        else:
            write_module(args.schemas, args.output)
    except (SchemaGenError, OSError, ValueError) as err:
        print(f"schemagen: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
