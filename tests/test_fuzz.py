"""oci-runtime fed hostile input (issue 8, item 3), end to end with hypothesis: config.json documents and command
lines that are valid in shape but hostile in value (huge and negative numbers, `..` and escaping paths, unknown
enum values, wrong types, deep nesting, non-UTF-8 bytes, oversized files, NaN/Infinity, duplicate keys), and
hostile container ids, signals, --pid-file and --console-socket paths.

Whatever the input, a command must end in success or in exit code 1 (255 for `exec`, as runc) with exactly one
logrus error line, valid UTF-8, no "Traceback" and no "internal error" (the CLI's label for a bug of ours); and it
must leave nothing behind: no state directory, no cgroup, no host mount, no change to a canary directory outside
the rootfs that the hostile paths aim at. A successful `create` is deleted again.

Every example runs real `oci-runtime` processes, so the example counts are modest (the file runs in ~2 minutes).
"""
import glob
import itertools
import json
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import OCI_RUNTIME, busybox_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
FEW = settings(FUZZ, max_examples=25)
MORE = settings(FUZZ, max_examples=60)

LOGRUS = re.compile(r'time="[^"]+" level=(debug|info|warning|error) msg=.*')
IDS = itertools.count()

# Placeholders, replaced in the JSON text at write time: the canary dir outside the rootfs, the rootfs, a scratch
# directory usable as a bind source, the bundle directory.
CANARY, ROOTFS, SCRATCH, BUNDLE = "@CANARY@", "@ROOTFS@", "@SCRATCH@", "@BUNDLE@"


# --- running the runtime, checking the outcome --------------------------------------------------------------------


class Outcome:
    def __init__(self, args: tuple[str, ...], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.args, self.returncode, self.stdout_bytes, self.stderr_bytes = args, returncode, stdout, stderr
        self.stderr = stderr.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"oci-runtime {' '.join(map(repr, self.args))} -> {self.returncode}: {self.stderr_bytes!r}"


def invoke(root: Path, *args: str, cwd: str | None = None, timeout: float = 30, **kw) -> Outcome:
    """Run oci-runtime, output in binary temp files (a created container keeps its stdio open)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([OCI_RUNTIME, "--root", str(root), *args], stdin=subprocess.DEVNULL, stdout=out,
                              stderr=err, cwd=cwd, timeout=timeout, check=False, **kw)
        out.seek(0)
        err.seek(0)
        return Outcome(args, proc.returncode, out.read(), err.read())


def assert_clean(outcome: Outcome, failure_codes: tuple[int, ...] = (1,)) -> None:
    """Success with no error line, or a failure code with exactly one logrus error line; UTF-8, no traceback."""
    raw = outcome.stderr_bytes
    assert b"Traceback" not in raw, f"traceback: {outcome!r}"
    assert b"internal error" not in raw, f"an internal error (a bug) was reported: {outcome!r}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"stderr is not valid UTF-8 ({e}): {outcome!r}") from None
    lines = text.splitlines()
    assert all(LOGRUS.fullmatch(line) for line in lines), f"stderr is not logrus lines: {outcome!r}"
    errors = [line for line in lines if " level=error " in line]
    if outcome.returncode == 0:
        assert errors == [], outcome
    else:
        assert outcome.returncode in failure_codes, f"exit code {outcome.returncode}: {outcome!r}"
        assert len(errors) == 1, f"expected exactly one error line: {outcome!r}"


def snapshot(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): "<dir>" if p.is_dir() else p.read_text() for p in sorted(path.rglob("*"))}


def cgroup_dirs(cid: str) -> list[str]:
    """The container's cgroup directories (default cgroupsPath), in any hierarchy."""
    return glob.glob(f"/sys/fs/cgroup/*/oci-runtime/{glob.escape(cid)}") + \
        glob.glob(f"/sys/fs/cgroup/oci-runtime/{glob.escape(cid)}")


class Arena:
    """One test's world: the state root, a bundle dir and rootfs, a canary dir outside it, a scratch dir."""

    def __init__(self, runtime, bundle, tmp_path: Path) -> None:
        self.runtime, self.bundle, self.tmp = runtime, bundle, tmp_path
        self.rootfs = Path(bundle.config["root"]["path"])
        self.canary = tmp_path / "outside" / "canary"
        self.canary.mkdir(parents=True)
        (self.canary / "host-file").write_text("host\n")
        self.scratch = tmp_path / "scratch"
        self.scratch.mkdir()
        self.canary_before = snapshot(self.canary)

    def substitute(self, text: str) -> str:
        for placeholder, value in ((CANARY, self.canary), (ROOTFS, self.rootfs), (SCRATCH, self.scratch),
                                   (BUNDLE, self.bundle.path)):
            text = text.replace(placeholder, str(value))
        return text

    def write_config(self, data: bytes) -> str:
        config = self.bundle.path / "config.json"
        if config.is_dir() and not config.is_symlink():
            config.rmdir()
        elif config.exists() or config.is_symlink():
            config.unlink()
        config.write_bytes(data)
        return str(self.bundle.path)

    def host_mounts(self) -> list[str]:
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if str(self.tmp) in line]

    def check_nothing_left(self, cid: str, outcome: Outcome | None = None) -> None:
        leaked = self.host_mounts()
        for mountpoint in sorted(leaked, key=len, reverse=True):  # clean up so that one bug doesn't cascade
            subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True)
        assert leaked == [], f"host mounts left behind: {leaked} after {outcome!r}"
        assert self.runtime.ids() == [], f"state left behind after {outcome!r}"
        root = self.runtime.root
        assert not root.exists() or os.listdir(root) == [], f"debris in --root: {os.listdir(root)} after {outcome!r}"
        if cid and "/" not in cid and cid not in (".", ".."):  # else the glob would name the shared parent
            assert cgroup_dirs(cid) == [], f"cgroups left behind: {cgroup_dirs(cid)} after {outcome!r}"
        assert snapshot(self.canary) == self.canary_before, f"the canary outside the rootfs changed after {outcome!r}"

    def create_and_clean(self, bundle_dir: str) -> Outcome:
        """create a fresh id: success (then delete it) or one clean error; nothing left behind either way."""
        cid = f"fz{next(IDS)}"
        outcome = invoke(self.runtime.root, "create", "--bundle", bundle_dir, cid)
        try:
            assert_clean(outcome)
            if outcome.returncode == 0:
                state = invoke(self.runtime.root, "state", cid)
                assert state.returncode == 0 and json.loads(state.stdout_bytes)["status"] == "created", state
                deleted = invoke(self.runtime.root, "delete", "--force", cid)
                assert deleted.returncode == 0, deleted
        finally:
            if self.runtime.ids():
                invoke(self.runtime.root, "delete", "--force", cid)
        self.check_nothing_left(cid, outcome)
        return outcome


@pytest.fixture
def arena(runtime, bundle, tmp_path):
    return Arena(runtime, bundle, tmp_path)


def wrap_deep(depth: int) -> str:
    return "[" * depth + "0" + "]" * depth


# --- strategies: hostile values -----------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**63, 2**63 - 1, 2**64, 2**64 + 1, -1, -2, -(2**31) - 1, -(2**63), -(2**63) - 1, 2**31,
                             2**32, 2**32 + 1, 10**30, 0])
NUMBERS = HUGE_INTS | st.integers() | st.sampled_from([1.0, -0.0, 0.5, 1e300, 1e308, 4294967295.0, 1e19])
ESCAPING_PATHS = st.sampled_from([
    "..", "/..", "../../../../..", "/../../../../../" + CANARY + "/x", "../" * 20 + CANARY[1:] + "/y", CANARY,
    CANARY + "/z", "/proc/self/root" + CANARY + "/w", "/proc/self/cwd/../../x", "/proc/1/root/x", "./x/../../..",
    "//" + CANARY + "//v", "/dev/../../" + CANARY + "/d", "/sys/../" + CANARY + "/s"])
ODD_STRINGS = st.sampled_from([
    "", ".", "/", "-", " ", "\n", "\t", "a\x00b", "\x00", "\ud800", "\udcff", "\ufffe", "é/ü/日本/🙂", "x" * 5000,
    "/" + "a/" * 2500, "/" + "b" * 300, "$(touch " + CANARY + "/pwned)", "`id`", "%s%n%x", "\\", ";", "*", "?",
    "bogus", "BOGUS_ENUM", "RLIMIT_BOGUS", "CAP_BOGUS", "SCMP_ACT_BOGUS", "rshared", "shared", "1.0.0", "99.0.0",
    "/dev/null", "/proc", "/sys", "/etc/passwd", "relative/path"])
STRINGS = ESCAPING_PATHS | ODD_STRINGS | st.text(max_size=24)
SCALARS = NUMBERS | STRINGS | st.none() | st.booleans()


DEEP = st.sampled_from([50, 500, 900, 990, 1000, 2000, 10000]).map(lambda depth: f"@DEEP{depth}@")  # see dump()
HOSTILE = st.recursive(SCALARS | DEEP, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(STRINGS, inner, max_size=3), max_leaves=8)

MOUNT_TYPES = st.sampled_from(["tmpfs", "bind", "proc", "sysfs", "devpts", "mqueue", "none", "", "cgroup", "cgroup2",
                               "overlay", "ext4", "nosuchfs"]) | STRINGS
MOUNT_SOURCES = st.sampled_from(["tmpfs", "none", "", "proc", "/nonexistent", BUNDLE + "/missing", "relative/missing",
                                 "/dev/null", SCRATCH, SCRATCH + "/../scratch", "\ud800", "a\x00b"])
MOUNT_OPTIONS = st.sampled_from([
    "ro", "rw", "bind", "rbind", "nosuid", "noexec", "nodev", "rprivate", "rshared", "shared", "rslave", "unbindable",
    "size=1k", "size=99999999999999999999", "mode=7777", "mode=-1", "mode=0x1ff", "uid=-1", "gid=4294967296",
    "idmap", "ridmap", "rro", "rnosuid", "nosymfollow", "tmpcopyup", "bogus", "", "=", "a=b=c", "\ud800"])
MOUNTS = st.fixed_dictionaries({
    "destination": ESCAPING_PATHS | ODD_STRINGS,
    "type": MOUNT_TYPES,
    "source": MOUNT_SOURCES,
    "options": st.lists(MOUNT_OPTIONS, max_size=4),
})
DEVICES = st.fixed_dictionaries({
    "path": ESCAPING_PATHS | st.just("/dev/fz") | ODD_STRINGS,
    "type": st.sampled_from(["c", "b", "p", "u", "x", "", "cc"]),
    "major": NUMBERS, "minor": NUMBERS,
}, optional={"fileMode": NUMBERS, "uid": NUMBERS, "gid": NUMBERS})

# Where a hostile value goes: valid-shaped configs, a few fields at a time, each mostly given a value of its own
# type (a path, a string, a number, a boolean) that is hostile in content, sometimes one of the wrong type.
# Deliberately absent: linux.sysctl (a host sysctl could really change: see test_hostile_bundles),
# linux.cgroupsPath (a cgroup holding host processes is killed on cleanup: see test_hostile_bundles), root.path
# values naming the host's / (mount points would be made on the host, which is what the bundle asks for), the
# mount namespace (its absence mounts on the host: see test_hostile_bundles), and hook paths (they run on the host).
PATH_FIELDS = [
    ("process", "cwd"), ("process", "args", 0), ("mounts", 0, "destination"), ("mounts", 1, "destination"),
    ("mounts", 5, "destination"), ("mounts", 2, "source"), ("linux", "maskedPaths", 0), ("linux", "maskedPaths", 10),
    ("linux", "readonlyPaths", 0), ("linux", "readonlyPaths", 5), ("linux", "namespaces", 1, "path"),
    ("linux", "devices", 0, "path"),
]
STRING_FIELDS = [
    ("ociVersion",), ("hostname",), ("domainname",), ("process", "env", 0), ("process", "args", 1),
    ("process", "rlimits", 0, "type"), ("process", "capabilities", "bounding", 0),
    ("process", "capabilities", "effective", 1), ("process", "apparmorProfile"), ("process", "selinuxLabel"),
    ("process", "scheduler", "policy"), ("process", "ioPriority", "class"), ("process", "execCPUAffinity", "initial"),
    ("mounts", 0, "type"), ("mounts", 1, "type"), ("mounts", 1, "options", 0), ("mounts", 4, "options", 1),
    ("linux", "namespaces", 0, "type"), ("linux", "resources", "cpu", "cpus"), ("linux", "resources", "cpu", "mems"),
    ("linux", "resources", "devices", 0, "access"), ("linux", "resources", "devices", 0, "type"),
    ("linux", "rootfsPropagation"), ("linux", "seccomp", "defaultAction"), ("linux", "personality", "domain"),
    ("linux", "mountLabel"), ("linux", "intelRdt", "closID"), ("linux", "devices", 0, "type"),
    ("annotations", "org.opencontainers.image.stopSignal"), ("annotations", "x"),
]
NUMBER_FIELDS = [
    ("process", "user", "uid"), ("process", "user", "gid"), ("process", "user", "umask"),
    ("process", "user", "additionalGids", 0), ("process", "rlimits", 0, "hard"), ("process", "rlimits", 0, "soft"),
    ("process", "consoleSize", "height"), ("process", "oomScoreAdj"), ("process", "ioPriority", "priority"),
    ("process", "scheduler", "priority"), ("process", "scheduler", "nice"),
    ("linux", "resources", "memory", "limit"), ("linux", "resources", "memory", "swap"),
    ("linux", "resources", "memory", "reservation"), ("linux", "resources", "pids", "limit"),
    ("linux", "resources", "cpu", "shares"), ("linux", "resources", "cpu", "quota"),
    ("linux", "resources", "cpu", "period"), ("linux", "resources", "blockIO", "weight"),
    ("linux", "resources", "devices", 0, "major"), ("linux", "devices", 0, "major"), ("linux", "devices", 0, "minor"),
    ("linux", "devices", 0, "fileMode"), ("linux", "timeOffsets", "monotonic", "secs"),
]
BOOL_FIELDS = [("process", "noNewPrivileges"), ("process", "terminal"), ("root", "readonly"),
               ("linux", "resources", "devices", 0, "allow")]
ANY_FIELDS = [
    ("process",), ("process", "args"), ("process", "env"), ("process", "user"), ("process", "user", "additionalGids"),
    ("process", "rlimits"), ("process", "capabilities"), ("root",), ("mounts",), ("mounts", 0), ("mounts", 1, "options"),
    ("mounts", 3, "uidMappings"), ("linux",), ("linux", "namespaces"), ("linux", "maskedPaths"),
    ("linux", "resources"), ("linux", "uidMappings"), ("linux", "devices"), ("linux", "seccomp"),
    ("linux", "resources", "hugepageLimits"), ("annotations",),
]
PATHS = ESCAPING_PATHS | ODD_STRINGS | st.text(max_size=24)
WRONG_OR = {"path": PATHS, "string": STRINGS, "number": NUMBERS, "bool": st.booleans()}


@st.composite
def field_and_value(draw) -> tuple[tuple, object]:
    kind = draw(st.sampled_from(["path", "path", "string", "string", "number", "number", "bool", "any"]))
    fields = {"path": PATH_FIELDS, "string": STRING_FIELDS, "number": NUMBER_FIELDS, "bool": BOOL_FIELDS,
              "any": ANY_FIELDS}[kind]
    field = draw(st.sampled_from(fields))
    if kind == "any" or draw(st.integers(0, 5)) == 0:  # a value of the wrong type, or any shape
        return field, draw(HOSTILE)
    return field, draw(WRONG_OR[kind])


ROOT_PATHS = st.sampled_from([".", "../rootfs", ROOTFS, ROOTFS + "/", ROOTFS + "/.", "/../../../.." + ROOTFS,
                              ROOTFS + "/../rootfs", "/nonexistent", "/dev/null", "", "x" * 5000, "a\x00b", "\ud800",
                              CANARY + "/host-file", "rootfs/../../rootfs"]) | st.integers() | st.none()


def put(doc: object, path: tuple, value: object) -> None:
    """Set doc[path...] = value, making missing dicts/lists (lists are padded with {})."""
    for i, key in enumerate(path[:-1]):
        want = [] if isinstance(path[i + 1], int) else {}
        if isinstance(doc, list):
            while len(doc) <= key:
                doc.append({})
            if not isinstance(doc[key], type(want)):
                doc[key] = want
        else:
            if not isinstance(doc.get(key), type(want)):
                doc[key] = want
        doc = doc[key]
    last = path[-1]
    if isinstance(doc, list):
        while len(doc) <= last:
            doc.append({})
    doc[last] = value


@st.composite
def hostile_configs(draw) -> dict:
    config = busybox_config("true")
    config["root"]["path"] = ROOTFS
    for path, value in draw(st.lists(field_and_value(), min_size=1, max_size=2)):
        put(config, path, value)
    extra = draw(st.sampled_from(["none", "none", "root.path", "mount", "mount", "devices"]))
    if extra == "root.path":
        put(config, ("root", "path"), draw(ROOT_PATHS))
    elif extra == "mount" and isinstance(config.get("mounts"), list):
        config["mounts"].append(draw(MOUNTS))
    elif extra == "devices":
        put(config, ("linux", "devices"), draw(st.lists(DEVICES, min_size=1, max_size=2)))
    keep_mount_namespace(config)
    return config


def dump(config: object) -> bytes:
    """JSON text as Python writes it (lone surrogates become \\udXXX escapes: valid JSON text), with each "@DEEPn@"
    string replaced by arrays nested n deep (json.dumps itself cannot write those)."""
    text = json.dumps(config)
    return re.sub(r'"@DEEP(\d+)@"', lambda m: wrap_deep(int(m.group(1))), text).encode()


def keep_mount_namespace(config: dict) -> None:
    """Put the mount namespace back if a mutation dropped it from a list that is otherwise usable: without one,
    every mount is made on the host, a known bug with a test of its own (test_hostile_bundles), which would
    otherwise be all this fuzzer finds."""
    linux = config.get("linux")
    if isinstance(linux, dict) and "namespaces" not in linux:
        linux["namespaces"] = [{"type": "mount"}]
    elif (isinstance(linux, dict) and isinstance(linux["namespaces"], list)
          and not any(isinstance(n, dict) and n.get("type") == "mount" for n in linux["namespaces"])):
        linux["namespaces"].append({"type": "mount"})


# --- config.json fuzz ---------------------------------------------------------------------------------------------


@MORE
@given(config=hostile_configs())
def test_hostile_config_values(arena, config):
    """Valid-shaped configs with hostile values (see PATH_FIELDS and the rest): create succeeds (then delete) or fails cleanly; no
    traceback, no state, cgroup or mount left, the canary outside the rootfs unchanged."""
    arena.create_and_clean(arena.write_config(arena.substitute(dump(config).decode()).encode()))


@st.composite
def mangled_config_text(draw) -> bytes:
    """The valid demo config's JSON text with a few bytes inserted, deleted or replaced (including non-UTF-8 bytes
    and JSON-significant characters)."""
    config = busybox_config("true")
    config["root"]["path"] = ROOTFS
    data = bytearray(json.dumps(config, indent=1).encode())
    junk = st.binary(min_size=1, max_size=4) | st.sampled_from(
        [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u",
         b"\\ud800", b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0", b"null", b"//", b"\xef\xbb\xbf"])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(junk)
        if action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at:at + len(piece)]
        else:
            data[at:at + len(piece)] = piece
    return bytes(data)


@FUZZ
@given(data=mangled_config_text())
def test_mangled_config_text(arena, data):
    """The demo config.json with random byte-level damage: create succeeds or fails cleanly, leaving nothing."""
    arena.create_and_clean(arena.write_config(arena.substitute(data.decode("latin-1")).encode("latin-1")))


@FEW
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_as_config(arena, data):
    """Random bytes as config.json: a clean refusal (it is not a config), nothing left."""
    outcome = arena.create_and_clean(arena.write_config(data))
    assert outcome.returncode == 1


def valid_text(**extra: object) -> str:
    config = busybox_config("true")
    config["root"]["path"] = ROOTFS
    config.update(extra)
    return json.dumps(config)


def deep_text(where: tuple, depth: int) -> bytes:
    """The valid config with an extra field "x-deep" (at `where`) holding arrays nested `depth` deep."""
    config = busybox_config("true")
    config["root"]["path"] = ROOTFS
    put(config, (*where, "x-deep"), f"@DEEP{depth}@")
    return dump(config)


BIG = 20 * 1024 * 1024
WHOLE_DOCUMENTS = {
    "empty": b"",
    "whitespace": b" \n\t ",
    "null": b"null",
    "array": b"[]",
    "string": b'"config"',
    "number": b"42",
    "empty-object": b"{}",
    "truncated": valid_text()[:-7].encode(),
    "trailing-garbage": (valid_text() + "}{").encode(),
    "two-documents": (valid_text() + valid_text()).encode(),
    "nested-arrays-10000": wrap_deep(10000).encode(),
    "nested-arrays-100000": wrap_deep(100000).encode(),
    "nested-objects-10000": ('{"a":' * 10000 + "0" + "}" * 10000).encode(),
    "deep-annotation-value-990": deep_text(("annotations",), 990),
    "deep-annotation-value-5000": deep_text(("annotations",), 5000),
    "deep-unknown-field-995": deep_text((), 995),
    "deep-in-linux-994": deep_text(("linux",), 994),
    "deep-in-mount-options-993": deep_text(("mounts", 0), 993),
    "deep-in-process-user-992": deep_text(("process", "user"), 992),
    "utf8-bom": b"\xef\xbb\xbf" + valid_text().encode(),
    "utf16": valid_text().encode("utf-16"),
    "latin1-hostname": valid_text(hostname="caf\xe9").encode("latin-1"),
    "invalid-utf8-in-string": valid_text(hostname="@H@").encode().replace(b"@H@", b"\xff\xfe"),
    "overlong-utf8": valid_text(hostname="@H@").encode().replace(b"@H@", b"\xc0\xaf"),
    "encoded-surrogate": valid_text(hostname="@H@").encode().replace(b"@H@", b"\xed\xa0\x80"),
    "nul-byte": valid_text().encode().replace(b'"true"', b'"tr\x00ue"'),
    "escaped-nul-in-arg": valid_text().encode().replace(b'"true"', b'"tr\\u0000ue"'),
    "lone-surrogate-escape-hostname": valid_text().encode().replace(b'"hostname": "oci-demo"',
                                                                    b'"hostname": "\\ud800"'),
    "lone-surrogate-escape-key": valid_text().encode().replace(b'"hostname"', b'"\\udfff"'),
    "raw-control-char": valid_text().encode().replace(b'"oci-demo"', b'"oci\x01demo"'),
    "nan": valid_text().encode().replace(b'"hard": 1024', b'"hard": NaN'),
    "infinity": valid_text().encode().replace(b'"hard": 1024', b'"hard": Infinity'),
    "minus-infinity": valid_text().encode().replace(b'"soft": 1024', b'"soft": -Infinity'),
    "float-overflow": valid_text().encode().replace(b'"uid": 0', b'"uid": 1e999'),
    "integral-float-uid": valid_text().encode().replace(b'"uid": 0', b'"uid": 1.0'),
    "exponent-uid": valid_text().encode().replace(b'"uid": 0', b'"uid": 1e3'),
    "huge-int-literal": valid_text().encode().replace(b'"uid": 0', b'"uid": ' + b"9" * 5000),
    "duplicate-keys-valid-last": valid_text().encode().replace(b'"hostname": "oci-demo"',
                                                               b'"hostname": 5, "hostname": "oci-demo"'),
    "duplicate-keys-invalid-last": valid_text().encode().replace(b'"hostname": "oci-demo"',
                                                                 b'"hostname": "oci-demo", "hostname": 5'),
    "duplicate-process": valid_text().encode()[:-1] + b', "process": {"args": ["true"], "cwd": "relative"}}',
    "single-quotes": valid_text().replace('"', "'").encode(),
    "comments": b"// a comment\n" + valid_text().encode(),
    "20MiB-annotation": valid_text()[:-1].encode() + b', "annotations": {"x": "' + b"a" * BIG + b'"}}',
    "20MiB-whitespace": valid_text().encode() + b" " * BIG,
    "just-under-16MiB": valid_text()[:-1].encode() + b', "annotations": {"x": "' + b"a" * (15 * 1024 * 1024) + b'"}}',
    "cwd-of-1000-components": valid_text(process={"args": ["true"], "cwd": "/" + "a/" * 1000}).encode(),
    "cwd-component-longer-than-NAME_MAX": valid_text(process={"args": ["true"], "cwd": "/" + "b" * 300}).encode(),
    "cwd-longer-than-PATH_MAX": valid_text(process={"args": ["true"], "cwd": "/" + "c/" * 2100}).encode(),
    "many-mounts": valid_text(mounts=[{"destination": f"/m{i}", "type": "tmpfs", "source": "tmpfs"}
                                      for i in range(300)]).encode(),
    "many-env": valid_text(process={"args": ["true"], "cwd": "/", "env": ["A=" + "b" * 100] * 50000}).encode(),
}


@pytest.mark.parametrize("name", list(WHOLE_DOCUMENTS))
def test_hostile_whole_documents(arena, name):
    """Hand-picked hostile config.json files (deep nesting towards RecursionError, non-UTF-8, a 20 MiB file, NaN,
    duplicate keys, ...): create succeeds (then delete) or fails cleanly, nothing left behind."""
    data = WHOLE_DOCUMENTS[name].replace(ROOTFS.encode(), str(arena.rootfs).encode())
    arena.create_and_clean(arena.write_config(data))


# --- command-line fuzz --------------------------------------------------------------------------------------------


def argv_text(**kwargs) -> st.SearchStrategy[str]:
    """Text that can be a command-line argument: no NUL, and bytes behind it (a lone surrogate other
    than the \udc80-\udcff of undecodable bytes has none: no caller could pass it)."""
    def passable(text: str) -> bool:
        try:
            os.fsencode(text)
        except UnicodeEncodeError:
            return False
        return "\x00" not in text

    return st.text(**kwargs).filter(passable)


CONTAINER_IDS = st.sampled_from([
    "", ".", "..", "/", "a/b", "../x", "-", "-x", "--", "a b", "a\nb", "é", "🙂", "x" * 200, "x" * 240, "x" * 250,
    "x" * 256, "x" * 5000, "a" * 100 + "." * 100, ".hidden", "a..b", "+", "_", "a\tb", "\udcff", "con", "state.json",
]) | argv_text(min_size=0, max_size=40)


def sleeper(arena: Arena) -> str:
    arena.bundle.config["process"]["args"] = ["sleep", "1000"]
    return arena.bundle.write()


@FUZZ
@given(cid=CONTAINER_IDS)
def test_container_ids(arena, cid):
    """Hostile container ids for create (then state, kill, delete): clean success or one-line refusal each, and no
    state directory left, whatever the id (`/`, `..`, 5000 characters, unicode)."""
    path = sleeper(arena)
    created = invoke(arena.runtime.root, "create", "--bundle", path, "--", cid)
    try:
        assert_clean(created)
        for args in (("state", "--", cid), ("kill", "--", cid, "KILL"), ("delete", "--force", "--", cid),
                     ("state", "--", cid)):
            outcome = invoke(arena.runtime.root, *args)
            assert_clean(outcome)
    finally:
        if arena.runtime.ids():
            for name in arena.runtime.ids():
                invoke(arena.runtime.root, "delete", "--force", name)
    arena.check_nothing_left(cid, created)


def ensure_running(arena: Arena, cid: str) -> None:
    """A running sleeper named cid (recreated if an earlier example killed it)."""
    root = arena.runtime.root
    state = invoke(root, "state", cid)
    if state.returncode == 0 and json.loads(state.stdout_bytes)["status"] == "running":
        return
    invoke(root, "delete", "--force", cid)
    assert invoke(root, "create", "--bundle", sleeper(arena), cid).returncode == 0
    assert invoke(root, "start", cid).returncode == 0


SIGNALS = st.sampled_from([
    "KILL", "SIGKILL", "kill", "9", "0", "64", "65", "-1", "+3", "1e3", "0x9", " 9", "9 ", "", "SIG", "SIGRTMIN",
    "RTMIN+3", "SIGRTMAX-1", "SIGBOGUS", "99999999999999999999", "4294967297", "\u0663", "\u00b2", "\uff19", "QUIT",
    "SIGSTOP", "CONT", "WINCH", "sigusr1", "USR2",
]) | st.integers(-5, 70).map(str) | argv_text(max_size=12)


@FUZZ
@given(sigs=st.lists(SIGNALS, min_size=1, max_size=4))
def test_kill_signals(arena, sigs):
    """Hostile signal names and numbers for `kill` on a running container: each exits 0 or 1 with one clean line.
    (The container is namespace init: signals it has no handler for are dropped, so it mostly survives.)"""
    root = arena.runtime.root
    ensure_running(arena, "fzk")
    for sig in sigs:
        for all_flag in ((), ("--all",)):
            assert_clean(invoke(root, "kill", *all_flag, "--", "fzk", sig))
    invoke(root, "kill", "fzk", "CONT")  # after a SIGSTOP, let delete --force reap it promptly


def test_kill_refuses_non_ascii_digit_signals(arena):
    """`kill <id> \u0663` (ARABIC-INDIC DIGIT THREE), superscript or fullwidth digits: runc's strconv.Atoi takes
    ASCII digits only and answers `unknown signal`; none may be taken as a signal number."""
    ensure_running(arena, "fzk")
    for text in ("\u0663", "\u00b3", "\uff13"):  # ٣, superscript three, fullwidth three
        outcome = invoke(arena.runtime.root, "kill", "fzk", text)
        assert_clean(outcome)
        assert outcome.returncode == 1 and "unknown signal" in outcome.stderr, outcome


# Relative (to the scratch dir, the runtime's cwd) or below it: a pid file replaces its target by rename, as runc's
# does, so /dev/null or / are never offered.
PID_FILES = st.sampled_from([
    "pid", "./pid", "sub/pid", "missing-dir/pid", "/nonexistent-dir/pid", "", ".", "..", SCRATCH, SCRATCH + "/",
    SCRATCH + "/pid", SCRATCH + "/../scratch/pid2", "x" * 300, SCRATCH + "/" + "y" * 300, "\udcff", "é/pid", "pid\n",
    "console-directory", "-", "--", "pid with spaces",
]) | argv_text(alphabet=st.characters(blacklist_characters="/\x00"), min_size=1, max_size=16)


@FEW
@given(pid_file=PID_FILES, run=st.booleans())
def test_pid_file_paths(arena, pid_file, run):
    """Hostile --pid-file paths (missing directories, existing directories, relative, /dev/full, too long) for
    create/run --detach: success with the pid written, or one clean error and no container left behind."""
    pid_file = arena.substitute(pid_file)
    cid = f"fz{next(IDS)}"
    command = ("run", "--detach") if run else ("create",)
    outcome = invoke(arena.runtime.root, *command, "--pid-file", pid_file, "--bundle", sleeper(arena), cid,
                     cwd=str(arena.scratch))
    try:
        assert_clean(outcome)
        if outcome.returncode == 0 and pid_file:
            state = json.loads(invoke(arena.runtime.root, "state", cid).stdout_bytes)
            written = Path(os.fsdecode(os.path.join(os.fsencode(arena.scratch), os.fsencode(pid_file))))
            assert written.read_text() == str(state["pid"]), outcome
    finally:
        invoke(arena.runtime.root, "delete", "--force", cid)
    arena.check_nothing_left(cid, outcome)


@FEW
@given(which=st.sampled_from(["missing", "directory", "regular-file", "fifo", "dgram-socket", "relative-missing",
                              "too-long", "empty", "dev-null", "listening-socket"]),
       terminal=st.booleans())
def test_console_socket_paths(arena, which, terminal):
    """Hostile --console-socket paths (missing, not a socket, a FIFO, a datagram socket, a socket nobody accepts on)
    with process.terminal true or false: success or one clean error, no hang, nothing left behind."""
    target = arena.scratch / f"console-{which}"
    holders = []
    if which == "directory":
        target.mkdir(exist_ok=True)
    elif which == "regular-file":
        target.write_text("")
    elif which == "fifo" and not target.exists():
        os.mkfifo(target)
    elif which in ("dgram-socket", "listening-socket"):
        kind = socket.SOCK_DGRAM if which == "dgram-socket" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_UNIX, kind)
        if target.exists():
            target.unlink()
        s.bind(str(target))
        if which == "listening-socket":
            s.listen(1)  # never accepts: the runtime's connect succeeds, its send goes to the backlog
        holders.append(s)
    path = {"relative-missing": "no/such/sock", "too-long": "/tmp/" + "s" * 200, "empty": "",
            "dev-null": "/dev/null"}.get(which, str(target))
    arena.bundle.config["process"]["terminal"] = terminal
    cid = f"fz{next(IDS)}"
    try:
        outcome = invoke(arena.runtime.root, "create", "--console-socket", path, "--bundle", sleeper(arena), cid,
                         cwd=str(arena.scratch), timeout=20)
    finally:
        for s in holders:
            s.close()
    try:
        assert_clean(outcome)
    finally:
        invoke(arena.runtime.root, "delete", "--force", cid)
    arena.check_nothing_left(cid, outcome)


def argv_safe(text: str) -> bool:
    """What can be put in an argv at all: no NUL, and no surrogate outside surrogateescape's range."""
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


EXEC_ARGS = st.lists(STRINGS.filter(argv_safe), min_size=1, max_size=3)


@FEW
@given(argv=EXEC_ARGS, cwd=st.none() | ESCAPING_PATHS | ODD_STRINGS.filter(argv_safe),
       user=st.none() | st.sampled_from(["0", "1000:1000", "-1", "4294967296", "a:b", ":", "0:", "99999999999999999999",
                                         "\u0663"]),
       env=st.lists(st.sampled_from(["A=1", "=", "", "NOEQUALS", "PATH=", "X=\udcff", "é=1"]), max_size=2))
def test_exec_arguments(arena, argv, cwd, user, env):
    """Hostile `exec` command lines (argv[0] missing or odd, --cwd escaping, --user out of range, odd --env) on a
    running container: exit 0 (or the program's status), 1 or 255 with one clean line; no process left over."""
    root = arena.runtime.root
    ensure_running(arena, "fze")
    flags = []
    if cwd is not None:
        flags += ["--cwd", arena.substitute(cwd)]
    if user is not None:
        flags += ["--user", user]
    for e in env:
        flags += ["--env", e]
    outcome = invoke(root, "exec", *flags, "--", "fze", *[arena.substitute(a) for a in argv], timeout=20)
    if outcome.returncode not in (0, 1, 255) and b"level=error" not in outcome.stderr_bytes:
        return  # the program itself ran and exited with its own status (e.g. 126/127 from a shell): fine
    assert_clean(outcome, failure_codes=(1, 255))
    assert snapshot(arena.canary) == arena.canary_before


LOOKALIKE = ".a.creating.999999999"  # a valid id (runc: [\\w+\\-\\.]+) shaped like a half-made create of "a"


def create_lookalike(arena: Arena) -> int | None:
    """Create container LOOKALIKE; its init's pid, or None if the runtime refuses such an id (a valid choice)."""
    created = invoke(arena.runtime.root, "create", "--bundle", sleeper(arena), LOOKALIKE)
    assert_clean(created)
    if created.returncode != 0:
        return None
    return json.loads(invoke(arena.runtime.root, "state", LOOKALIKE).stdout_bytes)["pid"]


def remove_lookalike(arena: Arena, pid: int) -> None:
    """Delete it, and if the runtime lost track of it, kill its init and remove its cgroups by hand."""
    invoke(arena.runtime.root, "delete", "--force", LOOKALIKE)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, 9)
    for attempt in range(50):
        left = cgroup_dirs(LOOKALIKE)
        for d in left:
            try:
                os.rmdir(d)
            except OSError:
                pass
        if not cgroup_dirs(LOOKALIKE):
            break
        time.sleep(0.05)


def test_an_id_starting_with_a_dot_is_listed(arena):
    """Container ids may start with "." (runc lists every container); `list` must show it like any other."""
    pid = create_lookalike(arena)
    if pid is None:
        return
    try:
        listed = invoke(arena.runtime.root, "list", "--quiet")
        assert LOOKALIKE in listed.stdout_bytes.decode().split(), f"`list` hides container {LOOKALIKE!r}"
    finally:
        remove_lookalike(arena, pid)


def test_delete_force_of_one_id_never_removes_another_container(arena):
    """The runtime names its half-made directories ".<id>.creating.<pid>" and `delete --force <id>` removes such
    leftovers whose pid is dead. A real container whose id has that shape (".a.creating.999999999") must survive
    `delete --force a`: else its state goes while its init runs on, unmanaged, in a cgroup nobody removes."""
    pid = create_lookalike(arena)
    if pid is None:
        return
    try:
        assert_clean(invoke(arena.runtime.root, "delete", "--force", "a"))  # "a" does not exist
        state = invoke(arena.runtime.root, "state", LOOKALIKE)
        assert state.returncode == 0, f"delete --force a removed container {LOOKALIKE!r}: {state!r}"
    finally:
        remove_lookalike(arena, pid)


@pytest.mark.parametrize("what", ["cwd", "argv0"])
def test_exec_with_a_very_long_value_fails_cleanly(arena, what):
    """`exec --cwd /a/a/...` (2000 characters) or an argv[0] of 5000 characters: exit 255 with one clean line
    (runc: `exec failed: ...`), whatever the length of the message that names the value."""
    ensure_running(arena, "fze")
    args = ["--cwd", "/" + "a/" * 1000, "fze", "true"] if what == "cwd" else ["fze", "x" * 5000]
    outcome = invoke(arena.runtime.root, "exec", *args)
    assert outcome.returncode == 255
    assert_clean(outcome, failure_codes=(255,))
