"""A new network namespace (config-linux.md "Namespaces": network) starts with `lo` down;
bring it up as runc does, so 127.0.0.1 works in the container."""
import _socket  # the socket module costs ~3 ms at import; one datagram socket is all we need here
import fcntl
import struct

from ..errors import OCIError, describe

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def apply(new_network_ns: bool) -> None:
    if not new_network_ns:
        return
    try:
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
        try:
            ifreq = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0) + bytes(22))
            flags = struct.unpack_from("16sh", ifreq)[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP) + bytes(22))
        finally:
            s.close()
    except OSError as e:
        raise OCIError(f"linux.namespaces: bringing up lo in the new network namespace: {describe(e)}") from None
