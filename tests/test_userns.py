"""User namespaces (config-linux.md "Namespaces": user, "User namespace mappings") on real
containers: maps written by the runtime from outside, a rootfs and /dev that work when mapped,
and joining an existing user namespace by path."""
from pathlib import Path

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
