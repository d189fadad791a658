"""linux.netDevices and linux.intelRdt on real containers (the modules' own unit tests are
test_unit_netdevices.py and test_unit_intelrdt.py, on throwaway namespaces and a fake resctrl)."""
import subprocess
from pathlib import Path

from conftest import OCI_RUNTIME, error_message


def test_net_devices_are_moved_into_the_container_up_with_their_addresses(runtime, bundle):
    """config-linux.md "Network Devices", end to end: create moves the host device into the
    container's network namespace under its new name, with its address, up. The whole run happens
    in a throwaway network namespace (unshare -n) holding an ifb link, so the host's are untouched
    (this kernel has no dummy driver)."""
    bundle.config["linux"]["netDevices"] = {"oci-nd0": {"name": "ctr0"}}
    bundle.config["process"]["args"] = ["sh", "-c", "ip -o addr show dev ctr0; ip -o link show dev ctr0"]
    script = ("ip link add oci-nd0 type ifb && ip addr add 192.0.2.7/24 dev oci-nd0 && "
              '"$0" --root "$1" run --bundle "$2" nd1; echo "host: $(ip -o link show | grep -c oci-nd0)"')
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script, OCI_RUNTIME, str(runtime.root), bundle.write()],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "inet 192.0.2.7/24" in proc.stdout and "ctr0" in proc.stdout, proc.stdout
    assert ",UP" in proc.stdout, proc.stdout
    assert proc.stdout.strip().endswith("host: 0"), proc.stdout  # moved, not copied


def test_net_devices_naming_a_missing_device_fail_create(runtime, bundle):
    bundle.config["linux"]["netDevices"] = {"oci-nope0": {}}
    proc = runtime("create", "--bundle", bundle.write(), "nd2")
    assert proc.returncode == 1
    assert error_message(proc.stderr) == "linux.netDevices.oci-nope0: no such network device on the host"
    assert runtime.ids() == []


def test_intel_rdt_without_resctrl_fails_create_naming_the_field(runtime, bundle):
    """config-linux.md "IntelRdt": no resctrl mounted (as on this machine) MUST be an error."""
    assert " resctrl " not in Path("/proc/self/mountinfo").read_text()
    bundle.config["linux"]["intelRdt"] = {"closID": "guaranteed_group"}
    proc = runtime("create", "--bundle", bundle.write(), "rdt")
    assert proc.returncode == 1
    assert error_message(proc.stderr).startswith("linux.intelRdt: no resctrl filesystem is mounted")
    assert runtime.ids() == []
