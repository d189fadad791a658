"""Unit tests of appliers/capabilities.py against a fake prctl module that plays the kernel: it
knows caps 0..40, has everything but CAP_SYS_RESOURCE in the bounding and permitted sets, and
records what is asked of it."""
import prctl as real_prctl
import pytest

from oci_runtime import log
from oci_runtime.appliers import capabilities
from oci_runtime.model import Process, Spec

SYS_RESOURCE = capabilities.NAMES["CAP_SYS_RESOURCE"]


class FakePrctl:
    CAP_EFFECTIVE = real_prctl.CAP_EFFECTIVE
    CAP_PERMITTED = real_prctl.CAP_PERMITTED
    CAP_INHERITABLE = real_prctl.CAP_INHERITABLE

    def __init__(self, last_cap: int = 40) -> None:
        self.last_cap = last_cap
        self.bounding = set(range(last_cap + 1)) - {SYS_RESOURCE}
        self.permitted = set(self.bounding)
        self.calls: list[tuple] = []

    def capbset_read(self, cap: int) -> bool:
        if cap > self.last_cap:
            raise OSError(22, "Invalid argument")
        return cap in self.bounding

    def capbset_drop(self, cap: int) -> None:
        self.calls.append(("drop", cap))
        self.bounding.discard(cap)

    def get_caps(self, *args: tuple) -> dict:
        ((caps, flag),) = args
        assert flag == self.CAP_PERMITTED
        return {flag: {cap: cap in self.permitted for cap in caps}}

    def set_caps(self, *changes: tuple) -> None:
        self.calls.append(("set_caps", {(flag, value): sorted(caps) for caps, flag, value in changes}))

    def set_keepcaps(self, value: bool) -> None:
        self.calls.append(("keepcaps", value))


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakePrctl:
    fake = FakePrctl()
    monkeypatch.setattr(capabilities, "prctl", fake)
    return fake


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(log, "warning", seen.append)
    return seen


def process(**caps: list[str]) -> Process:
    return Process(cwd="/", args=["true"], capabilities=caps)


def caps(*names: str) -> list[int]:
    return sorted(capabilities.NAMES[n] for n in names)


def test_table_matches_the_kernel_numbers_python_prctl_knows() -> None:
    for name, number in capabilities.NAMES.items():
        if hasattr(real_prctl, name):
            assert getattr(real_prctl, name) == number, name
    assert sorted(capabilities.NAMES.values()) == list(range(41))


def test_unknown_and_unavailable_names_give_one_warning_naming_them(kernel: FakePrctl, warnings: list[str]) -> None:
    p = process(bounding=["CAP_KILL", "CAP_TEST", "CAP_SYS_RESOURCE"], permitted=["CAP_TEST"])
    capabilities.check(Spec("1.0.0", process=p))
    assert warnings == ["process.capabilities: ignoring unknown or unavailable capabilities: CAP_SYS_RESOURCE, CAP_TEST"]


def test_a_name_beyond_the_running_kernel_is_unavailable(kernel: FakePrctl, warnings: list[str]) -> None:
    kernel.last_cap = 39
    capabilities.check(Spec("1.0.0", process=process(bounding=["CAP_CHECKPOINT_RESTORE", "CAP_BPF"])))
    assert warnings == ["process.capabilities: ignoring unknown or unavailable capabilities: CAP_CHECKPOINT_RESTORE"]


def test_no_warning_when_everything_can_be_granted(kernel: FakePrctl, warnings: list[str]) -> None:
    capabilities.check(Spec("1.0.0", process=process(bounding=["CAP_KILL"], permitted=["CAP_KILL"])))
    assert warnings == []


def test_absent_capabilities_change_nothing(kernel: FakePrctl, warnings: list[str]) -> None:
    p = Process(cwd="/", args=["true"])
    capabilities.check(Spec("1.0.0", process=p))
    capabilities.after_user_switch(capabilities.before_user_switch(p))
    assert kernel.calls == [] and warnings == []


def test_bounding_set_is_shrunk_before_the_switch_with_keepcaps_on(kernel: FakePrctl) -> None:
    capabilities.before_user_switch(process(bounding=["CAP_KILL", "CAP_CHOWN", "CAP_SYS_RESOURCE"]))
    assert kernel.calls[0] == ("keepcaps", True)
    dropped = [cap for call, cap in kernel.calls[1:]]
    assert dropped == sorted(set(range(41)) - {SYS_RESOURCE} - set(caps("CAP_KILL", "CAP_CHOWN")))
    assert kernel.bounding == set(caps("CAP_KILL", "CAP_CHOWN"))


def test_sets_are_applied_exactly_after_the_switch_then_keepcaps_off(kernel: FakePrctl, warnings: list[str]) -> None:
    p = process(bounding=["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"], permitted=["CAP_KILL", "CAP_CHOWN"],
                effective=["CAP_KILL"], inheritable=["CAP_CHOWN"], ambient=[])
    plan = capabilities.before_user_switch(p)
    kernel.calls.clear()
    capabilities.after_user_switch(plan)
    (name, changes), keepcaps = kernel.calls
    every = set(range(41))  # every cap the kernel knows is cleared unless wanted
    assert name == "set_caps" and keepcaps == ("keepcaps", False)
    assert changes[(kernel.CAP_EFFECTIVE, True)] == caps("CAP_KILL")
    assert changes[(kernel.CAP_PERMITTED, True)] == caps("CAP_KILL", "CAP_CHOWN")
    assert changes[(kernel.CAP_INHERITABLE, True)] == caps("CAP_CHOWN")
    assert changes[(kernel.CAP_EFFECTIVE, False)] == sorted(every - set(caps("CAP_KILL")))
    assert changes[(kernel.CAP_INHERITABLE, False)] == sorted(every - set(caps("CAP_CHOWN")))
    assert warnings == []


def test_plan_is_taken_before_the_bounding_set_shrinks(kernel: FakePrctl) -> None:
    """Permitted may hold caps outside bounding: the plan must not be computed from the shrunk set."""
    plan = capabilities.before_user_switch(process(bounding=["CAP_KILL"], permitted=["CAP_KILL", "CAP_CHOWN"]))
    kernel.calls.clear()
    capabilities.after_user_switch(plan)
    assert kernel.calls[0][1][(kernel.CAP_PERMITTED, True)] == caps("CAP_KILL", "CAP_CHOWN")


def test_sets_the_kernel_would_refuse_are_left_out_with_a_warning(kernel: FakePrctl, warnings: list[str]) -> None:
    p = process(bounding=["CAP_KILL"], permitted=["CAP_KILL"], effective=["CAP_KILL", "CAP_CHOWN"],
                inheritable=["CAP_KILL", "CAP_NET_RAW"], ambient=["CAP_CHOWN"])
    capabilities.after_user_switch(capabilities.before_user_switch(p))
    changes = next(c for c in kernel.calls if c[0] == "set_caps")[1]
    assert changes[(kernel.CAP_EFFECTIVE, True)] == caps("CAP_KILL")
    assert changes[(kernel.CAP_INHERITABLE, True)] == caps("CAP_KILL")
    assert warnings == ["process.capabilities.effective: ignoring CAP_CHOWN: not in permitted",
                        "process.capabilities.inheritable: ignoring CAP_NET_RAW: not in bounding",
                        "process.capabilities.ambient: ignoring CAP_CHOWN: not in both permitted and inheritable"]


def test_ambient_capabilities_are_reported_as_not_granted(kernel: FakePrctl, warnings: list[str]) -> None:
    """python-prctl can't raise ambient capabilities (no PR_CAP_AMBIENT): the spec's MUST-warn rule applies."""
    p = process(bounding=["CAP_KILL"], permitted=["CAP_KILL"], inheritable=["CAP_KILL"], ambient=["CAP_KILL"])
    capabilities.after_user_switch(capabilities.before_user_switch(p))
    assert warnings == ["process.capabilities.ambient: cannot raise CAP_KILL: "
                        "ambient capabilities are not supported by oci-runtime yet"]


def test_features_list_the_names_of_the_table() -> None:
    from oci_runtime.features import features

    assert features()["linux"]["capabilities"] == sorted(capabilities.NAMES)
