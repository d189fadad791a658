"""A new network namespace (config-linux.md "Namespaces": network) starts with `lo` down;
bring it up as runc does, so 127.0.0.1 works in the container."""
import fcntl
import socket
import struct

from ..errors import OCIError, describe

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def apply(new_network_ns: bool) -> None:
    if not new_network_ns:
        return
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifreq = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0) + bytes(22))
            flags = struct.unpack_from("16sh", ifreq)[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP) + bytes(22))
    except OSError as e:
        raise OCIError(f"linux.namespaces: bringing up lo in the new network namespace: {describe(e)}") from None
