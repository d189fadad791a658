"""conformance/coverage.py on the real conformance/requirements.toml: every entry is well formed and every test it
names exists, so renaming or removing a test that a spec requirement relies on fails here. And the checker really
fails: a broken entry in a temporary file makes it exit 1 naming that entry."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COVERAGE = REPO / "conformance" / "coverage.py"

GOOD = """
[[requirement]]
id = "config.root.readonly"
file = "config.md"
section = "Root"
level = "MUST"
text = "with readonly true, the container's / cannot be written"
tests = ["tests/test_container_appliers.py::test_readonly_root"]
"""


def coverage(*args: str) -> subprocess.CompletedProcess:
    """Run the checker as CI does (python3 conformance/coverage.py ...) from the repository root."""
    return subprocess.run([sys.executable, str(COVERAGE), *args], check=False, cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_requirements_are_well_formed_and_every_listed_test_exists() -> None:
    proc = coverage("--missing")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    total = next(line for line in proc.stdout.splitlines() if line.startswith("TOTAL"))
    assert int(total.split()[1]) >= 300, "the list covers the whole of runtime-spec v1.3.0"
    assert "Requirements without a test" in proc.stdout


def test_a_nonexistent_test_name_fails_naming_the_entry(tmp_path: Path) -> None:
    broken = GOOD + GOOD.replace('id = "config.root.readonly"', 'id = "config.root.renamed"').replace(
        "test_readonly_root", "test_readonly_root_renamed")
    path = tmp_path / "requirements.toml"
    path.write_text(broken)
    proc = coverage("--requirements", str(path))
    assert proc.returncode == 1
    assert "requirement #2 (config.root.renamed)" in proc.stderr
    assert "test_readonly_root_renamed" in proc.stderr
    assert "config.root.readonly" not in proc.stderr, "the good entry is not blamed"


@pytest.mark.parametrize("edit, says", [
    (('level = "MUST"', 'level = "MAY"'), "level 'MAY' is not one of"),
    (('section = "Root"\n', ""), "missing key 'section'"),
    (('tests = ["tests/test_container_appliers.py::test_readonly_root"]', "tests = []"),
     "needs a non-empty 'tests' list, an 'untestable' reason or a 'missing' test description"),
    (("test_container_appliers.py::", "test_no_such_file.py::"), "tests/test_no_such_file.py does not exist"),
    (("::test_readonly_root", "::test_readonly_root[ro]"), "is not a node id"),
    (('text = "', 'colour = "x"\ntext = "'), "unknown key 'colour'"),
])
def test_a_malformed_entry_fails_naming_the_problem(tmp_path: Path, edit: tuple[str, str], says: str) -> None:
    path = tmp_path / "requirements.toml"
    path.write_text(GOOD.replace(*edit))
    proc = coverage("--requirements", str(path))
    assert proc.returncode == 1
    assert "requirement #1 (config.root.readonly)" in proc.stderr and says in proc.stderr, proc.stderr


def test_a_duplicate_id_fails(tmp_path: Path) -> None:
    path = tmp_path / "requirements.toml"
    path.write_text(GOOD + GOOD)
    proc = coverage("--requirements", str(path))
    assert proc.returncode == 1
    assert "requirement #2 (config.root.readonly): id 'config.root.readonly' is already used" in proc.stderr


def test_a_good_file_passes_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "requirements.toml"
    path.write_text(GOOD)
    proc = coverage("--requirements", str(path))
    assert proc.returncode == 0, proc.stderr
    total = next(line for line in proc.stdout.splitlines() if line.startswith("TOTAL"))
    assert total.split() == ["TOTAL", "1", "1", "0", "0", "0", "0"]
