"""Real container engines driving oci-runtime, each with private configuration and state.

Used by the end-to-end tests (test_e2e_podman.py, test_e2e_containerd.py). The engines come from
Debian (`make deps`); nothing here touches the host's default engine state: podman gets its own
containers.conf, storage, --root/--runroot/--tmpdir; containerd runs in a private mount namespace
with a tmpfs over /run (its shim sockets, fifos and runtime root live there) and its own root and
state directories. Everything started is stopped by pid at teardown.
"""
import errno
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from conftest import OCI_RUNTIME, REPO, ROOTFS, cgroup_dirs, mountinfo

from oci_runtime.appliers.seccomp import CACHE_DIR as SECCOMP_CACHE

DEFAULT_ROOT = Path("/run/oci-runtime")  # conmon never passes --root


def in_pty(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run argv with a pseudo-terminal as its stdio (util-linux `script`), as a user at a terminal would."""
    return subprocess.run(["script", "-qec", shlex.join(argv), "/dev/null"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def pids_matching(text: str) -> list[int]:
    """Pids whose command line contains `text` (the engines' helper processes, found by their private paths)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry))
    return found


def kill_and_wait(pids: list[int], timeout: float = 10) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def readme_block(section: str, lang: str) -> str:
    """The first ```lang block after the README heading `section`: the tests use the documented
    configuration itself, so the README cannot drift from what works."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"```{lang}\n", text.index(section)) + len(lang) + 4
    return text[start:text.index("```", start)]


def short_tmp(prefix: str) -> Path:
    """A new directory directly under /tmp: podman refuses a runroot over 50 characters and unix
    socket paths stop at 108, too short for pytest's temp paths."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def rootfs_copy(dest: Path) -> Path:
    """A private copy of the busybox rootfs (podman --rootfs writes /etc/hosts and friends into it)."""
    subprocess.run(["cp", "-a", str(ROOTFS), str(dest)], check=True)
    return dest


class Podman:
    """podman configured as the README says (containers.conf naming oci-runtime as its runtime), plus
    this host's settings and private storage.

    supports_json=False drops oci-runtime from runtime_supports_json (conmon then reads our stderr
    instead of passing --log-format=json --log); explicit passes `--runtime <abs path>` on every call."""

    def __init__(self, supports_json: bool = True, explicit: bool = False) -> None:
        self.tmp = tmp = short_tmp("oci-pm-")
        self.explicit = explicit
        self.rootfs = rootfs_copy(tmp / "rootfs")
        engine = readme_block("## With podman", "toml").replace("/path/to/.venv/bin/oci-runtime", OCI_RUNTIME)
        if not supports_json:
            engine = re.sub(r"(?m)^runtime_supports_json = .*$", 'runtime_supports_json = ["crun", "runc"]', engine)
        engine = engine.replace("[engine]\n", '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n', 1)
        (tmp / "containers.conf").write_text(
            '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\nnetns = "none"\n' + engine)
        (tmp / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp}/graph"\nrunroot = "{tmp}/run"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(tmp / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(tmp / "storage.conf")}
        self.mounts_before = mountinfo().count("\n")
        self.cgroups_before = set(cgroup_dirs("libpod_parent") + cgroup_dirs("conmon"))
        # conmon never passes --root: the runtime's own files there (its seccomp cache) are ours to remove
        self.root_made = not DEFAULT_ROOT.exists()
        self.cache_made = not (DEFAULT_ROOT / SECCOMP_CACHE).exists()

    def argv(self, *args: str) -> list[str]:
        runtime = ["--runtime", OCI_RUNTIME] if self.explicit else []
        return ["podman", *runtime, "--root", f"{self.tmp}/graph", "--runroot", f"{self.tmp}/run",
                "--tmpdir", f"{self.tmp}/tmp", *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {shlex.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def tty(self, *args: str) -> subprocess.CompletedProcess:
        """podman under a pseudo-terminal (for -t)."""
        return subprocess.run(["script", "-qec", shlex.join(self.argv(*args)), "/dev/null"], env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def run_detached(self, *cmd: str, options: tuple[str, ...] = ()) -> str:
        """`podman run -d [options] --rootfs <copy> cmd...` (--rootfs is a switch: the rootfs takes the
        image's place); returns the container id."""
        return self("run", "-d", *options, "--rootfs", str(self.rootfs), *cmd).stdout.strip()

    def close(self) -> list[str]:
        """Remove every container; kill what is left of conmon; remove the cgroups podman made for
        conmon (libpod_parent/conmon) if they were not there before; return what leaked (for the
        test to assert on)."""
        try:
            ids = self("ps", "-aq", "--no-trunc", check=False).stdout.split()
            self("rm", "-af", "-t", "0", check=False)
            kill_and_wait(pids_matching(str(self.tmp)))
            leaks = [f"state of {i}" for i in ids if (DEFAULT_ROOT / i).exists()]
            leaks += [f"cgroup {d}" for i in ids for d in cgroup_dirs(f"libpod-{i}")]
            if mountinfo().count("\n") != self.mounts_before:
                leaks.append("mounts in the host namespace")
        finally:
            deadline = time.monotonic() + 5  # an exited conmon holds its cgroup until it is reaped
            for d in sorted(set(cgroup_dirs("conmon") + cgroup_dirs("libpod_parent")) - self.cgroups_before,
                            key=len, reverse=True):
                while True:
                    try:
                        os.rmdir(d)
                    except OSError as e:
                        if e.errno == errno.EBUSY and time.monotonic() < deadline:
                            time.sleep(0.05)
                            continue
                    break
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.cache_made:
                shutil.rmtree(DEFAULT_ROOT / SECCOMP_CACHE, ignore_errors=True)
            if self.root_made:
                try:
                    os.rmdir(DEFAULT_ROOT)
                except OSError:  # not empty: a leak the checks above report
                    pass
        return leaks


def oci_image_archive(rootfs: Path, out: Path, name: str) -> None:
    """An OCI image layout tarball with `rootfs` as its single layer (no registry exists here), named
    `name` for `ctr image import`."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tf:
        tf.add(str(rootfs), arcname=".")
    with tarfile.open(out, "w") as archive:
        def add(path: str, data: bytes) -> dict:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            return {"digest": "sha256:" + path.rsplit("/", 1)[-1], "size": len(data)}

        def blob(media_type: str, data: bytes) -> dict:
            return {"mediaType": media_type, **add(f"blobs/sha256/{hashlib.sha256(data).hexdigest()}", data)}

        layer_desc = blob("application/vnd.oci.image.layer.v1.tar", layer.getvalue())
        config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin:/sbin"], "Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": blob("application/vnd.oci.image.config.v1+json", json.dumps(config).encode()),
                    "layers": [layer_desc]}
        manifest_desc = blob(manifest["mediaType"], json.dumps(manifest).encode())
        manifest_desc["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "test"}
        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}).encode())


class Containerd:
    """A containerd daemon of our own, in a private mount namespace with a tmpfs on /run: the 1.6
    shim keeps its sockets in /run/containerd/s and ctr its fifos in /run/containerd/fifo, so
    ctr runs in that namespace too (nsenter). extra_config is appended to config.toml."""

    IMAGE = "docker.io/library/busybox:oci-runtime-test"
    RUNTIME_ROOT = "/run/containerd/runc/default"  # the shim's --root for namespace "default"

    def __init__(self, extra_config: str = "", cri: bool = False) -> None:
        self.tmp = tmp = short_tmp("oci-cd-")
        self.address = f"{tmp}/containerd.sock"
        disabled = "[]" if cri else '["io.containerd.grpc.v1.cri"]'
        (tmp / "config.toml").write_text(
            f'version = 2\nroot = "{tmp}/root"\nstate = "{tmp}/state"\ndisabled_plugins = {disabled}\n'
            f'[grpc]\n  address = "{self.address}"\n[ttrpc]\n  address = "{self.address}.ttrpc"\n'
            + extra_config)
        self.log = open(tmp / "containerd.log", "w")
        self.mounts_before = mountinfo().count("\n")
        self.daemon = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'mount -t tmpfs tmpfs /run && exec containerd --config "{tmp}/config.toml"'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"containerd did not start: {(tmp / 'containerd.log').read_text()}")
            time.sleep(0.1)

    def argv(self, *args: str) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.daemon.pid}/ns/mnt", "ctr", "--address", self.address, *args]

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {shlex.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def import_image(self) -> None:
        archive = self.tmp / "image.tar"
        oci_image_archive(ROOTFS, archive, self.IMAGE)
        self.ctr("image", "import", str(archive))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`ctr run --runc-binary <oci-runtime>` with the imported image (args: [flags...] id cmd...)."""
        return self.ctr("run", "--runc-binary", OCI_RUNTIME, *args, check=check)

    def close(self, ids: list[str]) -> list[str]:
        """Kill tasks, remove containers, stop shims and the daemon; return what leaked."""
        for cid in ids:
            self.ctr("task", "delete", "--force", cid, check=False)
            self.ctr("container", "delete", cid, check=False)
        left = subprocess.run(["nsenter", f"--mount=/proc/{self.daemon.pid}/ns/mnt", OCI_RUNTIME,
                               "--root", self.RUNTIME_ROOT, "list", "-q"], capture_output=True, text=True)
        leaks = [f"state of {cid}" for cid in left.stdout.split()]
        shims = pids_matching(f"-address {self.address}")
        kill_and_wait([*shims, self.daemon.pid])
        self.daemon.wait(timeout=10)
        self.log.close()
        leaks += [f"cgroup {d}" for cid in ids for d in cgroup_dirs(cid)]
        if mountinfo().count("\n") != self.mounts_before:
            leaks.append("mounts in the host namespace")
        shutil.rmtree(self.tmp)
        return leaks
