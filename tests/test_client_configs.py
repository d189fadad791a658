"""The config.json files podman and containerd really generated (../shared/fixtures/client-configs)
run on oci-runtime, with root.path pointed at a busybox rootfs and the host paths they name
(bind sources under /var/lib/example) replaced by test files of the same kind."""
import json
import re
import subprocess
import os
from pathlib import Path

import pytest

from conftest import CLIENT_CONFIGS

FIXTURES = CLIENT_CONFIGS
# Its program reads /sys/fs/cgroup/memory/... but the config has no `cgroup` mount: under a fresh
# sysfs that directory is empty, with runc too, so it runs `echo` instead (the rest of the config
# is still exercised). podman-rootfs-memory-pids-cpus.json runs its real program.
READS_CGROUP_LIMITS = {"containerd-mem-cpus-seccomp-mount.json"}
DIR_DESTINATIONS = {"/vol", "/dev/shm", "/run/notify"}


def fixture_names() -> list[str]:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert names, f"no client configs found in {FIXTURES}"
    return names


def adapt(name: str, config: dict, bundle_path: Path, rootfs: str) -> dict:
    """Point the config at our rootfs and give every missing bind source a stand-in."""
    config["root"]["path"] = rootfs
    if config["linux"].get("uidMappings"):  # podman chowns an image to the mapped ids: do the same
        root_uid = next(m["hostID"] for m in config["linux"]["uidMappings"] if m["containerID"] == 0)
        root_gid = next(m["hostID"] for m in config["linux"]["gidMappings"] if m["containerID"] == 0)
        subprocess.run(["chown", "-hR", f"{root_uid}:{root_gid}", rootfs], check=True)
    if config["process"]["args"] == ["/bin/sleep", "1000"] or name in READS_CGROUP_LIMITS:
        config["process"]["args"] = ["/bin/echo", name]
    for i, m in enumerate(config.get("mounts", [])):
        source = m.get("source", "")
        if "bind" in m.get("options", []) or "rbind" in m.get("options", []) or m.get("type") == "bind":
            if os.path.exists(source):
                continue
            stand_in = bundle_path / f"src{i}"
            if m["destination"] in DIR_DESTINATIONS:
                stand_in.mkdir()
            elif m["destination"] == "/run/podman-init":
                stand_in.write_text('#!/bin/sh\nshift\nexec "$@"\n')
                stand_in.chmod(0o755)
            else:
                stand_in.write_text(f"stand-in for {m['destination']}\n")
            m["source"] = str(stand_in)
    return config


@pytest.mark.parametrize("name", fixture_names())
def test_client_config_runs(runtime, bundle, name):
    config = json.loads((FIXTURES / name).read_text())
    adapt(name, config, bundle.path, bundle.config["root"]["path"])
    bundle.config = config
    if config["process"].get("terminal"):  # as the clients do: create with a console socket, read the master
        output = run_on_console(runtime, bundle)
        # containerd-tty.json's interactive sh computed 42; podman-image-tty.json runs `tty; echo ok`
        assert "42-terminal" in output or re.search(r"/dev/pts/\d+\r\nok\r\n", output), output
        assert runtime.ids() == []
        return
    proc = runtime("run", "--bundle", bundle.write(), "client")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "the program printed nothing"
    if name == "podman-rootfs-memory-pids-cpus.json":  # it prints its memory and pids limits
        assert proc.stdout.split()[-2:] == ["67108864", "50"], proc.stdout
    assert runtime.ids() == []


def run_on_console(runtime, bundle) -> str:
    """create --console-socket, start, answer an interactive shell, collect the pty's output."""
    from test_terminal import Listener, read_until_closed

    console = Listener()
    try:
        runtime("create", "--bundle", bundle.write(), "--console-socket", console.path, "client", check=True)
        _, fds, _ = console.receive()
        assert len(fds) == 1, f"expected the pty master, got {fds}"
        try:
            runtime("start", "client", check=True)
            if bundle.config["process"]["args"] == ["/bin/sh"]:
                # containerd-tty.json's interactive shell (only: the terminal echoes input, which
                # would interleave with another program's output); the echo shows $((6*7)) unexpanded
                os.write(fds[0], b"echo $((6*7))-terminal; exit\n")
            output = read_until_closed(fds[0])
        finally:
            os.close(fds[0])
        runtime("delete", "--force", "client", check=True)
        return output
    finally:
        console.close()
