"""Unit tests of appliers/capabilities.py against a fake prctl module that plays the kernel: it
knows caps 0..40, has everything but CAP_SYS_RESOURCE in the bounding and permitted sets, and
records what is asked of it."""
import _prctl as real_prctl
import pytest

from oci_runtime import log
from oci_runtime import syscalls as sc
from oci_runtime.appliers import capabilities
from oci_runtime.model import Process, Spec

SYS_RESOURCE = capabilities.NAMES["CAP_SYS_RESOURCE"]


class FakePrctl:
    """python-prctl's C module (_prctl), as capabilities.py calls it."""

    CAP_EFFECTIVE = real_prctl.CAP_EFFECTIVE
    CAP_PERMITTED = real_prctl.CAP_PERMITTED
    CAP_INHERITABLE = real_prctl.CAP_INHERITABLE
    PR_CAPBSET_READ = real_prctl.PR_CAPBSET_READ
    PR_CAPBSET_DROP = real_prctl.PR_CAPBSET_DROP
    PR_SET_KEEPCAPS = real_prctl.PR_SET_KEEPCAPS

    def __init__(self, last_cap: int = 40) -> None:
        self.last_cap = last_cap
        self.bounding = set(range(last_cap + 1)) - {SYS_RESOURCE}
        self.permitted = set(self.bounding)
        self.calls: list[tuple] = []

    def prctl(self, option: int, arg: int) -> int:
        if option == self.PR_CAPBSET_READ:
            if arg > self.last_cap:
                raise OSError(22, "Invalid argument")
            return int(arg in self.bounding)
        if option == self.PR_CAPBSET_DROP:
            self.calls.append(("drop", arg))
            self.bounding.discard(arg)
            return 0
        assert option == self.PR_SET_KEEPCAPS, option
        self.calls.append(("keepcaps", bool(arg)))
        return 0

    def get_caps(self, effective: list[int], permitted: list[int], inheritable: list[int]) -> dict:
        assert effective == inheritable == []
        return {self.CAP_EFFECTIVE: {}, self.CAP_PERMITTED: {cap: cap in self.permitted for cap in permitted},
                self.CAP_INHERITABLE: {}}

    def set_caps(self, *lists: list[int]) -> None:
        """(effective, permitted, inheritable) to set, then the same three to clear."""
        flags = (self.CAP_EFFECTIVE, self.CAP_PERMITTED, self.CAP_INHERITABLE)
        changes = [(caps, flags[i % 3], i < 3) for i, caps in enumerate(lists)]
        assert len(changes) == 6
        self.calls.append(("set_caps", {(flag, value): sorted(caps) for caps, flag, value in changes}))


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakePrctl:
    fake = FakePrctl()
    monkeypatch.setattr(capabilities, "prctl", fake)
    return fake


@pytest.fixture
def ambient(monkeypatch: pytest.MonkeyPatch, kernel: FakePrctl) -> list[tuple]:
    """sc.prctl calls (option, arg2, arg3), also logged in kernel.calls as ("ambient", ...) for their order."""
    seen: list[tuple] = []

    def fake(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        assert arg4 == arg5 == 0
        seen.append((option, arg2, arg3))
        kernel.calls.append(("ambient", option, arg2, arg3))
        return 0

    monkeypatch.setattr(sc, "prctl", fake)
    return seen


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


def test_absent_capabilities_change_nothing(kernel: FakePrctl, warnings: list[str], ambient: list[tuple]) -> None:
    p = Process(cwd="/", args=["true"])
    capabilities.check(Spec("1.0.0", process=p))
    plan = capabilities.plan(p)
    assert plan is None
    capabilities.before_user_switch(plan)
    capabilities.after_user_switch(plan)
    assert kernel.calls == [] and warnings == [] and ambient == []


def test_plan_changes_nothing_in_the_kernel(kernel: FakePrctl, ambient: list[tuple]) -> None:
    """plan() runs before `create` reports success: it only reads our sets."""
    plan = capabilities.plan(process(bounding=["CAP_KILL"], permitted=["CAP_KILL"], ambient=["CAP_KILL"]))
    assert plan is not None and kernel.calls == [] and ambient == []


def test_bounding_set_is_shrunk_before_the_switch_with_keepcaps_on(kernel: FakePrctl) -> None:
    capabilities.before_user_switch(capabilities.plan(process(bounding=["CAP_KILL", "CAP_CHOWN", "CAP_SYS_RESOURCE"])))
    assert kernel.calls[0] == ("keepcaps", True)
    dropped = [cap for call, cap in kernel.calls[1:]]
    assert dropped == sorted(set(range(41)) - {SYS_RESOURCE} - set(caps("CAP_KILL", "CAP_CHOWN")))
    assert kernel.bounding == set(caps("CAP_KILL", "CAP_CHOWN"))


def test_sets_are_applied_exactly_after_the_switch_then_keepcaps_off(kernel: FakePrctl, warnings: list[str],
                                                                     ambient: list[tuple]) -> None:
    p = process(bounding=["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"], permitted=["CAP_KILL", "CAP_CHOWN"],
                effective=["CAP_KILL"], inheritable=["CAP_CHOWN"], ambient=[])
    plan = capabilities.plan(p)
    capabilities.before_user_switch(plan)
    kernel.calls.clear()
    capabilities.after_user_switch(plan)
    (name, changes), cleared, keepcaps = kernel.calls
    assert cleared == ("ambient", 47, 4, 0), "an empty ambient set is still cleared"
    every = set(range(41))  # every cap the kernel knows is cleared unless wanted
    assert name == "set_caps" and keepcaps == ("keepcaps", False)
    assert changes[(kernel.CAP_EFFECTIVE, True)] == caps("CAP_KILL")
    assert changes[(kernel.CAP_PERMITTED, True)] == caps("CAP_KILL", "CAP_CHOWN")
    assert changes[(kernel.CAP_INHERITABLE, True)] == caps("CAP_CHOWN")
    assert changes[(kernel.CAP_EFFECTIVE, False)] == sorted(every - set(caps("CAP_KILL")))
    assert changes[(kernel.CAP_INHERITABLE, False)] == sorted(every - set(caps("CAP_CHOWN")))
    assert warnings == []


def test_plan_is_taken_before_the_bounding_set_shrinks(kernel: FakePrctl, ambient: list[tuple]) -> None:
    """Permitted may hold caps outside bounding: the plan must not be computed from the shrunk set."""
    plan = capabilities.plan(process(bounding=["CAP_KILL"], permitted=["CAP_KILL", "CAP_CHOWN"]))
    capabilities.before_user_switch(plan)
    kernel.calls.clear()
    capabilities.after_user_switch(plan)
    assert kernel.calls[0][1][(kernel.CAP_PERMITTED, True)] == caps("CAP_KILL", "CAP_CHOWN")


def test_sets_the_kernel_would_refuse_are_left_out_with_a_warning_at_plan(kernel: FakePrctl, warnings: list[str],
                                                                          ambient: list[tuple]) -> None:
    """The warnings come from plan(), before `create` reports success (where --log still reaches the
    caller); applying the plan adds none."""
    p = process(bounding=["CAP_KILL"], permitted=["CAP_KILL"], effective=["CAP_KILL", "CAP_CHOWN"],
                inheritable=["CAP_KILL", "CAP_NET_RAW"], ambient=["CAP_CHOWN"])
    plan = capabilities.plan(p)
    assert warnings == ["process.capabilities.effective: ignoring CAP_CHOWN: not in permitted",
                        "process.capabilities.inheritable: ignoring CAP_NET_RAW: not in bounding",
                        "process.capabilities.ambient: ignoring CAP_CHOWN: not in both permitted and inheritable"]
    warnings.clear()
    capabilities.before_user_switch(plan)
    capabilities.after_user_switch(plan)
    changes = next(c for c in kernel.calls if c[0] == "set_caps")[1]
    assert changes[(kernel.CAP_EFFECTIVE, True)] == caps("CAP_KILL")
    assert changes[(kernel.CAP_INHERITABLE, True)] == caps("CAP_KILL")
    assert ambient == [(47, 4, 0)] and warnings == []


def test_ambient_capabilities_are_cleared_then_raised_after_the_other_sets(kernel: FakePrctl, warnings: list[str],
                                                                           ambient: list[tuple]) -> None:
    """prctl(PR_CAP_AMBIENT=47, PR_CAP_AMBIENT_CLEAR_ALL=4), then PR_CAP_AMBIENT_RAISE=2 per cap, after
    permitted and inheritable are set (the kernel only raises caps in both) and before keepcaps goes off."""
    p = process(bounding=["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                permitted=["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                inheritable=["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"], ambient=["CAP_NET_BIND_SERVICE", "CAP_KILL"])
    plan = capabilities.plan(p)
    capabilities.before_user_switch(plan)
    kernel.calls.clear()
    capabilities.after_user_switch(plan)
    assert ambient[0] == (47, 4, 0)
    assert sorted(ambient[1:]) == [(47, 2, capabilities.NAMES["CAP_KILL"]),
                                   (47, 2, capabilities.NAMES["CAP_NET_BIND_SERVICE"])]
    assert [c[0] for c in kernel.calls] == ["set_caps", "ambient", "ambient", "ambient", "keepcaps"]
    assert kernel.calls[-1] == ("keepcaps", False)
    assert warnings == []


def test_features_list_the_names_of_the_table() -> None:
    from oci_runtime.features import features

    assert features()["linux"]["capabilities"] == sorted(capabilities.NAMES)
