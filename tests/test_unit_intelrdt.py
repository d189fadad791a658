"""IntelRdt (oci_runtime/intelrdt.py), one test per config-linux.intel_rdt.* requirement (named in each docstring).

This host has no resctrl filesystem (no CPU support, nothing in /proc/self/mountinfo), so apart from the test that
relies on exactly that, these run against a fake resctrl tree in tmp_path: plain directories and files laid out
as the kernel lays them out. Two things a plain directory does differently are emulated by swapping the module's
_mkdir/_rmdir (FakeResctrl.mkdir/rmdir): a new group gets its files (schemata, tasks, mon_groups/), and rmdir
removes a group with its files. Every other operation (reads, writes, failures) is the real one on the fake tree.
"""
import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from oci_runtime import intelrdt
from oci_runtime.errors import OCIError
from oci_runtime.intelrdt import IntelRdt, find_mount

# What the kernel prints for a group on a 2-socket host: every resource, names right-aligned, values zero-padded to
# the mask's width (11-bit L3 CBM: 3 hex digits; MB: 3 decimal digits).
DEFAULT = "    L2:0=ff;1=ff\n    L3:0=7ff;1=7ff\n    MB:0=100;1=100\n"


class FakeResctrl:
    """A resctrl mount at `root`: info/, the root group's schemata, tasks and mon_groups/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.monitoring = True  # False: a host without monitoring (new groups get no mon_groups/)
        self.made: list[str] = []
        self.removed: list[str] = []
        for name, text in {"L2/cbm_mask": "ff\n", "L3/cbm_mask": "7ff\n", "MB/bandwidth_gran": "10\n",
                           "MB/min_bandwidth": "10\n", "last_cmd_status": "ok\n"}.items():
            (root / "info" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "info" / name).write_text(text)
        (root / "schemata").write_text(DEFAULT)
        (root / "tasks").write_text("1\n2\n")
        (root / "mon_groups").mkdir()

    def mkdir(self, path: str) -> None:
        """The kernel's mkdir: a CTRL_MON group comes with schemata (the defaults), tasks and mon_groups/; a MON
        group with tasks."""
        os.mkdir(path)
        self.made.append(path)
        p = Path(path)
        (p / "tasks").write_text("")
        if p.parent.name != "mon_groups":
            (p / "schemata").write_text(DEFAULT)
            os.utime(p / "schemata", ns=(0, 0))
            if self.monitoring:
                (p / "mon_groups").mkdir()

    def rmdir(self, path: str) -> None:
        """The kernel's rmdir: the group goes with its files (and MON groups)."""
        self.removed.append(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if Path(path) == self.root:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), path)
        shutil.rmtree(path)

    def group(self, name: str, schemata: str = DEFAULT) -> Path:
        """A pre-configured group, made by the administrator (not recorded in `made`)."""
        self.mkdir(str(self.root / name))
        self.made.pop()
        (self.root / name / "schemata").write_text(schemata)
        return self.root / name

    def ird(self, config: dict, container_id: str = "c1") -> IntelRdt:
        return IntelRdt.from_config(config, container_id, root=str(self.root))


@pytest.fixture
def fake(tmp_path, monkeypatch) -> FakeResctrl:
    f = FakeResctrl(tmp_path / "resctrl")
    monkeypatch.setattr(intelrdt, "_mkdir", f.mkdir)
    monkeypatch.setattr(intelrdt, "_rmdir", f.rmdir)
    return f


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def reloaded(ird: IntelRdt) -> IntelRdt:
    """The object `delete` gets: to_state() through JSON (state.json), then load()."""
    return IntelRdt.load(json.loads(json.dumps(ird.to_state())))


def started(ird: IntelRdt, pid: int = 4242) -> IntelRdt:
    ird.create()
    ird.add(pid)
    return ird


# --- config-linux.intel_rdt.tasks, .no_resctrl_error, .clos_root ------------------------------------------------

def test_tasks_file_of_the_group_gets_the_container_pid(fake):
    """config-linux.intel_rdt.tasks: the init's pid goes into <resctrl>/<group>/tasks, and only there."""
    started(fake.ird({}))
    assert lines(fake.root / "c1" / "tasks") == ["4242"]
    assert lines(fake.root / "tasks") == ["1", "2"]


def test_no_resctrl_mounted_is_a_one_line_error_naming_intel_rdt():
    """config-linux.intel_rdt.no_resctrl_error, on this real host: nothing of type resctrl in the runtime's mount
    namespace, so from_config (root None: /proc/self/mountinfo) fails naming linux.intelRdt."""
    with open("/proc/self/mountinfo") as f:
        if any(line.partition(" - ")[2].split()[:1] == ["resctrl"] for line in f):
            pytest.skip("this host has resctrl mounted")
    with pytest.raises(OCIError) as err:
        IntelRdt.from_config({}, "x")
    message = str(err.value)
    assert message == "linux.intelRdt: no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl)"
    assert "\n" not in message


def test_resctrl_mount_point_is_read_from_mountinfo(tmp_path):
    """config-linux.intel_rdt.no_resctrl_error, the other half: the mount is found by type, wherever it is."""
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
                    "40 22 0:35 / /mnt/res\\040ctrl rw,relatime shared:20 - resctrl resctrl rw,mba_MBps\n")
    assert find_mount(str(info)) == ("/mnt/res ctrl", "rw,mba_MBps")
    info.write_text("22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n")
    assert find_mount(str(info)) is None


def test_clos_id_slash_is_the_root_group(fake):
    """config-linux.intel_rdt.clos_root: closID "/" puts the pid in <resctrl>/tasks; no group is made, and
    delete leaves the root alone."""
    before = sorted(os.listdir(fake.root))
    ird = started(fake.ird({"closID": "/"}))
    assert lines(fake.root / "tasks") == ["1", "2", "4242"]
    assert sorted(os.listdir(fake.root)) == before and fake.made == []
    reloaded(ird).destroy()
    assert fake.removed == [] and lines(fake.root / "schemata") == DEFAULT.splitlines()


# --- the fields' shape: .mb_prefix, .mb_single_line, .schemata_single_line, .l3_single_line --------------------

@pytest.mark.parametrize("value", ["L3:0=1", "mb:0=20", " MB:0=20", ""])
def test_mem_bw_schema_must_start_with_mb(fake, value):
    """config-linux.intel_rdt.mb_prefix: memBwSchema not starting with MB: is refused, before anything is touched."""
    with pytest.raises(OCIError, match=r"^linux\.intelRdt\.memBwSchema: is not a single line starting with MB:$"):
        fake.ird({"memBwSchema": value})


@pytest.mark.parametrize("value", ["MB:0=20\nMB:1=30", "MB:0=20\n"])
def test_mem_bw_schema_must_be_one_line(fake, value):
    """config-linux.intel_rdt.mb_single_line: a newline in memBwSchema is refused (even a trailing one, which a
    Python `$` would let through)."""
    with pytest.raises(OCIError, match=r"^linux\.intelRdt\.memBwSchema: is not a single line starting with MB:$"):
        fake.ird({"memBwSchema": value})


def test_schemata_entries_must_be_one_line(fake):
    """config-linux.intel_rdt.schemata_single_line: an element with a newline is refused, named by its index."""
    with pytest.raises(OCIError) as err:
        fake.ird({"schemata": ["L3:0=f", "MB:0=20\nL2:0=f"]})
    assert str(err.value) == "linux.intelRdt.schemata[1]: is not a single line (a string without newlines)"


def test_l3_cache_schema_with_a_newline_is_refused(fake):
    """config-linux.intel_rdt.l3_single_line (a SHOULD NOT for config authors): the runtime writes l3CacheSchema as
    one line, first; a newline would smuggle in a second one, so it is refused rather than written. The L3:
    prefix (a SHOULD too) is not enforced: with CDP the line is L3CODE:/L3DATA:."""
    with pytest.raises(OCIError) as err:
        fake.ird({"l3CacheSchema": "L3:0=f\nMB:0=20"})
    assert str(err.value) == "linux.intelRdt.l3CacheSchema: is not a single line (a string without newlines)"
    started(fake.ird({"l3CacheSchema": "L3CODE:0=f"}))
    assert lines(fake.root / "c1" / "schemata") == ["L3CODE:0=f"]


# --- writing schemata: .write_both, .write_order, .write_either, .write_schemata, .no_schema_no_write ----------

def test_both_l3_and_mb_schemas_are_written(fake):
    """config-linux.intel_rdt.write_both: both lines end up in the group's schemata."""
    started(fake.ird({"l3CacheSchema": "L3:0=7f0;1=1f", "memBwSchema": "MB:0=20;1=70"}))
    assert set(lines(fake.root / "c1" / "schemata")) == {"L3:0=7f0;1=1f", "MB:0=20;1=70"}


def test_l3_then_mb_then_schemata_lines_are_written_in_order(fake):
    """config-linux.intel_rdt.write_order (and the schemata-last rule): l3CacheSchema first, memBwSchema next,
    then each schemata element in array order; the fields' order in the JSON object does not matter."""
    config = {"schemata": ["L2:0=f;1=f", "L3:1=3"], "memBwSchema": "MB:0=20;1=70", "l3CacheSchema": "L3:0=7f0;1=1f"}
    started(fake.ird(config))
    assert lines(fake.root / "c1" / "schemata") == ["L3:0=7f0;1=1f", "MB:0=20;1=70", "L2:0=f;1=f", "L3:1=3"]


@pytest.mark.parametrize("config, line", [({"l3CacheSchema": "L3:0=7f0"}, "L3:0=7f0"),
                                          ({"memBwSchema": "MB:0=20"}, "MB:0=20")], ids=["l3", "mb"])
def test_either_schema_alone_is_written(fake, config, line):
    """config-linux.intel_rdt.write_either: the one set is written, and nothing else."""
    started(fake.ird(config))
    assert lines(fake.root / "c1" / "schemata") == [line]


def test_schemata_lines_are_written(fake):
    """config-linux.intel_rdt.write_schemata: the spec's example, every element written as is."""
    schemata = ["L3:0=7f0;1=1f", "L2:0=f;1=f;2=f;3=f", "MB:0=20;1=70"]
    started(fake.ird({"closID": "guaranteed_group", "schemata": schemata}))
    assert lines(fake.root / "guaranteed_group" / "schemata") == schemata


@pytest.mark.parametrize("config", [{"closID": "pre"}, {}, {"closID": "/"}, {"l3CacheSchema": "", "schemata": []}],
                         ids=["preconfigured", "own-group", "root", "empty-fields"])
def test_no_schema_fields_no_schemata_write(fake, config):
    """config-linux.intel_rdt.no_schema_no_write: without l3CacheSchema, memBwSchema or schemata, no schemata file
    anywhere under the mount is written (each one's mtime is pinned to 0 first: a write would move it)."""
    fake.group("pre")
    for path in fake.root.rglob("schemata"):
        os.utime(path, ns=(0, 0))
    started(fake.ird(config))
    written = [path for path in fake.root.rglob("schemata") if path.stat().st_mtime_ns != 0]
    assert written == []
    assert all(lines(path) == DEFAULT.splitlines() for path in fake.root.rglob("schemata"))


# --- the group: .default_clos_id, .create_clos_dir, .compare_existing, .preconfigured_* ---------------------------

def test_without_clos_id_the_group_is_named_after_the_container(fake):
    """config-linux.intel_rdt.default_clos_id: <resctrl>/<container-id> is created and used."""
    ird = started(fake.ird({"l3CacheSchema": "L3:0=7f0"}, "my-ctr"), pid=99)
    assert fake.made == [str(fake.root / "my-ctr")]
    assert lines(fake.root / "my-ctr" / "schemata") == ["L3:0=7f0"]
    assert lines(fake.root / "my-ctr" / "tasks") == ["99"]
    assert ird.to_state()["createdGroup"] is True


def test_missing_clos_id_directory_is_created(fake):
    """config-linux.intel_rdt.create_clos_dir: closID naming no group, with a schema: the group is created."""
    started(fake.ird({"closID": "new", "memBwSchema": "MB:0=20"}))
    assert fake.made == [str(fake.root / "new")]
    assert lines(fake.root / "new" / "schemata") == ["MB:0=20"]
    assert lines(fake.root / "new" / "tasks") == ["4242"]


# The kernel's read-back of a group: zero-padded, right-aligned names, every resource.
EXISTING = "    L2:0=ff;1=0f\n    L3:0=7f0;1=01f\n    MB:0=020;1=070\n"


@pytest.mark.parametrize("config, field, found", [
    ({"l3CacheSchema": "L3:0=7f0;1=0ff"}, "l3CacheSchema", "has L3:1=01f, the config asks for L3:1=0ff"),
    ({"memBwSchema": "MB:0=30"}, "memBwSchema", "has MB:0=020, the config asks for MB:0=30"),
    ({"schemata": ["L3:0=7f0", "L2:1=ff"]}, "schemata[1]", "has L2:1=0f, the config asks for L2:1=ff"),
    ({"schemata": ["L3CODE:0=7f0"]}, "schemata[0]", "has no L3CODE line in its schemata"),
    ({"l3CacheSchema": "L3:2=7f0"}, "l3CacheSchema", "has no L3 domain 2"),
    # l3CacheSchema matches, but the schemata line written after it changes domain 1: that is a change
    ({"l3CacheSchema": "L3:0=7f0;1=1f", "schemata": ["L3:1=3"]}, "schemata[0]",
     "has L3:1=01f, the config asks for L3:1=3"),
], ids=["l3", "mb", "schemata", "no-resource", "no-domain", "override"])
def test_existing_clos_id_group_with_other_schemata_is_an_error(fake, config, field, found):
    """config-linux.intel_rdt.compare_existing: an existing closID group whose schemata differ from what the config
    would write fails create(), naming the field; the group is left exactly as it was, without the pid."""
    grp = fake.group("grp", EXISTING)
    ird = fake.ird({"closID": "grp", **config})
    with pytest.raises(OCIError) as err:
        ird.create()
    assert str(err.value) == f"linux.intelRdt.{field}: the existing resctrl group {grp} {found}"
    assert (grp / "schemata").read_text() == EXISTING and (grp / "tasks").read_text() == ""
    assert fake.removed == []


@pytest.mark.parametrize("config", [
    {"l3CacheSchema": "L3:1=1f;0=7F0", "memBwSchema": "MB:0=20;1=70"},  # order of domains, case, padding
    {"l3CacheSchema": " L3 : 00 = 0x7f0 ; ", "schemata": ["L2:1=f"]},  # blanks, 0x, leading zeros, a subset
    {"memBwSchema": "MB:0=11;1=61"},  # rounded up to bandwidth_gran (10), as the kernel stores them
    {"l3CacheSchema": "L3:0=7f0;1=3", "schemata": ["L3:1=01f"]},  # the later line wins, as it would on write
], ids=["reordered", "blanks", "rounded", "override"])
def test_existing_clos_id_group_with_the_same_schemata_is_joined(fake, config):
    """config-linux.intel_rdt.compare_existing, the other side: "compare" is against the kernel's normalised
    read-back, resource by resource and domain by domain, so the same values written differently match."""
    grp = fake.group("grp", EXISTING)
    started(fake.ird({"closID": "grp", **config}))
    assert lines(grp / "tasks") == ["4242"]


def test_existing_group_mbps_values_are_not_rounded(fake):
    """config-linux.intel_rdt.compare_existing with mba_MBps: MB values are MBps, stored as given, not rounded."""
    fake.group("grp", "MB:0=5005;1=7000\n")
    def ird(value: str) -> IntelRdt:
        ird = fake.ird({"closID": "grp", "memBwSchema": value})
        ird.mba_mbps = True  # what from_config finds in a real mount's options
        return ird

    with pytest.raises(OCIError, match=r"has MB:0=5005, the config asks for MB:0=5001$"):
        ird("MB:0=5001").create()
    started(ird("MB:0=5005"))


def test_clos_id_alone_joins_the_preconfigured_group(fake):
    """config-linux.intel_rdt.preconfigured_assign: closID without schemas: the pid goes into that group, which is
    neither made nor changed."""
    pre = fake.group("pre")
    started(fake.ird({"closID": "pre"}), pid=55)
    assert lines(pre / "tasks") == ["55"] and fake.made == []


def test_clos_id_alone_naming_no_group_is_an_error(fake):
    """config-linux.intel_rdt.preconfigured_missing: closID without schemas and no such group: an error naming
    linux.intelRdt.closID, and nothing is created."""
    with pytest.raises(OCIError) as err:
        fake.ird({"closID": "absent"}).create()
    assert str(err.value) == (f"linux.intelRdt.closID: the resctrl group {fake.root / 'absent'} does not exist "
                              "(without l3CacheSchema, memBwSchema or schemata, closID must name a pre-configured "
                              "group)")
    assert not (fake.root / "absent").exists() and fake.made == []


# --- delete: .remove_own_group, .keep_foreign_group ----------------------------------------------------------------

def test_group_made_for_the_container_is_removed_at_delete(fake):
    """config-linux.intel_rdt.remove_own_group: no closID, create() made <resctrl>/c1: `delete` (another process,
    from the saved state) removes it."""
    ird = started(fake.ird({"l3CacheSchema": "L3:0=7f0"}))
    assert (fake.root / "c1").is_dir()
    reloaded(ird).destroy()
    assert not (fake.root / "c1").exists()
    assert fake.removed == [str(fake.root / "c1")]


@pytest.mark.parametrize("config, existing", [({"closID": "new", "memBwSchema": "MB:0=20"}, None),
                                              ({"closID": "pre"}, "pre"),
                                              ({}, "c1")], ids=["closid-made-by-create", "closid-preconfigured",
                                                               "no-closid-already-there"])
def test_clos_id_group_or_one_not_made_is_kept_at_delete(fake, config, existing):
    """config-linux.intel_rdt.keep_foreign_group: a closID group, even one create() made, and a <container-id>
    group that was there before create(), all stay at delete."""
    if existing:
        fake.group(existing)
    ird = started(fake.ird(config))
    group = Path(ird.group)
    reloaded(ird).destroy()
    assert group.is_dir() and lines(group / "tasks") == ["4242"]
    assert fake.removed == []


# --- monitoring: .monitoring_group, .monitoring_name, .monitoring_delete, .monitoring_error ------------------------

@pytest.mark.parametrize("config, group", [({"enableMonitoring": True}, "c1"),
                                           ({"closID": "pre", "enableMonitoring": True}, "pre"),
                                           ({"closID": "/", "enableMonitoring": True}, ".")],
                         ids=["own-group", "closid", "root"])
def test_enable_monitoring_creates_a_mon_group_with_the_pid(fake, config, group):
    """config-linux.intel_rdt.monitoring_group: <group>/mon_groups/<container-id>/ is created under the CTRL_MON
    group and the pid goes into both tasks files."""
    fake.group("pre")
    started(fake.ird(config))
    mon = fake.root / group / "mon_groups" / "c1"
    assert str(mon) in [os.path.normpath(p) for p in fake.made]
    assert lines(mon / "tasks") == ["4242"] and lines(fake.root / group / "tasks")[-1] == "4242"


def test_mon_group_is_named_after_the_container_id(fake):
    """config-linux.intel_rdt.monitoring_name: the MON group is the container id, not the closID; other MON groups
    of the shared group are left alone."""
    shared = fake.group("shared")
    (shared / "mon_groups" / "other").mkdir()
    started(fake.ird({"closID": "shared", "enableMonitoring": True}, "ctr-7"))
    assert sorted(os.listdir(shared / "mon_groups")) == ["ctr-7", "other"]


@pytest.mark.parametrize("config, group", [({"closID": "pre", "enableMonitoring": True}, "pre"),
                                           ({"enableMonitoring": True}, "c1")], ids=["closid", "own-group"])
def test_mon_group_is_removed_at_delete(fake, config, group):
    """config-linux.intel_rdt.monitoring_delete: after delete (from the saved state) mon_groups/<container-id> is
    gone; a closID group keeps its other MON groups, the container's own group goes after its MON group."""
    fake.group("pre")
    (fake.root / "pre" / "mon_groups" / "other").mkdir()
    ird = started(fake.ird(config))
    mon = fake.root / group / "mon_groups" / "c1"
    reloaded(ird).destroy()
    assert not mon.exists()
    assert fake.removed[0] == str(mon)
    assert (fake.root / "pre" / "mon_groups" / "other").is_dir()


def test_failing_to_create_the_mon_group_is_an_error(fake):
    """config-linux.intel_rdt.monitoring_error: mkdir of mon_groups/<id> really fails (mon_groups is a regular
    file here: ENOTDIR, even for root): a one-line error naming linux.intelRdt.enableMonitoring, with the kernel's
    last_cmd_status; the pre-configured group is left as it was."""
    pre = fake.group("pre")
    shutil.rmtree(pre / "mon_groups")
    (pre / "mon_groups").write_text("")
    (fake.root / "info" / "last_cmd_status").write_text("Out of RMIDs\n")
    with pytest.raises(OCIError) as err:
        fake.ird({"closID": "pre", "enableMonitoring": True}).create()
    assert str(err.value) == (f"linux.intelRdt.enableMonitoring: cannot create the MON group {pre}/mon_groups/c1: "
                              "not a directory (last_cmd_status: Out of RMIDs)")
    assert pre.is_dir() and fake.removed == []


def test_failing_to_create_the_mon_group_undoes_the_new_group(fake):
    """config-linux.intel_rdt.monitoring_error, on a host without monitoring (new groups get no mon_groups/, so the
    mkdir fails with ENOENT): the error names linux.intelRdt.enableMonitoring and the group create() had just
    made is removed again, so nothing is left behind."""
    fake.monitoring = False
    with pytest.raises(OCIError, match=r"^linux\.intelRdt\.enableMonitoring: cannot create the MON group .*/c1/"
                                       r"mon_groups/c1: no such file or directory$"):
        fake.ird({"enableMonitoring": True, "l3CacheSchema": "L3:0=7f0"}).create()
    assert not (fake.root / "c1").exists() and fake.removed == [str(fake.root / "c1")]


# --- the rest of the interface ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("clos_id", ["", ".", "..", "a/b", "../etc", "info", "mon_groups", 7])
def test_clos_id_must_name_a_group(fake, clos_id):
    """closID is one directory under the mount (or "/"): nothing that would leave it, or name its other entries."""
    with pytest.raises(OCIError, match=r"^linux\.intelRdt\.closID: "):
        fake.ird({"closID": clos_id})


def test_state_is_json_and_load_gives_the_same_object(fake):
    """to_state() survives state.json; load() reads nothing (the mount may be gone) and rebuilds it exactly."""
    ird = started(fake.ird({"closID": "g", "memBwSchema": "MB:0=20", "schemata": ["L2:0=f"], "enableMonitoring": True}))
    saved = json.loads(json.dumps(ird.to_state()))
    assert saved["createdGroup"] is True and saved["monGroup"] == str(fake.root / "g" / "mon_groups" / "c1")
    assert IntelRdt.load(saved).to_state() == ird.to_state()


def test_destroy_twice_is_fine(fake):
    """delete may run again after a partial failure: already-removed groups are not an error."""
    ird = reloaded(started(fake.ird({"enableMonitoring": True})))
    ird.destroy()
    ird.destroy()
    assert not (fake.root / "c1").exists()
