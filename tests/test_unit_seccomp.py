"""Unit tests of appliers/seccomp.py: the libseccomp calls a config turns into (a recording fake of
the filter), the real filter as libseccomp's pseudo filter code, and the config errors of check()."""
import errno
import json
import os
import tempfile

import prctl
import pytest

from oci_runtime import model
from oci_runtime._shim import lib
from oci_runtime.appliers import seccomp
from oci_runtime.errors import ConfigError
from oci_runtime.features import features
from oci_runtime.validate import validate_config

AF_INET, AF_INET6 = 2, 10
X86_64, X86 = 0xC000003E, 0x40000003  # AUDIT_ARCH_* tokens
ERRNO = 0x00050000
TRACE = 0x7FF00000


class Recorder:
    """Stands in for seccomp.Filter: records what build() asks libseccomp for."""

    def __init__(self, default_action: int) -> None:
        self.default = default_action
        self.archs: list[int] = []
        self.attrs: dict[int, int] = {}
        self.rules: list[tuple[int, int, list[tuple[int, int, int, int]]]] = []
        self.released = False

    def add_arch(self, token: int) -> None:
        self.archs.append(token)

    def set_attr(self, attr: int, value: int) -> None:
        self.attrs[attr] = value

    def add_rule(self, action: int, syscall: int, conds: list) -> None:
        self.rules.append((action, syscall, list(conds)))

    def release(self) -> None:
        self.released = True


def build(cfg: dict, nnp: bool = True) -> Recorder:
    return seccomp.build(cfg, nnp, Recorder)


def nr(name: str) -> int:
    return lib.seccomp_syscall_resolve_name(name.encode())


def test_default_errno_is_eperm_and_errno_ret_is_used():
    f = build({"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                            {"names": ["chmod"], "action": "SCMP_ACT_TRACE"},
                            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]})
    assert f.default == ERRNO | errno.EPERM
    assert f.rules == [(ERRNO | 38, nr("mkdir"), []), (TRACE | errno.EPERM, nr("chmod"), []),
                       (lib.SCMP_ACT_ALLOW, nr("getpid"), [])]


def test_default_errno_ret():
    assert build({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}).default == ERRNO | 38
    assert build({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 7}).default == TRACE | 7


@pytest.mark.parametrize("action, value", [
    ("SCMP_ACT_KILL", 0), ("SCMP_ACT_KILL_THREAD", 0), ("SCMP_ACT_KILL_PROCESS", 0x80000000),
    ("SCMP_ACT_TRAP", 0x00030000), ("SCMP_ACT_LOG", 0x7FFC0000), ("SCMP_ACT_ALLOW", 0x7FFF0000),
    ("SCMP_ACT_NOTIFY", 0x7FC00000)])
def test_every_action_maps_to_libseccomp_value(action, value):
    cfg = {"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock",
           "syscalls": [{"names": ["mkdir"], "action": action}]}
    assert build(cfg).rules == [(value, nr("mkdir"), [])]


@pytest.mark.parametrize("op", ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                                "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"])
def test_every_operator(op):
    cfg = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": op}]}]}
    assert build(cfg).rules == [(ERRNO | errno.EPERM, nr("personality"), [(0, getattr(lib, op), 255, 8)])]


def test_args_on_distinct_indexes_make_one_rule_and_shared_indexes_one_rule_each():
    """runc: all args in one rule (AND) unless two share an index, then a rule per arg (OR)."""
    and_args = [{"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 3, "op": "SCMP_CMP_NE"}]
    or_args = [{"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": AF_INET6, "op": "SCMP_CMP_EQ"},
               {"index": 2, "value": 0, "op": "SCMP_CMP_GT"}]
    f = build({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": and_args},
        {"names": ["socketpair"], "action": "SCMP_ACT_ERRNO", "args": or_args}]})
    eq, ne, gt = lib.SCMP_CMP_EQ, lib.SCMP_CMP_NE, lib.SCMP_CMP_GT
    assert f.rules == [
        (ERRNO | 1, nr("socket"), [(0, eq, AF_INET, 0), (1, ne, 3, 0)]),
        (ERRNO | 1, nr("socketpair"), [(0, eq, AF_INET, 0)]),
        (ERRNO | 1, nr("socketpair"), [(0, eq, AF_INET6, 0)]),
        (ERRNO | 1, nr("socketpair"), [(2, gt, 0, 0)]),
    ]


def test_unknown_syscall_names_are_skipped_as_runc_does():
    f = build({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["no_such_syscall", "getpid", "socketcall"], "action": "SCMP_ACT_ALLOW"}]})
    # socketcall is i386-only: libseccomp's negative pseudo number, kept for the other arches
    assert f.rules == [(lib.SCMP_ACT_ALLOW, nr("getpid"), []), (lib.SCMP_ACT_ALLOW, nr("socketcall"), [])]
    assert nr("socketcall") < -1


def test_a_rule_with_the_default_action_is_skipped():
    f = build({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]})
    assert f.rules == [(ERRNO | errno.EPERM, nr("chmod"), [])]


def test_architectures_flags_and_no_new_privileges():
    f = build({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
               "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]},
              nnp=False)
    assert f.archs == [X86_64, X86]
    assert f.attrs == {lib.SCMP_FLTATR_CTL_LOG: 1, lib.SCMP_FLTATR_CTL_SSB: 1, lib.SCMP_FLTATR_CTL_TSYNC: 1,
                       lib.SCMP_FLTATR_CTL_NNP: 0}
    assert build({"defaultAction": "SCMP_ACT_ALLOW"}, nnp=True).attrs == {lib.SCMP_FLTATR_CTL_NNP: 1}


def test_long_rule_sets_get_a_binary_tree():
    few = build({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}] * 32})
    many = build({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}] * 33})
    assert lib.SCMP_FLTATR_CTL_OPTIMIZE not in few.attrs and many.attrs[lib.SCMP_FLTATR_CTL_OPTIMIZE] == 2


def pfc(cfg: dict) -> str:
    flt = seccomp.build(cfg, True)
    try:
        with tempfile.TemporaryFile("w+") as out:
            flt.export_pfc(out.fileno())
            out.seek(0)
            return out.read()
    finally:
        flt.release()


def test_real_filter_as_pseudo_filter_code():
    text = pfc({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [{"names": ["mkdir", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
                             {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                              "args": [{"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"},
                                       {"index": 0, "value": AF_INET6, "op": "SCMP_CMP_EQ"}]},
                             {"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS",
                              "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}]})
    assert "filter for arch x86_64" in text and "filter for arch x86 " in text
    assert 'syscall "mkdir" (83)' in text and "no_such_syscall" not in text
    assert "if ($a0.lo32 == 2)\n        action ERRNO(97);" in text
    assert "if ($a0.lo32 == 10)\n        action ERRNO(97);" in text
    assert "if ($a0.lo32 & 0x000000ff == 8)\n        action KILL_PROCESS;" in text
    assert text.count("action ERRNO(38);") == 2  # each arch's default


def spec(seccomp_cfg: dict, **process) -> model.Spec:
    config = {"ociVersion": "1.3.0", "root": {"path": "rootfs"},
              "process": {"cwd": "/", "args": ["true"], "noNewPrivileges": True, **process},
              "linux": {"seccomp": seccomp_cfg}}
    return model.load_spec(config, "/bundle")


def check(s: model.Spec) -> None:
    """What create does with a config's profile: compile it (in the command), ConfigError if refused."""
    seccomp.compile_bpf(s)


def check_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as e:
        check(spec(cfg))
    return str(e.value)


GOOD = {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}


@pytest.mark.parametrize("cfg, message", [
    ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"},
     "config.json: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [GOOD, GOOD, GOOD, {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "config.json: linux.seccomp.syscalls[3].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a", "syscalls": [{"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]},
     "config.json: linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [GOOD, GOOD, GOOD, {"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]},
     'config.json: linux.seccomp.syscalls[3].action: "SCMP_ACT_BOGUS" is not one of SCMP_ACT_KILL'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [GOOD, {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                                             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "config.json: linux.seccomp.syscalls[1].args[0].index: 6 is not a syscall argument index (0-5)"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]},
     "config.json: linux.seccomp.syscalls[0].errnoRet: 70000 does not fit the 16 bits of a seccomp return value"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG", "errnoRet": 1}]},
     "config.json: linux.seccomp.syscalls[0].errnoRet: is only allowed with action SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_M68K"]},
     "config.json: linux.seccomp.architectures[1]: SCMP_ARCH_M68K is not supported by libseccomp 2.5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]},
     "config.json: linux.seccomp.architectures[0]: SCMP_ARCH_S390X cannot be added to the filter: its byte order"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]},
     "config.json: linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by libseccomp 2.5"),
])
def test_check_names_the_refused_field(cfg, message):
    assert check_error(cfg).startswith(message)


def test_check_accepts_every_podman_fixture_profile():
    from conftest import CLIENT_CONFIGS

    profiles = [json.loads(p.read_text()) for p in sorted(CLIENT_CONFIGS.glob("*.json"))]
    profiles = [c for c in profiles if "seccomp" in c.get("linux", {})]
    assert len(profiles) >= 5
    for config in profiles:
        validate_config(config)
        check(model.load_spec(config, "/bundle"))


def test_compile_gives_the_program_and_how_to_load_it():
    config = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["true"]}}
    assert seccomp.compile_bpf(model.load_spec(config, "/bundle")) is None
    plain = seccomp.compile_bpf(spec({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [GOOD]}, noNewPrivileges=False))
    program = bytes.fromhex(plain["program"])
    assert program and len(program) % 8 == 0  # struct sock_filter[]
    assert (plain["flags"], plain["nnp"]) == (0, False)
    logged = seccomp.compile_bpf(spec({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"] * 2}))
    assert (logged["flags"], logged["nnp"]) == (2, True), "a flag named twice is still one flag"
    notify = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
              "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    assert seccomp.compile_bpf(spec(notify))["flags"] == seccomp.FLAG_NEW_LISTENER
    unknown = {**notify, "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_NOTIFY"}]}
    assert seccomp.compile_bpf(spec(unknown))["flags"] == 0, "no rule notifies: no listener"


def test_the_compiled_program_loads_and_holds():
    """What the init does with its orders' filter (adopt, apply), in a forked child: mkdir is refused
    with the rule's errno, other syscalls pass, and NO_NEW_PRIVS was set first."""
    s = spec({"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]})
    compiled = seccomp.compile_bpf(s)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            seccomp.adopt(compiled)
            seccomp.apply(s, late=True)
            try:
                os.mkdir("/nonexistent-dir-of-the-test")
                result = "created"
            except OSError as e:
                result = str(e.errno)
            nnp = bool(prctl.get_no_new_privs())
            os.write(w, f"{result} {os.getpid() > 0} {nnp}".encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert out == "42 True True"


def test_features_entry_is_truthful():
    entry = features()["linux"]["seccomp"]
    assert entry["enabled"] is True
    assert entry["actions"] == sorted(seccomp.ACTIONS) and len(entry["actions"]) == 9
    assert entry["operators"] == sorted(seccomp.OPERATORS) and len(entry["operators"]) == 7
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"} <= set(entry["archs"])
    assert "SCMP_ARCH_M68K" not in entry["archs"]  # not in libseccomp 2.5.4
    assert "SCMP_ARCH_S390X" not in entry["archs"]  # big-endian: not beside x86_64
    assert set(entry["supportedFlags"]) <= set(entry["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in entry["supportedFlags"]
    for arch in entry["archs"]:  # every claimed arch is accepted by check()
        check(spec({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}))
    for flag in entry["supportedFlags"]:
        check(spec({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]}))


def test_compiled_filters_are_kept_by_profile_and_reused(tmp_path, monkeypatch):
    """Engines pass one profile to every container: the second compile of it is a read of the cache,
    keyed by everything the program depends on; a foreign or damaged entry is a miss, never used."""
    cache = str(tmp_path / seccomp.CACHE_DIR)
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [GOOD]}
    first = seccomp.compile_bpf(spec(profile), cache)
    [entry] = os.listdir(cache)
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"

    def no_build(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(seccomp, "build", no_build)
    assert seccomp.compile_bpf(spec(profile), cache) == first
    with pytest.raises(AssertionError, match="compiled again"):  # noNewPrivileges is part of the key
        seccomp.compile_bpf(spec(profile, noNewPrivileges=False), cache)
    monkeypatch.setattr(seccomp, "CACHE_FORMAT", seccomp.CACHE_FORMAT + 1)
    with pytest.raises(AssertionError, match="compiled again"):  # and so is the code's format
        seccomp.compile_bpf(spec(profile), cache)
    monkeypatch.undo()
    monkeypatch.setattr(seccomp, "build", no_build)
    path = os.path.join(cache, entry)
    text = open(path).read()
    foreign = text.replace('\\"nnp\\":true', '\\"nnp\\":false', 1)  # another key under this name
    assert foreign != text
    with open(path, "w") as f:
        f.write(foreign)
    with pytest.raises(AssertionError, match="compiled again"):
        seccomp.compile_bpf(spec(profile), cache)
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])  # a half-written file
    with pytest.raises(AssertionError, match="compiled again"):
        seccomp.compile_bpf(spec(profile), cache)


def test_a_full_cache_starts_over(tmp_path):
    cache = tmp_path / seccomp.CACHE_DIR
    cache.mkdir()
    for i in range(seccomp.CACHE_MAX):
        (cache / f"old{i}.json").write_text("{}")
    seccomp.compile_bpf(spec({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [GOOD]}), str(cache))
    assert len(os.listdir(cache)) == 1


def test_a_refused_profile_is_not_cached(tmp_path):
    cache = tmp_path / seccomp.CACHE_DIR
    with pytest.raises(ConfigError):
        seccomp.compile_bpf(spec({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"}), str(cache))
    assert not cache.exists() or os.listdir(cache) == []
