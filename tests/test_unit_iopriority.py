"""Unit tests of appliers/iopriority.py: without ioprio_set a configured ioPriority fails create."""
import pytest

from oci_runtime.appliers import iopriority
from oci_runtime.errors import ConfigError
from oci_runtime.model import Process, Spec


def test_io_priority_is_refused_naming_the_field() -> None:
    s = Spec("1.0.0", process=Process(cwd="/", io_priority={"class": "IOPRIO_CLASS_BE", "priority": 4}))
    with pytest.raises(ConfigError, match=r"^config.json: process.ioPriority: not supported by oci-runtime yet \(it needs ioprio_set\)$"):
        iopriority.check(s)


def test_absent_io_priority_passes() -> None:
    iopriority.check(Spec("1.0.0", process=Process(cwd="/")))
