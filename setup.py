"""Build hook: compile the cffi syscall shim (oci_runtime/_shim_build.py) during `pip install`."""
from setuptools import setup

setup(cffi_modules=["oci_runtime/_shim_build.py:ffibuilder"])
