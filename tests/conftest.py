"""Shared fixtures: the installed `oci-runtime` command, a private state root, and busybox bundles.

Integration tests run real containers (as root) from the rootfs that `make rootfs` builds in
bundles/busybox/rootfs; each test gets its own --root and bundle directory and must leave nothing
behind (the `runtime` fixture checks that at teardown).
"""
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from oci_runtime import log
from oci_runtime.appliers.seccomp import CACHE_DIR as SECCOMP_CACHE

REPO = Path(__file__).resolve().parent.parent
ROOTFS = REPO / "bundles" / "busybox" / "rootfs"
TEMPLATE = REPO / "bundles" / "busybox" / "config.json"
CLIENT_CONFIGS = REPO.parent / "shared" / "fixtures" / "client-configs"  # shared/ sits beside the clone
OCI_RUNTIME = str(Path(sys.executable).parent / "oci-runtime")


def mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def cgroup_dirs(name: str) -> list[str]:
    """Every cgroup directory, in any hierarchy, named `name` (os.walk, not rglob: other
    containers' cgroups come and go meanwhile)."""
    return [os.path.join(d, name) for d, subdirs, _ in os.walk("/sys/fs/cgroup") if name in subdirs]


def reap() -> None:
    """Reap every exited child, as conmon and containerd's shim do for the containers' inits when
    they are child subreapers."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                return
        except ChildProcessError:
            return


def error_message(stderr: str) -> str:
    """The msg of the one logrus-style error line on stderr (`time=... level=error msg="..."`)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one error line, got: {stderr!r}"
    msg = lines[0].split(" msg=", 1)[1]
    return json.loads(msg) if msg.startswith('"') else msg


class Runtime:
    """Runs `oci-runtime --root <tmp> ...` and remembers the containers it created."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, check: bool = False, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Output goes through temp files, not pipes: a created container keeps its stdio open,
        so waiting for EOF on a pipe would wait for the container."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            kw.setdefault("stdout", out)
            kw.setdefault("stderr", err)
            proc = subprocess.run([OCI_RUNTIME, "--root", str(self.root), *args], text=True, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            proc.stdout = out.read() if kw["stdout"] is out else None
            proc.stderr = err.read() if kw["stderr"] is err else None
        if check and proc.returncode != 0:
            raise AssertionError(f"oci-runtime {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def state(self, container_id: str) -> dict:
        return json.loads(self("state", container_id, check=True).stdout)

    def ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".")) if self.root.exists() else []


@pytest.fixture
def runtime(tmp_path: Path):
    """A runtime with a private state root; at teardown every container is force-deleted and the
    test fails if state, mounts or processes of its containers remain."""
    rt = Runtime(tmp_path / "state")
    before = mountinfo()
    yield rt
    pids = []
    for cid in rt.ids():
        try:
            pids.append(rt.state(cid)["pid"])
        except (AssertionError, ValueError):
            pass
        rt("delete", "--force", cid)
    assert rt.ids() == [], "delete --force left state behind"
    assert not [p for p in os.listdir(rt.root) if p.startswith(".") and p != SECCOMP_CACHE] if rt.root.exists() else True
    for pid in pids:
        assert not pid or not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    assert mountinfo().count("\n") == before.count("\n"), "mounts leaked into the host mount namespace"


def busybox_config(*args: str) -> dict:
    """The demo bundle's config, running `args` (default: the demo script)."""
    config = json.loads(TEMPLATE.read_text())
    if args:
        config["process"]["args"] = list(args)
    return config


class Bundle:
    def __init__(self, path: Path, config: dict) -> None:
        self.path = path
        self.config = config

    def write(self) -> str:
        (self.path / "config.json").write_text(json.dumps(self.config))
        return str(self.path)


@pytest.fixture
def bundle(tmp_path: Path):
    """A bundle dir with a private copy of the busybox rootfs (mount points get created in it);
    edit `bundle.config`, then `bundle.write()` returns the bundle path."""
    if not (ROOTFS / "bin" / "busybox").exists():
        pytest.fail("bundles/busybox/rootfs is missing: run `make rootfs`")
    path = tmp_path / "bundle"
    path.mkdir()
    rootfs = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", str(ROOTFS), str(rootfs)], check=True)
    # A container root mapped by a user namespace must reach the rootfs, as with runc; pytest's
    # temp dirs are 0700, so open them for traversal.
    for parent in rootfs.parents:
        if parent == Path(tempfile.gettempdir()):
            break
        parent.chmod(parent.stat().st_mode | 0o711)
    config = busybox_config("true")
    config["root"]["path"] = str(rootfs)
    yield Bundle(path, config)
    # rm, not pytest's tmp cleanup: a container may leave a directory tree thousands deep
    # (a long cwd is made in the rootfs), which shutil.rmtree's recursion can't remove
    subprocess.run(["rm", "-rf", "--one-file-system", str(rootfs)], check=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty directory standing in for a rootfs, for unit tests of path-resolving appliers."""
    path = tmp_path / "rootfs"
    path.mkdir()
    return path


@pytest.fixture
def rootfd(root: Path):
    """An O_PATH fd of `root`, as the appliers receive the rootfs."""
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


@pytest.fixture
def restore_log():
    """The CLI configures the log module's globals (and may open a file): restore them."""
    saved = (log._fd, log._json, log._min_level)
    yield
    if log._fd != saved[0]:
        os.close(log._fd)
    log._fd, log._json, log._min_level = saved


class Written(io.StringIO):
    """A file opened for writing that records, on close, what was written in `files[path]`:
    what unit tests substitute for open() to see what an applier writes to /proc."""

    def __init__(self, path: str, files: dict[str, str]) -> None:
        super().__init__()
        self.path, self.files = path, files

    def close(self) -> None:
        self.files[self.path] = self.getvalue()
        super().close()
