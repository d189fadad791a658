"""Unit tests of the cgroup v2 driver against a FAKE cgroupfs tree in a temp dir, and of the eBPF
device filter's encoding, run by a small interpreter of the instructions it emits.

cgroup v2 controllers (memory, cpu, io, pids, ...) are not available on this cgroup-v1 host, so
the files the driver writes are checked here; tests/test_cgroups_v2.py shows on the real cgroup2
mount what works there (processes, freezer, cgroup.kill, device filter).
"""
import re
import struct
from pathlib import Path

import pytest

from oci_runtime.cgroups import devices_bpf as bpf
from oci_runtime.cgroups.v2 import (
    V2Driver,
    blkio_weight_to_io_weight,
    cpu_shares_to_weight,
    memory_swap_to_v2,
)
from oci_runtime.errors import OCIError

CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma"
LEAF_FILES = ["cgroup.procs", "cgroup.freeze", "memory.max", "memory.low", "memory.swap.max", "cpu.weight",
              "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight",
              "io.max", "hugetlb.2MB.max", "rdma.max", "memory.high"]


def fake_cgroup(path: Path, controllers: str = CONTROLLERS, files=()) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    (path / "cgroup.subtree_control").write_text("")
    for name in files:
        (path / name).write_text("")
    return path


@pytest.fixture
def tree(tmp_path: Path):
    """root (all controllers) / oci-runtime / c1 (the container's cgroup, with its files)."""
    root = fake_cgroup(tmp_path / "cg")
    fake_cgroup(root / "oci-runtime")
    fake_cgroup(root / "oci-runtime" / "c1", files=LEAF_FILES)
    return root


@pytest.fixture
def writes(monkeypatch):
    """Every (file, value) the driver writes, in order (io.max and the like are written per line)."""
    seen = []
    real = V2Driver._write

    def record(self, name, value, field="", directory=None):
        seen.append((name, value))
        real(self, name, value, field, directory)

    monkeypatch.setattr(V2Driver, "_write", record)
    return seen


def test_runc_conversions():
    """cgroup v2 controllers are not available on this cgroup-v1 host: runc's conversion formulas."""
    assert [cpu_shares_to_weight(s) for s in (0, 1, 2, 3, 1024, 262143, 262144, 300000)] == \
        [0, 1, 1, 2, 100, 10000, 10000, 10000]
    assert [blkio_weight_to_io_weight(w) for w in (0, 10, 500, 1000)] == [0, 1, 4950, 10000]
    assert memory_swap_to_v2(0, 0) == 0
    assert memory_swap_to_v2(-1, 0) == -1
    assert memory_swap_to_v2(300, -1) == 300
    assert memory_swap_to_v2(0, -1) == -1
    assert memory_swap_to_v2(300, 200) == 100
    assert memory_swap_to_v2(200, 200) == 0
    with pytest.raises(OCIError, match="without memory limit"):
        memory_swap_to_v2(300, 0)
    with pytest.raises(OCIError, match=">= memory limit"):
        memory_swap_to_v2(100, 200)


def test_create_enables_controllers_and_records_only_new_dirs(tree: Path):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): create() enables
    every available controller in each ancestor's subtree_control and records only the dirs it made."""
    d = V2Driver("/oci-runtime/c2", str(tree))
    d.create()
    assert d.created == [str(tree / "oci-runtime" / "c2")]
    for parent in (tree, tree / "oci-runtime"):
        assert (parent / "cgroup.subtree_control").read_text() == \
            " ".join("+" + c for c in sorted(CONTROLLERS.split()))
    assert not (tree / "oci-runtime" / "c2" / "cgroup.subtree_control").exists()   # leaf untouched
    d.destroy()
    assert not (tree / "oci-runtime" / "c2").exists()
    assert (tree / "oci-runtime").is_dir()   # not ours: left alone
    assert d.to_state() == {"kind": "v2", "root": str(tree), "path": "/oci-runtime/c2", "created": []}


def test_a_cgroup_not_made_yet_has_no_processes_and_destroys_cleanly(tree: Path):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): a create killed
    after saving its state, before making the cgroup, leaves a state naming dirs that do not exist;
    delete --force reads them as empty and removes nothing."""
    d = V2Driver("/oci-runtime/c3", str(tree))
    saved = {**d.to_state(), "created": d.missing()}
    again = V2Driver(saved["path"], saved["root"])
    again.created = saved["created"]
    assert again.owned() and again.pids() == []
    again.destroy()
    assert (tree / "oci-runtime").is_dir() and not (tree / "oci-runtime" / "c3").exists()


def test_path_may_not_escape_the_mount(tree: Path):
    """cgroup v2 controllers are not available on this cgroup-v1 host: path validation only."""
    with pytest.raises(OCIError, match="cgroupsPath"):
        V2Driver("/oci-runtime/../../etc", str(tree))


def test_apply_writes_runc_values(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): the files and
    values apply() writes for a full LinuxResources."""
    d = V2Driver("/oci-runtime/c1", str(tree))
    d.apply({
        "memory": {"limit": 200 * 2**20, "reservation": 100 * 2**20, "swap": 300 * 2**20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0-1", "mems": "0",
                "idle": 0},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        "unified": {"memory.high": "150000000"},
    })
    assert writes == [
        ("pids.max", "64"),
        ("memory.swap.max", str(100 * 2**20)),
        ("memory.max", str(200 * 2**20)),
        ("memory.low", str(100 * 2**20)),
        ("io.weight", "4950"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:0 wiops=100"),
        ("cpu.idle", "0"),
        ("cpu.weight", "59"),   # runc: ceil(10^((9*9 + 125*9)/612 - 7/34))
        ("cpu.max.burst", "1000"),
        ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("hugetlb.2MB.max", "4194304"),
        ("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ("memory.high", "150000000"),
    ]
    leaf = tree / "oci-runtime" / "c1"
    assert (leaf / "memory.max").read_text() == "209715200"
    assert (leaf / "cpu.max").read_text() == "50000 100000"


def test_apply_unlimited_and_special_values(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): -1 is "max",
    pids 0 is a limit of 0 (config-linux.md; runc writes 1), quota -1 is "max" with the default
    period, swap == limit is no swap."""
    d = V2Driver("/oci-runtime/c1", str(tree))
    d.apply({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}})
    assert writes == [("pids.max", "max"), ("memory.swap.max", "max"), ("memory.max", "max"), ("cpu.max", "max 100000")]
    writes.clear()
    d.apply({"memory": {"limit": 1000, "swap": 1000}, "pids": {"limit": 0}})
    assert writes == [("pids.max", "0"), ("memory.swap.max", "0"), ("memory.max", "1000")]


def test_bfq_weight_takes_the_v1_value(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): with io.bfq.weight
    present, blockIO weights go there unconverted (per device as "MAJ:MIN weight")."""
    (tree / "oci-runtime" / "c1" / "io.bfq.weight").write_text("")
    V2Driver("/oci-runtime/c1", str(tree)).apply(
        {"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 16, "weight": 700}]}})
    assert writes == [("io.bfq.weight", "300"), ("io.bfq.weight", "8:16 700")]


def test_unavailable_controller_is_an_error_naming_field_and_controller(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree with only pids
    enabled): a memory limit is refused before anything is written, never skipped."""
    (tree / "oci-runtime" / "c1" / "cgroup.controllers").write_text("pids\n")
    d = V2Driver("/oci-runtime/c1", str(tree))
    with pytest.raises(OCIError) as e:
        d.apply({"pids": {"limit": 10}, "memory": {"limit": 1 << 30}})
    assert "linux.resources.memory.limit" in str(e.value) and "'memory'" in str(e.value)
    assert writes == []
    with pytest.raises(OCIError, match=r"linux.resources.unified.io.max: cgroup v2 controller 'io'"):
        d.apply({"unified": {"io.max": "8:0 rbps=1"}})
    with pytest.raises(OCIError, match=r"linux.resources.cpu.shares: .*'cpu'"):
        d.apply({"cpu": {"shares": 1024}})


def test_unified_refuses_paths(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): unified keys
    are file names of the cgroup, nothing else."""
    d = V2Driver("/oci-runtime/c1", str(tree))
    for key in ("../memory.max", "memory/max", "..", ""):
        with pytest.raises(OCIError, match="linux.resources.unified"):
            d.apply({"unified": {key: "1"}})
    assert writes == []


@pytest.mark.parametrize("resources, field", [
    ({"memory": {"swappiness": 10}}, "linux.resources.memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, "linux.resources.memory.disableOOMKiller"),
    ({"memory": {"kernel": 1 << 20}}, "linux.resources.memory.kernel"),
    ({"network": {"classID": 1}}, "linux.resources.network"),
    ({"network": {"priorities": [{"name": "eth0", "priority": 1}]}}, "linux.resources.network"),
    ({"blockIO": {"leafWeight": 10}}, "linux.resources.blockIO.leafWeight"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 10}]}},
     "linux.resources.blockIO.weightDevice[0].leafWeight"),
    ({"cpu": {"realtimeRuntime": 1000}}, "linux.resources.cpu.realtimeRuntime"),
])
def test_v1_settings_that_cannot_be_converted_are_errors(tree: Path, writes, resources, field):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): config-linux.md
    "Unified": a v1 setting that cannot be converted MUST be an error (runc ignores most of them)."""
    d = V2Driver("/oci-runtime/c1", str(tree))
    with pytest.raises(OCIError, match="^" + re.escape(field) + ": .*(cannot be converted|realtime)"):
        d.apply(resources)
    assert writes == []


def test_disable_oom_killer_false_needs_no_conversion(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): false is v2's
    behaviour already, so it is no error."""
    V2Driver("/oci-runtime/c1", str(tree)).apply({"memory": {"disableOOMKiller": False}})
    assert writes == []


def test_stats_shape(tree: Path):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): stats() reads
    memory/pids/cpu/io/hugetlb files into runc's `events --stats` data shape."""
    leaf = tree / "oci-runtime" / "c1"
    files = {
        "memory.current": "1000\n", "memory.max": "max\n", "memory.peak": "2000\n",
        "memory.swap.current": "10\n", "memory.swap.max": "max\n",
        "memory.stat": "anon 600\nfile 400\n",
        "pids.current": "3\n", "pids.max": "64\n",
        "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 1\nthrottled_usec 4\n",
        "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
        "hugetlb.2MB.current": "4194304\n", "hugetlb.2MB.events": "max 2\n",
    }
    for name, text in files.items():
        (leaf / name).write_text(text)
    s = V2Driver("/oci-runtime/c1", str(tree)).stats()
    assert s["cpu"] == {"usage": {"total": 5000, "kernel": 2000, "user": 3000},
                        "throttling": {"periods": 7, "throttledPeriods": 1, "throttledTime": 4000}}
    assert s["memory"]["usage"] == {"limit": 2**64 - 1, "usage": 1000, "max": 2000, "failcnt": 0}
    assert s["memory"]["swap"] == {"limit": 2**64 - 1, "usage": 1010, "failcnt": 0}
    assert s["memory"]["cache"] == 400 and s["memory"]["raw"] == {"anon": 600, "file": 400}
    assert s["pids"] == {"current": 3, "limit": 64}
    assert s["blkio"]["ioServiceBytesRecursive"] == [{"major": 8, "op": "Read", "value": 100},
                                                     {"major": 8, "op": "Write", "value": 200}]
    assert s["blkio"]["ioServicedRecursive"][1] == {"major": 8, "op": "Write", "value": 2}
    assert s["hugetlb"] == {"2MB": {"usage": 4194304, "failcnt": 2}}
    assert set(s) == {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"}


# -- eBPF device filter ----------------------------------------------------------------------


def run(program: bytes, dtype: str, major: int, minor: int, access: str) -> int:
    """Interpret the subset of eBPF the filter uses on a bpf_cgroup_dev_ctx; returns r0."""
    ctx = struct.pack("<III", bpf.DEVICE_TYPES[dtype] | (sum(bpf.ACCESS_BITS[a] for a in access) << 16), major, minor)
    regs = [0] * 11
    insns = bpf.decode(program)
    pc = 0
    for _ in range(10000):
        code, dst, src, off, imm = insns[pc]
        pc += 1
        if code == bpf.LDX_MEM_W:
            assert src == bpf.R1
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == bpf.ALU32_AND_K:
            regs[dst] = regs[dst] & (imm & 0xFFFFFFFF)
        elif code == bpf.ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == bpf.ALU32_MOV_K:
            regs[dst] = imm & 0xFFFFFFFF
        elif code == bpf.ALU32_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == bpf.JMP32_JNE_K:
            pc += off if (regs[dst] & 0xFFFFFFFF) != (imm & 0xFFFFFFFF) else 0
        elif code == bpf.JMP32_JEQ_K:
            pc += off if (regs[dst] & 0xFFFFFFFF) == (imm & 0xFFFFFFFF) else 0
        elif code == bpf.JMP_EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program did not terminate")


def program(*rules: dict) -> bytes:
    return bpf.build_program(bpf.parse_rules(list(rules)))


def test_empty_rules_deny_everything():
    """cgroup v2 controllers are not available on this cgroup-v1 host: the filter's bytes. No rule
    is the prologue (4 loads, and, shift) then r0 = 0; exit."""
    p = program()
    assert bpf.decode(p) == [
        (bpf.LDX_MEM_W, 2, 1, 0, 0), (bpf.ALU32_AND_K, 2, 0, 0, 0xFFFF),
        (bpf.LDX_MEM_W, 3, 1, 0, 0), (bpf.ALU32_RSH_K, 3, 0, 0, 16),
        (bpf.LDX_MEM_W, 4, 1, 4, 0), (bpf.LDX_MEM_W, 5, 1, 8, 0),
        (bpf.ALU32_MOV_K, 0, 0, 0, 0), (bpf.JMP_EXIT, 0, 0, 0, 0)]
    assert run(p, "c", 1, 3, "r") == 0


def test_allow_one_device_encoding_and_behaviour():
    """cgroup v2 controllers are not available on this cgroup-v1 host: `deny a; allow c 1:3 rwm`
    encodes to one block (type, major, minor checks jumping past its return) and the 'a' deny."""
    p = program({"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    body = bpf.decode(p)[6:]
    assert body == [
        (bpf.JMP32_JNE_K, 2, 0, 4, bpf.BPF_DEVCG_DEV_CHAR), (bpf.JMP32_JNE_K, 4, 0, 3, 1),
        (bpf.JMP32_JNE_K, 5, 0, 2, 3), (bpf.ALU32_MOV_K, 0, 0, 0, 1), (bpf.JMP_EXIT, 0, 0, 0, 0),
        (bpf.ALU32_MOV_K, 0, 0, 0, 0), (bpf.JMP_EXIT, 0, 0, 0, 0)]
    assert run(p, "c", 1, 3, "rw") == 1
    assert run(p, "c", 1, 5, "r") == 0
    assert run(p, "b", 1, 3, "r") == 0


def test_last_match_wins_per_access_bit():
    """cgroup v2 controllers are not available on this cgroup-v1 host: later rules override
    earlier ones, bit by bit; wildcards match any number."""
    p = program(
        {"allow": True, "type": "c", "major": 1, "access": "rwm"},          # c 1:* rwm
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"},  # but not writing 1:5
        {"allow": True, "type": "b", "minor": 0, "access": "r"},             # b *:0 r
    )
    assert run(p, "c", 1, 5, "r") == 1
    assert run(p, "c", 1, 5, "w") == 0
    assert run(p, "c", 1, 5, "rw") == 0     # one denied bit denies the request
    assert run(p, "c", 1, 7, "rwm") == 1
    assert run(p, "b", 8, 0, "r") == 1
    assert run(p, "b", 8, 0, "rw") == 0     # w never allowed
    assert run(p, "c", 2, 0, "r") == 0
    # allow after deny re-grants; bits granted by different rules combine
    p = program({"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "w"})
    assert run(p, "c", 1, 5, "rw") == 1
    assert run(p, "c", 1, 5, "m") == 0


def test_allow_all_then_deny():
    """cgroup v2 controllers are not available on this cgroup-v1 host: `allow a` (access ignored,
    as runc) then a deny is a deny-list; rules before an 'a' rule are never reached, so not emitted."""
    p = program({"allow": True, "type": "c", "major": 9, "access": "r"},
                {"allow": True, "access": "r"},
                {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "rwm"})
    assert run(p, "c", 4, 1, "rwm") == 1
    assert run(p, "b", 8, 0, "r") == 0
    assert run(p, "b", 8, 1, "r") == 1
    assert [i[4] for i in bpf.decode(p) if i[0] == bpf.JMP32_JNE_K and i[1] == 4] == [8]   # no major 9 block


def test_large_device_numbers_use_the_full_u32():
    """cgroup v2 controllers are not available on this cgroup-v1 host: numbers above 2^31 fit."""
    p = program({"allow": True, "type": "c", "major": 4000000000, "minor": 1, "access": "rwm"})
    assert run(p, "c", 4000000000, 1, "r") == 1
    assert run(p, "c", 4000000000 - 2**32 + 2**32 - 1, 1, "r") == 0


@pytest.mark.parametrize("entry, field", [
    ({"allow": True, "type": "c", "access": ""}, "access"),
    ({"allow": True, "type": "x", "access": "r"}, "type"),
    ({"allow": True, "type": "c", "access": "rx"}, "access"),
    ({"allow": True, "type": "c", "major": -2, "access": "r"}, "major"),
    ({"type": "c", "access": "r"}, "allow"),
])
def test_bad_rules_name_the_field(entry, field):
    """cgroup v2 controllers are not available on this cgroup-v1 host: rule validation only."""
    with pytest.raises(OCIError, match=rf"linux.resources.devices\[1\].{field}"):
        bpf.parse_rules([{"allow": False, "access": "rwm"}, entry])


def test_oom_kills_are_read_from_memory_events(tree: Path):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): memory.events'
    oom_kill counter is what `events` watches; no file (no memory controller) reads as 0."""
    d = V2Driver("/oci-runtime/c1", str(tree))
    assert d.oom_kills() == 0
    (tree / "oci-runtime" / "c1" / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    assert d.oom_kills() == 2


def test_check_before_update_refuses_a_limit_below_usage(tree: Path, writes):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): with
    checkBeforeUpdate, a memory limit at or below memory.current MUST be refused, memory.max untouched."""
    (tree / "oci-runtime" / "c1" / "memory.current").write_text("8192\n")
    d = V2Driver("/oci-runtime/c1", str(tree))
    with pytest.raises(OCIError, match=r"^linux.resources.memory.limit: rejecting memory limit 4096 <= usage 8192"):
        d.apply({"memory": {"limit": 4096, "checkBeforeUpdate": True}})
    assert writes == []
    d.apply({"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}})
    assert ("memory.max", str(1 << 20)) in writes


def test_delegate_gives_the_cgroup_and_the_delegatable_files_only(tree: Path, tmp_path: Path):
    """cgroup v2 controllers are not available on this cgroup-v1 host (fake tree): "Cgroup ownership"
    chowns the cgroup directory and the files /sys/kernel/cgroup/delegate lists that exist, nothing else;
    without that file, the spec's three."""
    leaf = tree / "oci-runtime" / "c1"
    for name in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "memory.max"):
        (leaf / name).touch()
    listing = tmp_path / "delegate"
    listing.write_text("cgroup.procs\ncgroup.threads\ncgroup.subtree_control\nmemory.oom.group\n")
    V2Driver("/oci-runtime/c1", str(tree)).delegate(1000, str(listing))
    owners = {p.name: p.stat().st_uid for p in leaf.iterdir()}
    assert leaf.stat().st_uid == 1000 and owners["memory.max"] == 0
    assert all(owners[n] == 1000 for n in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"))
    other = tree / "oci-runtime" / "c2"
    fake_cgroup(other, files=("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill"))
    V2Driver("/oci-runtime/c2", str(tree)).delegate(7, str(tmp_path / "absent"))
    assert {p.name: p.stat().st_uid for p in other.iterdir()} == {
        "cgroup.procs": 7, "cgroup.threads": 7, "cgroup.subtree_control": 7, "cgroup.kill": 0, "cgroup.controllers": 0}


@pytest.mark.parametrize("change, expected", [
    ({}, 1000),
    ({"ro": True}, None),
    ({"no_cgroupns": True}, None),
    ({"cgroupns_path": "/proc/1/ns/cgroup"}, None),
    ({"no_mount": True}, None),
    ({"userns": True}, 101000),
])
def test_delegation_uid_follows_the_rules(change, expected):
    """Only with a new cgroup namespace and a read-write "cgroup" mount on /sys/fs/cgroup; the
    uid is the host's for process.user.uid (through the user namespace's mapping)."""
    from oci_runtime.cgroups import delegation_uid
    from oci_runtime.model import load_spec

    config = {"ociVersion": "1.3.0", "root": {"path": "/"},
              "process": {"args": ["true"], "cwd": "/", "user": {"uid": 1000, "gid": 1000}},
              "mounts": [] if change.get("no_mount") else [
                  {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                   "options": ["nosuid", *(["ro"] if change.get("ro") else [])]}],
              "linux": {"namespaces": [{"type": "mount"}]}}
    if not change.get("no_cgroupns"):
        config["linux"]["namespaces"].append({"type": "cgroup", **({"path": change["cgroupns_path"]}
                                                                   if "cgroupns_path" in change else {})})
    if change.get("userns"):
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    assert delegation_uid(load_spec(config, "/")) == expected
