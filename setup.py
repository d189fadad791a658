"""Build hooks for `pip install`: compile the cffi syscall shim (oci_runtime/_shim_build.py), and generate
oci_runtime/_schemacheck.py, the fast schema validator, from schemas/*.json (oci_runtime/schemagen.py)."""

import importlib.util
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "schemas")
GENERATED = os.path.join("oci_runtime", "_schemacheck.py")


def _schemagen():
    """oci_runtime/schemagen.py, loaded by path: the package itself is not importable while it is being built."""
    spec = importlib.util.spec_from_file_location(
        "_oci_runtime_schemagen", os.path.join(HERE, "oci_runtime", "schemagen.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithSchemaCheck(build_py):
    """build_py, then write the generated _schemacheck.py into the build (into the source tree for an editable
    install, whose package is the source tree), so every install has a module matching its schemas."""

    def run(self):
        super().run()
        base = HERE if getattr(self, "editable_mode", False) else self.build_lib
        target = os.path.join(base, GENERATED)
        self.announce(f"generating {target} from {SCHEMAS}", level=2)
        _schemagen().write_module(SCHEMAS, target)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        generated = os.path.join(self.build_lib, GENERATED)
        return outputs if generated in outputs else [*outputs, generated]


setup(cffi_modules=["oci_runtime/_shim_build.py:ffibuilder"], cmdclass={"build_py": BuildPyWithSchemaCheck})
