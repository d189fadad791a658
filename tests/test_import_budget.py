"""Hot commands stay cheap: state, start, kill, delete, list and ps never import jsonschema or attrs,
nor the stdlib modules that cost milliseconds at start-up (json -> re -> enum, signal -> enum,
typing, collections); measured with `python -X importtime` on the installed command."""
import subprocess
import sys
import tempfile

import pytest
from conftest import OCI_RUNTIME

HEAVY = ("jsonschema", "attr", "referencing", "oci_runtime.model", "oci_runtime.validate", "_cffi_backend",
         "re", "json", "enum", "signal", "typing", "collections", "inspect", "subprocess")


def imported_modules(*argv: str) -> tuple[int, set[str]]:
    """Exit code and the modules `oci-runtime ARGV` imports. Output goes to a file, not a pipe:
    a created container keeps the caller's stderr open."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run([sys.executable, "-X", "importtime", OCI_RUNTIME, *argv], stdout=subprocess.DEVNULL, cwd="/",
                              stderr=err, text=True, timeout=30)
        err.seek(0)
        lines = err.read().splitlines()
    names = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    assert proc.returncode == 0, [line for line in lines if not line.startswith("import time:")]
    return proc.returncode, names


@pytest.mark.parametrize("command", [["state", "c1"], ["start", "c1"], ["kill", "c1", "KILL"],
                                     ["delete", "--force", "c1"], ["list"], ["ps", "--format", "json", "c1"]],
                         ids=["state", "start", "kill", "delete", "list", "ps"])
def test_hot_commands_import_no_heavy_modules(runtime, bundle, command):
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    if command[0] in ("kill", "ps"):
        runtime("start", "c1", check=True)
    argv = ["--root", str(runtime.root), *command]
    code, names = imported_modules(*argv)
    assert code == 0
    assert "oci_runtime.cli" in names, "importtime output was not captured"
    assert not {n for n in names if n.split(".")[0] in HEAVY or n in HEAVY}, sorted(names)


# What create and exec may not import either: the config is checked by code generated from the schemas
# (no jsonschema, no re: schemagen.PURE_PATTERNS), modelled by classes generated from the attrs ones (no
# attrs, typing), and JSON goes through _json (no json, enum); socket, signal, subprocess are for the
# containers and commands that need them (terminals, hooks, netDevices).
CREATE_HEAVY = tuple(n for n in HEAVY if n not in ("oci_runtime.model", "oci_runtime.validate", "_cffi_backend"))


def test_create_validates_without_importing_jsonschema(runtime, bundle):
    """A valid config passes the check generated from the schemas at build time: jsonschema (~90 ms)
    is imported only to explain a rejection; the model is the generated one. Also the control: the
    measurement does see what create imports."""
    code, names = imported_modules("--root", str(runtime.root), "create", "--bundle", bundle.write(), "c2")
    assert code == 0 and "oci_runtime.validate" in names and "oci_runtime._schemacheck" in names
    assert "oci_runtime._model" in names and "oci_runtime.processes" in names
    assert not {n for n in names if n.split(".")[0] in CREATE_HEAVY or n in CREATE_HEAVY}, sorted(names)
    # config-linux.md "IntelRdt": without linux.intelRdt the runtime MUST NOT touch resctrl; it never
    # even loads the code that does (nor the netDevices mover)
    assert "oci_runtime.intelrdt" not in names and "oci_runtime.netdevices" not in names


def test_exec_imports_no_heavy_modules(runtime, bundle):
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("run", "-d", "--bundle", bundle.write(), "c3", check=True)
    code, names = imported_modules("--root", str(runtime.root), "exec", "c3", "true")
    assert code == 0 and "oci_runtime.processes" in names
    assert not {n for n in names if n.split(".")[0] in CREATE_HEAVY or n in CREATE_HEAVY}, sorted(names)


@pytest.mark.parametrize("command", [["state", "c1"], ["start", "c1"], ["list"]], ids=["state", "start", "list"])
def test_status_reads_the_freezer_without_a_cgroup_driver(runtime, bundle, command):
    """A container's status (paused or not) comes from its saved cgroup paths (cgroups.frozen): state,
    start and list load no cgroup driver, nor the sealed interpreter's module (early.py stops at the
    command's name)."""
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "c1", check=True)
    code, names = imported_modules("--root", str(runtime.root), *command)
    assert code == 0 and "oci_runtime.cgroups" in names and "oci_runtime.early" in names
    assert not names & {"oci_runtime.cgroups.v1", "oci_runtime.cgroups.v2", "oci_runtime.sealed"}, sorted(names)


def test_the_sealed_interpreter_imports_only_the_container_side():
    """The intermediate's imports are the longest branch of a create: none of the command's own modules
    (checking the config, its state, the seccomp cache's hashing, the command line, the cgroup drivers)."""
    from oci_runtime import sealed

    code = "import oci_runtime.intermediate; print(' '.join(sorted(sys.modules)))"
    names = set(subprocess.run(sealed.argv(code), capture_output=True, text=True, check=True, cwd="/").stdout.split())
    assert "oci_runtime.appliers.mounts" in names and "oci_runtime.appliers.seccomp" in names
    command_side = {"oci_runtime.validate", "oci_runtime._schemacheck", "oci_runtime.state", "oci_runtime.cli",
                    "oci_runtime.operations", "oci_runtime.cgroups", "_sha256", "hashlib"}
    assert not names & command_side, sorted(names & command_side)
    assert not {n for n in names if n.split(".")[0] in CREATE_HEAVY or n in CREATE_HEAVY}, sorted(names)
