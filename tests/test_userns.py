"""User namespaces (config-linux.md "Namespaces": user, "User namespace mappings") on real
containers: maps written by the runtime from outside, a rootfs and /dev that work when mapped,
and joining an existing user namespace by path."""
import os
import subprocess
from pathlib import Path

import pytest
from conftest import error_message

MAPPINGS = {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}


def with_userns(bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"].update(MAPPINGS)


def host_ids(pid: int) -> tuple[str, str]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return status["Uid"].split()[0], status["Gid"].split()[0]


def test_new_user_namespace_maps_container_root_to_the_configured_host_ids(runtime, bundle):
    with_userns(bundle)
    bundle.config["process"]["args"] = ["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; sleep 1000"]
    out = bundle.path / "out"
    with open(out, "w") as f:
        runtime("create", "--bundle", bundle.write(), "u1", check=True, stdout=f)
    pid = runtime.state("u1")["pid"]
    assert host_ids(pid) == ("100000", "200000"), "seen from the host, the container's root is unprivileged"
    runtime("start", "u1", check=True)
    runtime("kill", "u1", "KILL", check=True)
    lines = [line.split() for line in out.read_text().splitlines()]
    assert lines == [["0"], ["0"], ["0", "100000", "65536"], ["0", "200000", "65536"]]


def test_rootfs_and_dev_work_in_a_user_namespace(runtime, bundle):
    with_userns(bundle)
    bundle.config["process"]["args"] = ["sh", "-c", "ls /bin/busybox && echo x > /dev/null && head -c 3 /dev/zero | wc -c "
                                                    "&& stat -c '%t,%T' /dev/null && touch /dev/shm/f && echo ok"]
    proc = runtime("run", "--bundle", bundle.write(), "u2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["/bin/busybox", "3", "1,3", "ok"]


def test_joining_an_existing_user_namespace(runtime, bundle, tmp_path):
    with_userns(bundle)
    bundle.config["process"]["args"] = ["sleep", "1000"]
    runtime("create", "--bundle", bundle.write(), "owner", check=True)
    owner = runtime.state("owner")["pid"]
    joiner = tmp_path / "joiner"
    joiner.mkdir()
    bundle.path = joiner
    bundle.config["linux"]["namespaces"] = [{"type": "user", "path": f"/proc/{owner}/ns/user"},
                                            {"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"},
                                            {"type": "network"}]
    for key in MAPPINGS:
        bundle.config["linux"].pop(key)
    bundle.config["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user"]
    proc = runtime("run", "--bundle", bundle.write(), "joiner")
    assert proc.returncode == 0, proc.stderr
    uid_map, userns = proc.stdout.splitlines()
    assert uid_map.split() == ["0", "100000", "65536"]
    assert userns == str(Path(f"/proc/{owner}/ns/user").readlink())


def test_unmapped_container_root_is_a_clear_error(runtime, bundle):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 1000, "hostID": 100000, "size": 1}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 1000, "hostID": 100000, "size": 1}]
    proc = runtime("create", "--bundle", bundle.write(), "u3")
    assert proc.returncode == 1
    assert "container root (0) is not mapped" in error_message(proc.stderr)
    assert runtime.ids() == []


def owners(top: Path) -> dict[str, tuple[int, int]]:
    """path relative to top -> (uid, gid) of everything under top, symlinks not followed."""
    found = {".": (top.lstat().st_uid, top.lstat().st_gid)}
    for path in top.rglob("*"):
        st = path.lstat()
        found[str(path.relative_to(top))] = (st.st_uid, st.st_gid)
    return found


def test_ridmap_with_its_own_mappings_applies_to_submounts_too(runtime, bundle, tmp_path):
    """config.md `ridmap`: the mount's own uid/gidMappings MUST be used and applied recursively (mount_setattr
    MOUNT_ATTR_IDMAP with AT_RECURSIVE): a file on a submount of the rbind source appears as the mapped 1000 like
    the files of the source itself, where a plain rbind of the same source shows the on-disk 0."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top").touch()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "ridmap-test", str(src / "sub")], check=True)
    try:
        (src / "sub" / "inner").touch()
        mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
        bundle.config["mounts"] += [
            {"destination": "/vol", "type": "bind", "source": str(src), "options": ["rbind", "ridmap"],
             "uidMappings": mapping, "gidMappings": mapping},
            {"destination": "/plain", "type": "bind", "source": str(src), "options": ["rbind"]},
        ]
        bundle.config["process"]["args"] = ["stat", "-c", "%n %u %g", "/vol/top", "/vol/sub/inner",
                                            "/plain/sub/inner"]
        proc = runtime("run", "--bundle", bundle.write(), "r1")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["/vol/top 1000 1000", "/vol/sub/inner 1000 1000", "/plain/sub/inner 0 0"]
        assert os.stat(src / "sub" / "inner").st_uid == 0, "the host's files keep their owner"
    finally:
        subprocess.run(["umount", str(src / "sub")], check=True)


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_idmap_without_mount_mappings_uses_the_containers_user_namespace_mapping(runtime, bundle, tmp_path, option):
    """config.md `idmap`/`ridmap` without the mount's own mappings: the runtime MAY use the container's user
    namespace mapping (else it MUST fail). oci-runtime uses it, so inside the container on-disk owners 0 and 5
    read as 0 and 5 through the idmapped mount, where a plain bind shows on-disk root as the overflow id."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "rootfile").touch()
    (src / "u5").touch()
    os.chown(src / "u5", 5, 5)
    rootfs = Path(bundle.config["root"]["path"])
    (rootfs / "vol").mkdir()  # the mapped container root may not create them in host root's rootfs
    (rootfs / "plain").mkdir()
    with_userns(bundle)
    bundle.config["mounts"] += [
        {"destination": "/vol", "type": "bind", "source": str(src), "options": ["rbind", option]},
        {"destination": "/plain", "type": "bind", "source": str(src), "options": ["rbind"]},
    ]
    bundle.config["process"]["args"] = ["stat", "-c", "%n %u %g", "/vol/rootfile", "/vol/u5", "/plain/rootfile"]
    proc = runtime("run", "--bundle", bundle.write(), "i1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["/vol/rootfile 0 0", "/vol/u5 5 5", "/plain/rootfile 65534 65534"]
    assert (os.stat(src / "rootfile").st_uid, os.stat(src / "u5").st_uid) == (0, 5)


def test_running_with_a_user_namespace_does_not_chown_the_rootfs(runtime, bundle):
    """config-linux.md "User namespace mappings": the runtime SHOULD NOT modify the ownership of referenced
    filesystems to realise the mapping. After a run whose root is host uid 100000, every file the rootfs had
    keeps its owner on the host."""
    rootfs = Path(bundle.config["root"]["path"])
    before = owners(rootfs)
    assert before["."] == (0, 0) and before["bin/busybox"] == (0, 0)
    with_userns(bundle)
    bundle.config["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map; stat -c '%u %g' /bin/busybox"]
    proc = runtime("run", "--bundle", bundle.write(), "n1")
    assert proc.returncode == 0, proc.stderr
    uid_map, inside = proc.stdout.splitlines()
    assert uid_map.split() == ["0", "100000", "65536"]
    assert inside == "65534 65534", "host root's files are unmapped inside: nobody chowned them to 100000"
    after = owners(rootfs)
    assert {path: after[path] for path in before} == before
