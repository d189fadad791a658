"""Build hooks for `pip install`: compile the cffi syscall shim (oci_runtime/_shim_build.py), generate
oci_runtime/_schemacheck.py, the fast schema validator, from schemas/*.json (oci_runtime/schemagen.py), and
oci_runtime/_model.py, the attrs-free config model, from oci_runtime/modeldef.py (oci_runtime/modelgen.py)."""

import importlib.util
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "schemas")
SCHEMACHECK = os.path.join("oci_runtime", "_schemacheck.py")
MODEL = os.path.join("oci_runtime", "_model.py")


def _load(name):
    """oci_runtime/<name>.py, loaded by path: the package itself is not importable while it is being built."""
    spec = importlib.util.spec_from_file_location(f"_oci_runtime_{name}", os.path.join(HERE, "oci_runtime", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithGenerated(build_py):
    """build_py, then write the generated modules into the build (into the source tree for an editable install,
    whose package is the source tree), so every install has modules matching its schemas and model."""

    def run(self):
        super().run()
        base = HERE if getattr(self, "editable_mode", False) else self.build_lib
        self.announce(f"generating {SCHEMACHECK} from {SCHEMAS} and {MODEL} from modeldef.py", level=2)
        _load("schemagen").write_module(SCHEMAS, os.path.join(base, SCHEMACHECK))
        _load("modelgen").write_module(os.path.join(base, MODEL))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        generated = [os.path.join(self.build_lib, g) for g in (SCHEMACHECK, MODEL)]
        return [*outputs, *(g for g in generated if g not in outputs)]


setup(cffi_modules=["oci_runtime/_shim_build.py:ffibuilder"], cmdclass={"build_py": BuildPyWithGenerated})
