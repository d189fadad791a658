"""Check conformance/requirements.toml and report how well the tests cover runtime-spec v1.3.0.

requirements.toml lists every normative statement of the spec with the tests that assert it (or why none can, or
what a test should assert). This script keeps that list honest: it refuses malformed entries and test names that no
longer exist, so renaming or deleting a test that a requirement relies on fails CI (tests/test_conformance_coverage.py
runs it). It only reads files: no import of oci_runtime, no pytest, standard library only.

    python3 conformance/coverage.py              # validate, then print coverage by file and section
    python3 conformance/coverage.py --missing    # also list the tests still to write
Exit status: 0 when every entry is well formed and every listed test exists, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REQUIREMENTS = Path(__file__).resolve().parent / "requirements.toml"

SPEC_FILES = ("runtime.md", "runtime-linux.md", "config.md", "config-linux.md", "features.md", "features-linux.md")
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT")
REQUIRED_KEYS = ("id", "file", "section", "level", "text")
OPTIONAL_KEYS = ("tests", "untestable", "missing", "implemented", "note")
ID_PATTERN = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+")
NODE_PATTERN = re.compile(r"(tests/[A-Za-z0-9_/]+\.py)::([A-Za-z_][A-Za-z0-9_]*)(?:::([A-Za-z_][A-Za-z0-9_]*))?")


@dataclass
class Requirement:
    """One [[requirement]] entry, already checked for shape."""

    id: str
    file: str
    section: str
    level: str
    text: str
    tests: list[str] = field(default_factory=list)
    untestable: str | None = None
    missing: str | None = None
    implemented: bool = True

    @property
    def status(self) -> str:
        """tested, untestable or missing: the column the requirement counts in."""
        if self.tests:
            return "tested"
        return "untestable" if self.untestable else "missing"


class TestIndex:
    """The test functions each tests/*.py defines, found with ast (the modules are never imported)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._cache: dict[str, set[str] | None] = {}

    def names(self, path: str) -> set[str] | None:
        """'func' and 'Class::method' names of tests in repo/path, or None if the file is missing or unparsable."""
        if path not in self._cache:
            self._cache[path] = self._scan(self.repo / path)
        return self._cache[path]

    @staticmethod
    def _scan(path: Path) -> set[str] | None:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, UnicodeDecodeError):
            return None
        found: set[str] = set()
        functions = (ast.FunctionDef, ast.AsyncFunctionDef)
        for node in tree.body:
            if isinstance(node, functions):
                found.add(node.name)
            elif isinstance(node, ast.ClassDef):
                found.update(f"{node.name}::{item.name}" for item in node.body if isinstance(item, functions))
        return found

    def problem(self, node_id: str) -> str | None:
        """Why node_id does not name an existing test, or None when it does."""
        match = NODE_PATTERN.fullmatch(node_id)
        if match is None:
            return f"test {node_id!r} is not a node id of the form tests/<file>.py::<test> or ::<Class>::<test>"
        path, first, second = match.groups()
        names = self.names(path)
        if names is None:
            return f"test {node_id!r}: {path} does not exist or cannot be parsed"
        if second is None:
            if not first.startswith("test"):
                return f"test {node_id!r}: {first} is not a test function (test_...)"
            name = first
        else:
            if not (first.startswith("Test") and second.startswith("test")):
                return f"test {node_id!r}: expected ::Test<Class>::test_<name>"
            name = f"{first}::{second}"
        if name not in names:
            return f"test {node_id!r}: no {name.replace('::', '.')} in {path}"
        return None


def load(path: Path) -> list[Any]:
    """The raw [[requirement]] tables of the TOML file (SystemExit with a message if it is not valid TOML)."""
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except OSError as err:
        raise SystemExit(f"{path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SystemExit(f"{path}: invalid TOML: {err}") from None
    unknown = sorted(set(document) - {"requirement"})
    entries = document.get("requirement", [])
    if unknown or not isinstance(entries, list):
        raise SystemExit(f"{path}: expected only [[requirement]] tables, found {unknown or type(entries).__name__}")
    return entries


def check(entries: list[Any], tests: TestIndex) -> tuple[list[Requirement], list[str]]:
    """Validate every entry; returns the well-formed requirements and one message per problem found."""
    problems: list[str] = []
    requirements: list[Requirement] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries):
        where = f"requirement #{index + 1}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            where += f" ({raw['id']})"
        entry_problems = list(_shape_problems(raw))
        if not entry_problems:
            requirement = Requirement(**{k: v for k, v in raw.items() if k != "note"})
            if requirement.id in seen:
                entry_problems.append(f"id {requirement.id!r} is already used by requirement #{seen[requirement.id]}")
            seen.setdefault(requirement.id, index + 1)
            entry_problems += [p for p in map(tests.problem, requirement.tests) if p is not None]
            requirements.append(requirement)
        problems += [f"{where}: {p}" for p in entry_problems]
    return requirements, problems


def _shape_problems(raw: Any) -> Iterable[str]:
    """What is wrong with the keys and values of one entry, before any test lookup."""
    if not isinstance(raw, dict):
        yield "is not a table"
        return
    for key in REQUIRED_KEYS:
        if key not in raw:
            yield f"missing key {key!r}"
        elif not isinstance(raw[key], str) or not raw[key].strip():
            yield f"{key!r} must be a non-empty string"
    for key in sorted(set(raw) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)):
        yield f"unknown key {key!r}"
    if isinstance(raw.get("id"), str) and not ID_PATTERN.fullmatch(raw["id"]):
        yield f"id {raw['id']!r} is not dotted lower-case (e.g. config.root.path.exists)"
    if isinstance(raw.get("file"), str) and raw["file"] not in SPEC_FILES:
        yield f"file {raw['file']!r} is not one of {', '.join(SPEC_FILES)}"
    if isinstance(raw.get("level"), str) and raw["level"] not in LEVELS:
        yield f"level {raw['level']!r} is not one of {', '.join(LEVELS)}"
    if isinstance(raw.get("text"), str) and "\n" in raw["text"]:
        yield "text must be one line"
    test_list = raw.get("tests", [])
    if not isinstance(test_list, list) or not all(isinstance(t, str) for t in test_list):
        yield "'tests' must be a list of strings"
        test_list = []
    for key in ("untestable", "missing", "note"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            yield f"{key!r} must be a non-empty string"
    if "implemented" in raw:
        if not isinstance(raw["implemented"], bool):
            yield "'implemented' must be true or false"
        elif "missing" not in raw:
            yield "'implemented' needs 'missing' (the test that will show it works)"
    if "untestable" in raw and (test_list or "missing" in raw):
        yield "an untestable requirement can have neither tests nor missing"
    if not test_list and "untestable" not in raw and "missing" not in raw:
        yield "needs a non-empty 'tests' list, an 'untestable' reason or a 'missing' test description"
    if len(test_list) != len(set(test_list)):
        yield "'tests' lists a test twice"


def report(requirements: list[Requirement]) -> str:
    """The coverage table: one row per (file, section), a subtotal per file and the totals."""
    header = ("File / section", "reqs", "tested", "untestable", "missing", "gaps", "not impl")
    rows: list[tuple[str, ...]] = [header]
    by_file: dict[str, dict[str, list[Requirement]]] = {}
    for r in requirements:
        by_file.setdefault(r.file, {}).setdefault(r.section, []).append(r)
    ordered = sorted(by_file, key=lambda f: SPEC_FILES.index(f) if f in SPEC_FILES else len(SPEC_FILES))
    for spec_file in ordered:
        sections = by_file[spec_file]
        rows.append(_row(spec_file, [r for rs in sections.values() for r in rs]))
        rows += [_row(f"  {section}", rs) for section, rs in sections.items()]
    rows.append(_row("TOTAL", requirements))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                row[0].ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
            ).rstrip()
        )
        if n == 0 or n == len(rows) - 2:
            lines.append("-" * len(lines[-1]))
    tested = sum(r.status == "tested" for r in requirements)
    testable = sum(r.status != "untestable" for r in requirements)
    if testable:
        lines.append(
            f"\n{tested} of {testable} testable requirements have a test ({100 * tested / testable:.0f}%);"
            " gaps: tested, but a part is still to test; not impl: oci-runtime does not do it yet."
        )
    return "\n".join(lines)


def _row(label: str, rs: list[Requirement]) -> tuple[str, ...]:
    counts = (
        len(rs),
        sum(r.status == "tested" for r in rs),
        sum(r.status == "untestable" for r in rs),
        sum(r.status == "missing" for r in rs),
        sum(r.status == "tested" and r.missing is not None for r in rs),
        sum(not r.implemented for r in rs),
    )
    return (label, *map(str, counts))


def missing_list(requirements: list[Requirement]) -> str:
    """The tests still to write, grouped by file and section: uncovered requirements first, then the gaps."""
    lines = []
    for title, wanted in (("Requirements without a test", "missing"), ("Gaps in tested requirements", "tested")):
        chosen = [r for r in requirements if r.missing and r.status == wanted]
        lines.append(f"{title} ({len(chosen)}):")
        current: tuple[str, str] | None = None
        for r in chosen:
            if (r.file, r.section) != current:
                current = (r.file, r.section)
                lines.append(f"\n  {r.file} / {r.section}")
            flag = " [not implemented]" if not r.implemented else ""
            lines.append(f"    {r.id} ({r.level}){flag}\n      {r.missing}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Validate the requirements file, print the coverage table (and the missing tests with --missing)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--missing", action="store_true", help="list the requirements that still need a test")
    parser.add_argument(
        "--requirements",
        type=Path,
        default=DEFAULT_REQUIREMENTS,
        metavar="TOML",
        help=f"requirements file (default: {DEFAULT_REQUIREMENTS.relative_to(REPO)})",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=REPO,
        metavar="DIR",
        help="repository whose tests/ the node ids name (default: this checkout)",
    )
    args = parser.parse_args(argv)
    requirements, problems = check(load(args.requirements), TestIndex(args.repo))
    print(report(requirements))
    if args.missing:
        print()
        print(missing_list(requirements))
    if problems:
        print(f"\n{len(problems)} problem(s) in {args.requirements}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
