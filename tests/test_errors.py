"""Bad input and failed creates: one clear line naming the field, exit 1, no traceback, runc's
log format (text or JSON in --log), and no debris: no state dir, mount or process left."""
import json
import os
from pathlib import Path

import pytest

from conftest import error_message


def processes_running(exe_substring: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if exe_substring in (p / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(p.name))
            except OSError:
                continue
    return found


def assert_no_debris(runtime) -> None:
    assert runtime.ids() == []
    if runtime.root.exists():
        assert os.listdir(runtime.root) == [], "temporary state dirs left behind"
    assert processes_running(str(runtime.root)) == []


def test_missing_program_fails_create_with_runcs_wording(runtime, bundle):
    bundle.config["process"]["args"] = ["/bin/nonexistent"]
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    assert error_message(proc.stderr) == (
        'oci-runtime create failed: unable to start container process: exec: "/bin/nonexistent": '
        "stat /bin/nonexistent: no such file or directory")
    assert_no_debris(runtime)


def test_program_not_in_path(runtime, bundle):
    bundle.config["process"]["args"] = ["nosuchprog"]
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    assert 'exec: "nosuchprog": executable file not found in $PATH' in error_message(proc.stderr)
    assert_no_debris(runtime)


def test_schema_error_names_the_json_path(runtime, bundle):
    bundle.config["linux"]["namespaces"][2]["type"] = "pidd"
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    msg = error_message(proc.stderr)
    assert msg.startswith('config.json: linux.namespaces[2].type: "pidd" is not one of')
    assert "Traceback" not in proc.stderr
    assert_no_debris(runtime)


def test_missing_config_json(runtime, tmp_path):
    proc = runtime("create", "--bundle", str(tmp_path), "c1")
    assert proc.returncode == 1 and "no such file or directory" in error_message(proc.stderr)
    assert_no_debris(runtime)


def test_missing_rootfs(runtime, bundle, tmp_path):
    bundle.config["root"]["path"] = str(tmp_path / "nope")
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and error_message(proc.stderr).startswith("root.path: ")
    assert_no_debris(runtime)


def test_failed_mount_leaves_no_debris(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/mnt", "type": "nosuchfs", "source": "none"})
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    assert "error mounting" in error_message(proc.stderr) and "'/mnt'" in proc.stderr
    assert_no_debris(runtime)


def test_bind_mount_of_a_missing_source(runtime, bundle, tmp_path):
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(tmp_path / "nope"),
                                    "options": ["rbind"]})
    proc = runtime("create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and "no such file or directory" in error_message(proc.stderr)
    assert_no_debris(runtime)


def test_json_log_format_writes_one_error_object_to_the_log(runtime, bundle, tmp_path):
    """podman unmarshals the whole --log file as one object; containerd takes the last error's msg."""
    log = tmp_path / "log.json"
    bundle.config["process"]["args"] = ["/bin/nonexistent"]
    proc = runtime("--log", str(log), "--log-format", "json", "create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1
    entry = json.loads(log.read_text())
    assert set(entry) == {"level", "msg", "time"} and entry["level"] == "error"
    assert entry["msg"].endswith("stat /bin/nonexistent: no such file or directory")
    assert entry["time"].endswith("Z") or "+" in entry["time"]
    assert proc.stderr == entry["msg"] + "\n", "with --log, stderr gets the plain message (as runc)"
    assert_no_debris(runtime)


def test_text_log_format_to_a_file(runtime, tmp_path):
    log = tmp_path / "log"
    proc = runtime("--log", str(log), "state", "nope")
    assert proc.returncode == 1
    line = log.read_text()
    assert line.startswith('time="') and ' level=error msg="container nope does not exist"' in line


def test_invalid_json_is_one_line_without_traceback(runtime, bundle, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    proc = runtime("create", "--bundle", str(tmp_path / "bad"), "c1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "invalid JSON" in error_message(proc.stderr)


@pytest.mark.parametrize("args,expected", [
    (["create"], '"create" requires exactly 1 argument(s)'),
    (["kill"], '"kill" requires a minimum of 1 argument(s)'),
    (["create", "--nope", "x"], "flag provided but not defined: -nope"),
    (["--log-format", "xml", "list"], "invalid log-format: xml"),
    (["nosuchcommand"], "unknown command"),
])
def test_usage_errors(runtime, args, expected):
    proc = runtime(*args)
    assert proc.returncode == 1
    assert expected in error_message(proc.stderr)


def test_systemd_cgroup_flag_fails_clearly_without_systemd(runtime, bundle):
    if os.path.isdir("/run/systemd/system"):
        pytest.fail("this test expects a host without systemd (as CI is)")
    proc = runtime("--systemd-cgroup", "create", "--bundle", bundle.write(), "c1")
    assert proc.returncode == 1 and "systemd is not running" in error_message(proc.stderr)
    assert_no_debris(runtime)
