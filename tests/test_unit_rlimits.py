"""Unit tests of appliers/rlimits.py: names and soft <= hard checked at create with the field named;
setrlimit calls recorded (RLIM_INFINITY as Python wants it); EPERM named."""
import resource

import pytest

from oci_runtime.appliers import rlimits
from oci_runtime.errors import ConfigError, OCIError
from oci_runtime.model import Process, Spec


def spec(*entries: dict) -> Spec:
    return Spec("1.0.0", process=Process(cwd="/", rlimits=list(entries)))


def test_every_linux_rlimit_python_knows_is_accepted() -> None:
    assert {"RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_MSGQUEUE", "RLIMIT_RTTIME"} <= set(rlimits.NAMES)
    rlimits.check(spec(*({"type": n, "soft": 1, "hard": 1} for n in rlimits.NAMES)))


def test_unknown_type_is_an_error_naming_the_entry() -> None:
    with pytest.raises(ConfigError, match=r'^config.json: process.rlimits\[1\].type: "RLIMIT_FOO" is not a '
                                          r"resource limit of Linux \(one of RLIMIT_AS, "):
        rlimits.check(spec({"type": "RLIMIT_CORE", "soft": 0, "hard": 0}, {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}))


def test_soft_above_hard_is_an_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^config.json: process.rlimits\[0\].soft: 2048 is greater than hard \(1024\)$"):
        rlimits.check(spec({"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    seen: list[tuple] = []
    monkeypatch.setattr(rlimits.resource, "setrlimit", lambda res, limits: seen.append((res, limits)))
    return seen


def test_apply_sets_each_limit_and_maps_infinity(calls: list[tuple]) -> None:
    rlimits.apply(spec({"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                       {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1}).process)
    assert calls == [(resource.RLIMIT_NOFILE, (512, 1024)), (resource.RLIMIT_CORE, (0, resource.RLIM_INFINITY))]


def test_raising_a_hard_limit_without_privilege_names_the_rlimit(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(res: int, limits: tuple) -> None:
        raise ValueError("not allowed to raise maximum limit")  # how Python reports EPERM

    monkeypatch.setattr(rlimits.resource, "setrlimit", refuse)
    with pytest.raises(OCIError, match=r"^process.rlimits\[0\]: setting RLIMIT_NPROC to soft 1, hard 9: operation "
                                       r"not permitted \(raising a hard limit needs CAP_SYS_RESOURCE\)$"):
        rlimits.apply(spec({"type": "RLIMIT_NPROC", "soft": 1, "hard": 9}).process)
