"""linux.netDevices: move host network devices into the container's network namespace (config-linux.md).

The runtime (the parent) calls move() once the container's init exists in a network namespace of its own and before
the container's program runs. It speaks rtnetlink over NETLINK_ROUTE sockets from the `socket` module (no iproute2,
no pyroute2). A netlink socket talks to the network namespace it was created in, so move() holds two: one in the
calling thread's namespace (the "host") and one made inside the container's by a throwaway thread that setns()es
there first (setns of a network namespace changes only the calling thread, so the runtime itself never moves).

Per device: look it up on the host and remember its permanent global addresses (the kernel flushes addresses when a
device changes namespace; MTU, MAC and the like travel with it), move and rename it in one RTM_NEWLINK (a name
ending in %d is expanded by the kernel), restore the addresses and set it up. Everything that can be checked is
checked before anything moves; if a later step fails, what was moved goes back under its host name with its
addresses and up/down state, so a failed create leaves the host as it was. Once the container runs, the devices are
the namespace owner's business (the spec forbids moving them back when the container goes).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Self, TypeVar

from . import syscalls
from .errors import OCIError, describe

T = TypeVar("T")
CLONE_NEWNET = getattr(syscalls, "CLONE_NEWNET", 0x40000000)

# linux/netlink.h
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
# linux/rtnetlink.h
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
RT_SCOPE_UNIVERSE = 0
# linux/if_link.h
IFLA_IFNAME = 3
IFLA_NET_NS_FD = 28
IFLA_NETNS_IMMUTABLE = 67  # Linux 6.15+: the device may not change namespace (bridges, loopback, vrf...)
# linux/if_addr.h
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_FLAGS = 8
IFA_RT_PRIORITY = 9
IFA_PROTO = 11
IFA_F_NODAD = 0x02
IFA_F_HOMEADDRESS = 0x10
IFA_F_PERMANENT = 0x80
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
# linux/if.h
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFNAMSIZ = 16

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type
# attributes of an address that are copied as they are; IFA_LABEL is rewritten for the new name, IFA_CACHEINFO
# (lifetimes) is left out since only permanent addresses move
_KEPT_ADDRESS_ATTRS = (IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_RT_PRIORITY, IFA_PROTO)
# address flags a user sets (the rest is state the kernel keeps: tentative, deprecated, permanent...)
_KEPT_ADDRESS_FLAGS = IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE | IFA_F_MCAUTOJOIN


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, data: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    raw = _RTATTR.pack(_RTATTR.size + len(data), kind) + data
    return raw + b"\0" * (_align(len(raw)) - len(raw))


def _attrs(buf: bytes, offset: int) -> dict[int, bytes]:
    """The rtattrs of a message from offset on, by type (nesting and byte-order bits masked off)."""
    found: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(buf):
        length, kind = _RTATTR.unpack_from(buf, offset)
        if length < _RTATTR.size:
            break
        found[kind & 0x3FFF] = buf[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    return found


def _cstr(name: str) -> bytes:
    return name.encode() + b"\0"


@dataclass
class Link:
    """What RTM_GETLINK says about one network device."""

    index: int
    name: str
    flags: int
    netns_immutable: bool = False


@dataclass
class Address:
    """One address of a device as RTM_GETADDR reports it, enough to add it again elsewhere."""

    family: int
    prefixlen: int
    flags: int
    scope: int
    attrs: dict[int, bytes] = field(default_factory=dict)

    def __str__(self) -> str:
        raw = self.attrs.get(IFA_LOCAL) or self.attrs.get(IFA_ADDRESS, b"")
        return f"{ipaddress.ip_address(raw) if len(raw) in (4, 16) else raw.hex()}/{self.prefixlen}"


class Rtnl:
    """A NETLINK_ROUTE socket: requests and replies in the network namespace the socket was created in."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    @classmethod
    def inside(cls, netns_fd: int) -> Rtnl:
        """A socket in the network namespace netns_fd; the thread that enters it ends right after, so no other
        code ever runs there."""
        made: list[Rtnl | Exception] = []

        def enter_and_open() -> None:
            try:
                syscalls.setns(netns_fd, CLONE_NEWNET)
                made.append(cls())
            except Exception as e:  # noqa: BLE001 (handed to the caller's thread)
                made.append(e)

        worker = threading.Thread(target=enter_and_open, name="netns-socket")
        worker.start()
        worker.join()
        if isinstance(made[0], Exception):
            raise made[0]
        return made[0]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, body: bytes, flags: int = 0) -> list[bytes]:
        """Send one request and return the payloads of its replies; an error reply raises OSError. A dump that the
        kernel reports as interrupted (the table changed meanwhile) is asked again."""
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        for _attempt in range(5):
            self.seq += 1
            flags |= NLM_F_REQUEST | NLM_F_ACK
            self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, self.seq, 0) + body)
            replies, interrupted = self._replies()
            if not (dump and interrupted):
                return replies
        return replies

    def _replies(self) -> tuple[list[bytes], bool]:
        replies: list[bytes] = []
        interrupted = False
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                payload = data[offset + _NLMSGHDR.size : offset + length]
                offset += _align(max(length, _NLMSGHDR.size))
                if seq != self.seq:
                    continue  # a late reply to an earlier request
                interrupted |= bool(flags & NLM_F_DUMP_INTR)
                if kind == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return replies, interrupted
                if kind == NLMSG_DONE:
                    return replies, interrupted
                replies.append(payload)

    @staticmethod
    def _link(payload: bytes) -> Link:
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload)
        attrs = _attrs(payload, _IFINFOMSG.size)
        name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
        return Link(index, name, flags, attrs.get(IFLA_NETNS_IMMUTABLE, b"\0")[:1] != b"\0")

    def link(self, name: str = "", index: int = 0) -> Link | None:
        """The device with this name or index, or None when there is none."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0) + (_attr(IFLA_IFNAME, _cstr(name)) if name else b"")
        try:
            replies = self.request(RTM_GETLINK, body)
        except OSError as e:
            if e.errno == errno.ENODEV:
                return None
            raise
        return self._link(replies[0]) if replies else None

    def links(self) -> list[Link]:
        return [self._link(p) for p in self.request(RTM_GETLINK, _IFINFOMSG.pack(0, 0, 0, 0, 0), NLM_F_DUMP)]

    def addresses(self, index: int) -> list[Address]:
        """Every address of the device, in the kernel's order (for IPv4 that keeps the primary first)."""
        found = []
        for payload in self.request(RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), NLM_F_DUMP):
            family, prefixlen, flags, scope, ifindex = _IFADDRMSG.unpack_from(payload)
            if ifindex != index:
                continue
            attrs = _attrs(payload, _IFADDRMSG.size)
            if IFA_FLAGS in attrs:  # the 32-bit flags; ifa_flags holds only the low 8
                (flags,) = struct.unpack("=I", attrs[IFA_FLAGS])
            found.append(Address(family, prefixlen, flags, scope, attrs))
        return found

    def add_address(self, index: int, addr: Address, label: str | None = None) -> None:
        attrs = b"".join(_attr(k, addr.attrs[k]) for k in _KEPT_ADDRESS_ATTRS if k in addr.attrs)
        attrs += _attr(IFA_FLAGS, struct.pack("=I", addr.flags & _KEPT_ADDRESS_FLAGS))
        if label:
            attrs += _attr(IFA_LABEL, _cstr(label))
        body = _IFADDRMSG.pack(addr.family, addr.prefixlen, addr.flags & _KEPT_ADDRESS_FLAGS & 0xFF, addr.scope, index)
        self.request(RTM_NEWADDR, body + attrs, NLM_F_CREATE | NLM_F_EXCL)

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP))

    def move(self, index: int, netns_fd: int, name: str) -> None:
        """Move the device into netns_fd and name it there, in one request (the name may be a %d template)."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
        body += _attr(IFLA_IFNAME, _cstr(name)) + _attr(IFLA_NET_NS_FD, struct.pack("=I", netns_fd))
        self.request(RTM_NEWLINK, body)


# --- config checks ---------------------------------------------------------------------------------------------


def _name_problem(name: str, template: bool) -> str | None:
    """Why the kernel would refuse name as a device name (dev_valid_name and dev_alloc_name in net/core/dev.c)."""
    if not name:
        return "is empty"
    if len(name.encode()) >= IFNAMSIZ:
        return f"is longer than {IFNAMSIZ - 1} bytes"
    if name in (".", ".."):
        return "is not a valid device name"
    if any(c in "/:" or c.isspace() for c in name):
        return "contains '/', ':' or white space"
    if "%" in name:
        if not template:
            return "contains '%'"
        if name.count("%") > 1 or "%d" not in name:
            return "may contain '%' only as one '%d'"
    return None


def _entries(net_devices: Mapping[str, object]) -> list[tuple[str, str]]:
    """(host name, name in the container) of each entry, checked: names valid, no two entries on one name."""
    entries: list[tuple[str, str]] = []
    taken: dict[str, str] = {}
    for host_name, settings in net_devices.items():
        where = f"linux.netDevices.{host_name}"
        problem = _name_problem(host_name, template=False)
        if problem:
            raise OCIError(f"{where}: host device name {host_name!r} {problem}")
        if not isinstance(settings, Mapping):
            raise OCIError(f"{where}: must be an object")
        new_name = settings.get("name") or host_name  # an empty name means "keep the host name", as in runc
        if not isinstance(new_name, str):
            raise OCIError(f"{where}.name: must be a string")
        problem = _name_problem(new_name, template=True)
        if problem:
            raise OCIError(f"{where}.name: {new_name!r} {problem}")
        if "%" not in new_name:
            if new_name in taken:
                raise OCIError(f"{where}: name {new_name!r} is also given to linux.netDevices.{taken[new_name]}")
            taken[new_name] = host_name
        entries.append((host_name, new_name))
    return entries


def check(net_devices: Mapping[str, object] | None, has_own_netns: bool) -> None:
    """Config-time checks, before anything exists: the devices need a network namespace of the container's own to go
    to (has_own_netns: linux.namespaces has a `network` entry), and every name must be one the kernel accepts."""
    if not net_devices:
        return
    if not has_own_netns:
        raise OCIError("linux.netDevices: needs a network namespace of the container's own (linux.namespaces)")
    _entries(net_devices)


# --- moving ----------------------------------------------------------------------------------------------------


@dataclass
class _Device:
    """One entry, looked up on the host before anything moves."""

    host_name: str
    new_name: str
    link: Link
    addresses: list[Address]

    @property
    def where(self) -> str:
        return f"linux.netDevices.{self.host_name}"


def _label(addr: Address, old_name: str, new_name: str) -> str | None:
    """An IPv4 label such as "eth0:web" follows the device's new name; a plain one is the kernel's default."""
    raw = addr.attrs.get(IFA_LABEL, b"").rstrip(b"\0").decode(errors="replace")
    if raw.startswith(old_name + ":") and len((new_name + raw[len(old_name) :]).encode()) < IFNAMSIZ:
        return new_name + raw[len(old_name) :]
    return None


def _inspect(host: Rtnl, ctr: Rtnl, host_name: str, new_name: str) -> _Device:
    """Check that the move is possible, before anything moves: the device exists, may leave the host's namespace,
    and its name is free in the container's."""
    where = f"linux.netDevices.{host_name}"
    link = host.link(host_name)
    if link is None:
        raise OCIError(f"{where}: no such network device on the host")
    if link.flags & IFF_LOOPBACK or link.netns_immutable:  # older kernels say so only when asked to move it
        raise OCIError(f"{where}: the device cannot leave its network namespace (netns-immutable)")
    if "%" not in new_name and ctr.link(new_name) is not None:
        raise OCIError(f"{where}: a network device named {new_name} already exists in the container")
    addresses = [a for a in host.addresses(link.index) if a.flags & IFA_F_PERMANENT and a.scope == RT_SCOPE_UNIVERSE]
    return _Device(host_name, new_name, link, addresses)


def _move_one(host: Rtnl, ctr: Rtnl, netns_fd: int, dev: _Device, moved: list[tuple[_Device, int]]) -> None:
    """Move, rename, re-address and set up one device; it goes on `moved` (with its index in the container) as soon
    as it has left the host, even if the kernel then failed the rename, so that a rollback finds it."""
    before = {link.index for link in ctr.links()}
    try:
        host.move(dev.link.index, netns_fd, dev.new_name)
    except OSError as e:
        failure: OSError | None = e
    else:
        failure = None
    arrived = [link for link in ctr.links() if link.index not in before]
    if arrived:
        moved.append((dev, arrived[0].index))
    if failure is not None:
        raise OCIError(
            f"{dev.where}: cannot move into the container's network namespace as {dev.new_name}: {describe(failure)}"
        ) from failure
    if not arrived:
        raise OCIError(f"{dev.where}: not found in the container's network namespace after the move")
    index, name = arrived[0].index, arrived[0].name
    for addr in dev.addresses:
        try:
            ctr.add_address(index, addr, _label(addr, dev.host_name, name))
        except OSError as e:
            raise OCIError(f"{dev.where}: cannot restore address {addr} on {name}: {describe(e)}") from e
    try:
        ctr.set_up(index)
    except OSError as e:
        raise OCIError(f"{dev.where}: cannot set {name} up: {describe(e)}") from e


def _move_back(host: Rtnl, ctr: Rtnl, host_fd: int, dev: _Device, index: int) -> None:
    """Undo one move: back to the host under its host name, with its addresses and its up/down state."""
    ctr.move(index, host_fd, dev.host_name)
    link = host.link(dev.host_name)
    if link is None:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
    for addr in dev.addresses:
        try:
            host.add_address(link.index, addr, _label(addr, dev.host_name, dev.host_name))
        except FileExistsError:
            pass
    if dev.link.flags & IFF_UP:
        host.set_up(link.index)


def move(net_devices: Mapping[str, object] | None, netns_fd: int) -> None:
    """Move each linux.netDevices entry from the calling thread's network namespace into netns_fd (an fd of the
    container's /proc/<pid>/ns/net), renamed, with its permanent global addresses, and up. Raises OCIError naming
    linux.netDevices.<name>; by then every device already moved has been moved back."""
    if not net_devices:
        return
    # entries with a fixed name go first, so that a %d template cannot take a name another entry asks for
    entries = sorted(_entries(net_devices), key=lambda entry: "%" in entry[1])
    host_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(host_fd).st_ino == os.fstat(netns_fd).st_ino:
            raise OCIError("linux.netDevices: the container's network namespace is the runtime's own")
        with _step("linux.netDevices", Rtnl) as host, _step("linux.netDevices", Rtnl.inside, netns_fd) as ctr:
            devices = [_step(f"linux.netDevices.{h}", _inspect, host, ctr, h, n) for h, n in entries]
            moved: list[tuple[_Device, int]] = []
            try:
                for dev in devices:
                    _step(dev.where, _move_one, host, ctr, netns_fd, dev, moved)
            except OCIError as e:
                left = []
                for dev, index in reversed(moved):
                    try:
                        _move_back(host, ctr, host_fd, dev, index)
                    except OSError as undo:
                        left.append(f"{dev.host_name} ({describe(undo)})")
                if left:
                    raise OCIError(f"{e}; could not move back to the host: {', '.join(left)}") from e
                raise
    finally:
        os.close(host_fd)


def _step(where: str, fn: Callable[..., T], *args: object) -> T:
    """fn(*args), with a netlink failure that fn does not explain reported against the entry it concerns."""
    try:
        return fn(*args)
    except OSError as e:
        raise OCIError(f"{where}: {describe(e)}") from e
