"""Unit tests of netdevices.py against the real kernel, never the host's interfaces.

Each test makes two throwaway network namespaces, "host" and "ctr", held only by file descriptors (no /run/netns
mounts): closing them destroys the namespaces and every virtual device in them, so nothing outlives a test even if
it fails. move() runs in a thread that joined "host" (setns of a network namespace is per thread, and move() takes
the calling thread's namespace as the host). What the tests observe they read with ioctls and /proc, not through
the module under test; links are dummies (ifb where the kernel has no dummy driver).
"""
import array
import errno
import fcntl
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from oci_runtime import netdevices, syscalls
from oci_runtime.errors import OCIError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")

CLONE_NEWNET = 0x40000000
RTM_NEWLINK, RTM_NEWADDR = 16, 20
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_INFO_KIND = 1, 3, 4, 18, 1
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_CACHEINFO = 1, 2, 3, 6
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
IFF_UP = 0x1
SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFNETMASK, SIOCGIFMTU, SIOCGIFHWADDR = 0x8912, 0x8913, 0x891B, 0x8921, 0x8927
PID = os.getpid() % 100000


# --- namespaces and threads ------------------------------------------------------------------------------------


def in_netns(ns_fd: int, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a thread that joined ns_fd; the thread ends with it."""
    out: list[Any] = []

    def run() -> None:
        try:
            syscalls.setns(ns_fd, CLONE_NEWNET)
            out.append((True, fn(*args)))
        except Exception as e:  # noqa: BLE001 (raised again in the caller's thread)
            out.append((False, e))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    ok, value = out[0]
    if not ok:
        raise value
    return value


def new_netns() -> int:
    """A fresh network namespace, alive as long as the returned fd is open."""
    out: list[Any] = []

    def run() -> None:
        syscalls.unshare(CLONE_NEWNET)
        out.append(os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


@dataclass
class Nets:
    host: int
    ctr: int

    def move(self, devices: dict) -> None:
        in_netns(self.host, netdevices.move, devices, self.ctr)


@pytest.fixture
def nets() -> Iterator[Nets]:
    n = Nets(new_netns(), new_netns())
    try:
        yield n
    finally:
        os.close(n.host)
        os.close(n.ctr)


# --- making links, without the module under test -----------------------------------------------------------------


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _rtnl(msg_type: int, body: bytes, create: bool = True) -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if create else 0)
        s.send(struct.pack("=IHHII", 16 + len(body), msg_type, flags, 1, 0) + body)
        reply = s.recv(65536)
        (err,) = struct.unpack_from("=i", reply, 16)
        if err:
            raise OSError(-err, os.strerror(-err))


def _add_link(name: str, mtu: int | None, mac: bytes | None, kinds: tuple[bytes, ...] = (b"dummy", b"ifb")) -> None:
    for kind in kinds:
        attrs = _attr(IFLA_IFNAME, name.encode() + b"\0") + _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, kind))
        attrs += _attr(IFLA_MTU, struct.pack("=I", mtu)) if mtu else b""
        attrs += _attr(IFLA_ADDRESS, mac) if mac else b""
        try:
            return _rtnl(RTM_NEWLINK, struct.pack("=BxHiII", 0, 0, 0, 0, 0) + attrs)
        except OSError as e:
            if e.errno != errno.EOPNOTSUPP:
                raise
    pytest.skip(f"the kernel has no {' or '.join(k.decode() for k in kinds)} links")


def _set_up(name: str) -> None:
    _rtnl(RTM_NEWLINK, struct.pack("=BxHiII", 0, 0, socket.if_nametoindex(name), IFF_UP, IFF_UP), create=False)


def _add_addr(name: str, cidr: str, scope: int, lifetime: int | None, label: str | None) -> None:
    iface = ipaddress.ip_interface(cidr)
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    attrs = _attr(IFA_LOCAL, iface.ip.packed) + _attr(IFA_ADDRESS, iface.ip.packed)
    attrs += _attr(IFA_CACHEINFO, struct.pack("=IIII", lifetime, lifetime, 0, 0)) if lifetime else b""
    attrs += _attr(IFA_LABEL, label.encode() + b"\0") if label else b""
    index = socket.if_nametoindex(name)
    _rtnl(RTM_NEWADDR, struct.pack("=BBBBI", family, iface.network.prefixlen, 0, scope, index) + attrs)


def add_link(ns: int, name: str, *, up: bool = False, mtu: int | None = None, mac: bytes | None = None,
             addrs: tuple[str, ...] = ()) -> None:
    """A virtual link in ns, with addresses ("cidr", or "cidr scope link", "cidr lifetime", "cidr label <l>")."""

    def make() -> None:
        _add_link(name, mtu, mac)
        if up:
            _set_up(name)
        for spec in addrs:
            cidr, *words = spec.split()
            _add_addr(name, cidr, RT_SCOPE_LINK if "link" in words else RT_SCOPE_UNIVERSE,
                      3600 if "lifetime" in words else None, words[-1] if "label" in words else None)

    in_netns(ns, make)


# --- observing, without the module under test --------------------------------------------------------------------


@dataclass
class Seen:
    """One link as ioctls and /proc show it."""

    flags: int
    mtu: int
    mac: bytes
    ipv4: dict[str, str] = field(default_factory=dict)  # address -> label
    ipv4_prefix: int | None = None  # of the primary address
    ipv6: set[str] = field(default_factory=set)  # "addr/len"

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


def _ifreq(s: socket.socket, request: int, name: str) -> bytes:
    return fcntl.ioctl(s.fileno(), request, struct.pack("16s24x", name.encode()))


def _look() -> dict[str, Seen]:
    links: dict[str, Seen] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            (flags,) = struct.unpack_from("H", _ifreq(s, SIOCGIFFLAGS, name), 16)
            (mtu,) = struct.unpack_from("i", _ifreq(s, SIOCGIFMTU, name), 16)
            mac = _ifreq(s, SIOCGIFHWADDR, name)[18:24]
            links[name] = Seen(flags, mtu, mac)
        buf = array.array("B", bytes(40 * 128))
        ifc = fcntl.ioctl(s.fileno(), SIOCGIFCONF, struct.pack("iiQ", len(buf), 0, buf.buffer_info()[0]))
        data = buf.tobytes()[: struct.unpack_from("i", ifc)[0]]
        for off in range(0, len(data), 40):
            label = data[off : off + 16].rstrip(b"\0").decode()
            address = socket.inet_ntoa(data[off + 20 : off + 24])
            links[label.split(":")[0]].ipv4[address] = label
        for name, seen in links.items():
            if seen.ipv4:
                try:
                    mask = socket.inet_ntoa(_ifreq(s, SIOCGIFNETMASK, name)[20:24])
                except OSError:
                    continue
                seen.ipv4_prefix = ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen
    with open("/proc/thread-self/net/if_inet6") as f:
        for line in f:
            hexaddr, _index, plen, _scope, _flags, name = line.split()
            links[name].ipv6.add(f"{ipaddress.IPv6Address(bytes.fromhex(hexaddr))}/{int(plen, 16)}")
    return links


def look(ns: int) -> dict[str, Seen]:
    """Every link in ns by name."""
    return in_netns(ns, _look)


def names(ns: int) -> set[str]:
    return set(look(ns))


# --- move --------------------------------------------------------------------------------------------------------

A, B = f"ot{PID}a", f"ot{PID}b"


def test_device_leaves_the_host_and_appears_in_the_container_under_its_new_name(nets: Nets) -> None:
    add_link(nets.host, A)
    nets.move({A: {"name": "ctr0"}})
    assert names(nets.host) == {"lo"}
    assert names(nets.ctr) == {"lo", "ctr0"}


def test_without_a_name_the_device_keeps_its_host_name(nets: Nets) -> None:
    add_link(nets.host, A)
    add_link(nets.host, B)
    nets.move({A: {}, B: {"name": ""}})
    assert names(nets.ctr) == {"lo", A, B}


def test_a_name_ending_in_percent_d_is_numbered_by_the_kernel(nets: Nets) -> None:
    add_link(nets.ctr, "eth0")  # taken in the container: the kernel picks the next free number
    add_link(nets.host, A)
    add_link(nets.host, B)
    nets.move({A: {"name": "eth%d"}, B: {"name": "eth%d"}})
    assert names(nets.ctr) == {"lo", "eth0", "eth1", "eth2"}
    assert names(nets.host) == {"lo"}


def test_attributes_and_permanent_global_addresses_are_kept(nets: Nets) -> None:
    mac = bytes.fromhex("02aabbccdd01")
    add_link(nets.host, A, up=True, mtu=1400, mac=mac,
             addrs=("192.0.2.1/24", f"192.0.2.2/24 label {A}:web", "2001:db8::1/64",
                    "169.254.7.7/16 scope link", "2001:db8:1::5/64 lifetime", "198.51.100.9/24 lifetime"))
    nets.move({A: {"name": "ctr0"}})
    seen = look(nets.ctr)["ctr0"]
    assert (seen.mtu, seen.mac) == (1400, mac)
    assert seen.ipv4 == {"192.0.2.1": "ctr0", "192.0.2.2": "ctr0:web"}  # not the link-scope nor the dynamic one
    assert seen.ipv4_prefix == 24
    assert "2001:db8::1/64" in seen.ipv6
    assert "2001:db8:1::5/64" not in seen.ipv6


def test_the_device_is_up_in_the_container(nets: Nets) -> None:
    add_link(nets.host, A, up=False, addrs=("192.0.2.1/24",))
    assert not look(nets.host)[A].up
    nets.move({A: {"name": "ctr0"}})
    assert look(nets.ctr)["ctr0"].up


def test_a_missing_device_is_an_error_naming_the_entry_and_nothing_moves(nets: Nets) -> None:
    add_link(nets.host, A)
    with pytest.raises(OCIError, match=rf"^linux\.netDevices\.{B}: no such network device on the host$"):
        nets.move({A: {}, B: {}})
    assert names(nets.host) == {"lo", A}
    assert names(nets.ctr) == {"lo"}


def test_a_name_taken_in_the_container_is_an_error_and_nothing_moves(nets: Nets) -> None:
    add_link(nets.host, A, up=True, addrs=("192.0.2.1/24",))
    add_link(nets.host, B)
    with pytest.raises(OCIError, match=rf"^linux\.netDevices\.{B}: a network device named lo already exists"):
        nets.move({A: {"name": "ctr0"}, B: {"name": "lo"}})
    host = look(nets.host)
    assert set(host) == {"lo", A, B}
    assert host[A].up and host[A].ipv4 == {"192.0.2.1": A}
    assert names(nets.ctr) == {"lo"}


def test_a_clash_the_kernel_finds_after_moving_puts_the_device_back(nets: Nets, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name gets taken between the check and the move: the kernel moves the device, then fails the rename."""
    add_link(nets.host, A, up=True, mtu=1300, addrs=("192.0.2.1/24", "2001:db8::1/64"))
    real = netdevices._move_one

    def racing(*args: Any) -> None:
        add_link(nets.ctr, "late0")
        real(*args)

    monkeypatch.setattr(netdevices, "_move_one", racing)
    with pytest.raises(OCIError, match=rf"^linux\.netDevices\.{A}: cannot move .* as late0: file exists$"):
        nets.move({A: {"name": "late0"}})
    assert names(nets.ctr) == {"lo", "late0"}
    back = look(nets.host)[A]
    assert back.up and back.mtu == 1300
    assert back.ipv4 == {"192.0.2.1": A} and "2001:db8::1/64" in back.ipv6


def test_a_partial_failure_moves_back_what_was_moved(nets: Nets, monkeypatch: pytest.MonkeyPatch) -> None:
    add_link(nets.host, A, up=True, addrs=("192.0.2.1/24", "2001:db8::1/64"))
    add_link(nets.host, B, up=False, addrs=("198.51.100.2/24",))
    real = netdevices.Rtnl.add_address
    failed: list[str] = []

    def add_address(self: netdevices.Rtnl, index: int, addr: netdevices.Address, label: str | None = None) -> None:
        if str(addr) == "198.51.100.2/24" and not failed:  # B's address, in the container, the first time
            failed.append(str(addr))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(self, index, addr, label)

    monkeypatch.setattr(netdevices.Rtnl, "add_address", add_address)
    with pytest.raises(OCIError, match=rf"^linux\.netDevices\.{B}: cannot restore address 198\.51\.100\.2/24 on n1: "):
        nets.move({A: {"name": "n0"}, B: {"name": "n1"}})
    assert failed
    assert names(nets.ctr) == {"lo"}
    host = look(nets.host)
    assert set(host) == {"lo", A, B}
    assert host[A].up and host[A].ipv4 == {"192.0.2.1": A} and "2001:db8::1/64" in host[A].ipv6
    assert not host[B].up and host[B].ipv4 == {"198.51.100.2": B}


def test_loopback_cannot_move(nets: Nets) -> None:
    with pytest.raises(OCIError, match=r"^linux\.netDevices\.lo: the device cannot leave its network namespace"):
        nets.move({"lo": {"name": "lo2"}})
    assert names(nets.ctr) == {"lo"}


def test_a_device_bound_to_its_namespace_is_an_error_and_stays(nets: Nets) -> None:
    """A bridge may not change namespace: Linux 6.15+ says so in RTM_GETLINK (checked before anything moves), older
    kernels refuse the move (and what moved before goes back)."""
    add_link(nets.host, A)
    in_netns(nets.host, _add_link, B, None, None, (b"bridge",))
    with pytest.raises(OCIError, match=rf"^linux\.netDevices\.{B}: "):
        nets.move({A: {}, B: {}})
    assert names(nets.host) == {"lo", A, B}
    assert names(nets.ctr) == {"lo"}


def test_the_runtimes_own_namespace_is_refused(nets: Nets) -> None:
    add_link(nets.host, A)
    with pytest.raises(OCIError, match=r"^linux\.netDevices: the container's network namespace is the runtime's own"):
        in_netns(nets.host, netdevices.move, {A: {}}, nets.host)
    assert names(nets.host) == {"lo", A}


def test_nothing_to_move_touches_nothing() -> None:
    netdevices.move({}, -1)
    netdevices.move(None, -1)


# --- check -------------------------------------------------------------------------------------------------------


def test_check_needs_a_network_namespace_of_the_containers_own() -> None:
    with pytest.raises(OCIError, match=r"^linux\.netDevices: needs a network namespace of the container's own"):
        netdevices.check({"eth0": {}}, has_own_netns=False)
    netdevices.check({}, has_own_netns=False)
    netdevices.check(None, has_own_netns=False)
    netdevices.check({"eth0": {}, "eth1": {"name": "c1"}, "eth2": {"name": "net%d"}}, has_own_netns=True)


@pytest.mark.parametrize("devices, message", [
    ({"a/b": {}}, r"linux\.netDevices\.a/b: host device name 'a/b' contains '/', ':' or white space"),
    ({"eth0": {"name": "a b"}}, r"linux\.netDevices\.eth0\.name: 'a b' contains '/', ':' or white space"),
    ({"eth0": {"name": "x" * 16}}, r"linux\.netDevices\.eth0\.name: 'x{16}' is longer than 15 bytes"),
    ({"eth0": {"name": ".."}}, r"linux\.netDevices\.eth0\.name: '\.\.' is not a valid device name"),
    ({"eth0": {"name": "e%s"}}, r"linux\.netDevices\.eth0\.name: 'e%s' may contain '%' only as one '%d'"),
    ({"eth0": {"name": "e%d%d"}}, r"linux\.netDevices\.eth0\.name: 'e%d%d' may contain '%' only as one '%d'"),
    ({"e%d": {}}, r"linux\.netDevices\.e%d: host device name 'e%d' contains '%'"),
    ({"eth0": {"name": "c0"}, "eth1": {"name": "c0"}},
     r"linux\.netDevices\.eth1: name 'c0' is also given to linux\.netDevices\.eth0"),
    ({"eth0": {}, "eth1": {"name": "eth0"}},
     r"linux\.netDevices\.eth1: name 'eth0' is also given to linux\.netDevices\.eth0"),
])
def test_check_rejects_names_the_kernel_would(devices: dict, message: str) -> None:
    with pytest.raises(OCIError, match=f"^{message}$"):
        netdevices.check(devices, has_own_netns=True)
