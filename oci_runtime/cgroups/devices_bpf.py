"""The cgroup v2 device controller: a BPF_PROG_TYPE_CGROUP_DEVICE program built from
linux.resources.devices, loaded with bpf(BPF_PROG_LOAD) and attached to the cgroup directory.

Semantics (runc's, see config-linux.md "Allowed Device Access"): access is denied unless a rule
allows it, and the LAST rule matching a device and an access bit decides it. The program therefore
checks the rules in reverse order, keeping in R3 the access bits (r/w/m) of the request that no rule
has decided yet: an allow rule clears the bits it grants (and allows once none is left), a deny
rule that matches any pending bit denies. A request with no deciding rule is denied.

As runc, a rule of type "a" (or without type) matches every device and every access whatever its
major, minor and access, and an empty access is an error. runc additionally rejects deny rules that
"punch a hole" in an earlier wildcard allow (a cgroup v1 limitation it emulates); the per-bit
evaluation here needs no such restriction.

Instructions are encoded here (struct bpf_insn); the shim only provides bpf(2).
"""
import errno
import fcntl
import os
import struct

from .. import syscalls
from ..errors import OCIError

# bpf(2) commands, program type, attach type and flags (linux/bpf.h)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

# struct bpf_cgroup_dev_ctx: u32 access_type (type in the low 16 bits, access in the high 16),
# u32 major, u32 minor
BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2
ACCESS_BITS = {"r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE, "m": BPF_DEVCG_ACC_MKNOD}
ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD
DEVICE_TYPES = {"c": BPF_DEVCG_DEV_CHAR, "b": BPF_DEVCG_DEV_BLOCK}

LICENSE = "Apache"  # no GPL-only helper is called; runc uses the same string

# Opcodes (linux/bpf_common.h, linux/bpf.h)
LDX_MEM_W = 0x61      # BPF_LDX | BPF_MEM | BPF_W:   dst = *(u32 *)(src + off)
ALU32_AND_K = 0x54    # BPF_ALU | BPF_AND | BPF_K:   dst &= imm
ALU32_RSH_K = 0x74    # BPF_ALU | BPF_RSH | BPF_K:   dst >>= imm
ALU32_MOV_K = 0xB4    # BPF_ALU | BPF_MOV | BPF_K:   dst = imm
ALU32_MOV_X = 0xBC    # BPF_ALU | BPF_MOV | BPF_X:   dst = src
JMP32_JNE_K = 0x56    # BPF_JMP32 | BPF_JNE | BPF_K: if (u32)dst != (u32)imm goto pc + 1 + off
JMP32_JEQ_K = 0x16    # BPF_JMP32 | BPF_JEQ | BPF_K: if (u32)dst == (u32)imm goto pc + 1 + off
JMP_EXIT = 0x95       # BPF_JMP | BPF_EXIT:          return r0

R0, R1, R2, R3, R4, R5 = range(6)
INSN = struct.Struct("<BBhi")  # code, dst_reg:4 | src_reg:4 << 4, off, imm (little-endian host)
NEXT = object()  # placeholder offset: "the first instruction of the next block"


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return INSN.pack(code, dst | (src << 4), off, imm)


def decode(program: bytes) -> list[tuple[int, int, int, int, int]]:
    """The instructions of an encoded program as (code, dst, src, off, imm) tuples."""
    out = []
    for i in range(0, len(program), INSN.size):
        code, regs, off, imm = INSN.unpack_from(program, i)
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


class Rule:
    """One linux.resources.devices entry, validated; major/minor None means any."""

    def __init__(self, allow: bool, type: str, major: int | None, minor: int | None, access: int) -> None:
        self.allow, self.type, self.major, self.minor, self.access = allow, type, major, minor, access

    @classmethod
    def from_spec(cls, entry: dict, field: str) -> "Rule":
        if not isinstance(entry.get("allow"), bool):
            raise OCIError(f"{field}.allow: must be true or false")
        dtype = entry.get("type") or "a"
        if dtype not in ("a", "c", "b"):
            raise OCIError(f"{field}.type: {dtype!r} is not one of a, c, b")
        access = entry.get("access") or ""
        if not access:
            raise OCIError(f"{field}.access: cannot be empty")
        bits = 0
        for ch in access:
            if ch not in ACCESS_BITS:
                raise OCIError(f"{field}.access: {access!r} may only contain r, w and m")
            bits |= ACCESS_BITS[ch]
        numbers = []
        for key in ("major", "minor"):
            value = entry.get(key)
            if value is None or value == -1:
                numbers.append(None)
            elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
                numbers.append(value)
            else:
                raise OCIError(f"{field}.{key}: {value!r} is not a device number (or -1 for any)")
        return cls(entry["allow"], dtype, numbers[0], numbers[1], bits)


def parse_rules(devices: list[dict], field: str = "linux.resources.devices") -> list[Rule]:
    return [Rule.from_spec(d, f"{field}[{i}]") for i, d in enumerate(devices)]


def _block(rule: Rule) -> list:
    """The instructions of one rule; NEXT marks jumps to the next (earlier) rule."""
    out = []
    if rule.type != "a":
        out.append((JMP32_JNE_K, R2, 0, NEXT, DEVICE_TYPES[rule.type]))
        if rule.major is not None:
            out.append((JMP32_JNE_K, R4, 0, NEXT, _s32(rule.major)))
        if rule.minor is not None:
            out.append((JMP32_JNE_K, R5, 0, NEXT, _s32(rule.minor)))
    access = ALL_ACCESS if rule.type == "a" else rule.access
    if rule.allow:
        if access != ALL_ACCESS:
            out += [(ALU32_AND_K, R3, 0, 0, ~access & 0xFFFF),   # the bits still undecided
                    (JMP32_JNE_K, R3, 0, NEXT, 0)]
        out += [(ALU32_MOV_K, R0, 0, 0, 1), (JMP_EXIT, 0, 0, 0, 0)]
    else:
        if access != ALL_ACCESS:
            out += [(ALU32_MOV_X, R1, R3, 0, 0),
                    (ALU32_AND_K, R1, 0, 0, access),                # pending bits this rule denies
                    (JMP32_JEQ_K, R1, 0, NEXT, 0)]
        out += [(ALU32_MOV_K, R0, 0, 0, 0), (JMP_EXIT, 0, 0, 0, 0)]
    return out


def _s32(value: int) -> int:
    """A u32 as the signed imm field (JMP32 compares the low 32 bits)."""
    return value - (1 << 32) if value > 0x7FFFFFFF else value


def build_program(rules: list[Rule]) -> bytes:
    """The encoded program for rules (in config order)."""
    prologue = [
        (LDX_MEM_W, R2, R1, 0, 0), (ALU32_AND_K, R2, 0, 0, 0xFFFF),   # R2 = device type
        (LDX_MEM_W, R3, R1, 0, 0), (ALU32_RSH_K, R3, 0, 0, 16),       # R3 = requested access
        (LDX_MEM_W, R4, R1, 4, 0),                                     # R4 = major
        (LDX_MEM_W, R5, R1, 8, 0),                                     # R5 = minor
    ]
    code = b"".join(insn(c, d, s, o, i) for c, d, s, o, i in prologue)
    final = [(ALU32_MOV_K, R0, 0, 0, 0), (JMP_EXIT, 0, 0, 0, 0)]     # nothing decided: deny
    for rule in reversed(rules):
        block = _block(rule)
        for n, (c, d, s, o, i) in enumerate(block):
            code += insn(c, d, s, len(block) - n - 1 if o is NEXT else o, i)
        if rule.type == "a":   # matches everything: earlier rules are never reached
            final = []
            break
    return code + b"".join(insn(*i) for i in final)


def _fd_from(ret: int) -> int:
    """bpf(2) treats fd 0 as "none": never keep a program fd there."""
    if ret != 0:
        return ret
    fd = fcntl.fcntl(ret, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(ret)
    return fd


def load(program: bytes) -> int:
    """BPF_PROG_LOAD the program; returns its fd. On failure, the verifier log is in the error."""
    insns = syscalls.CBuffer(program)
    license = syscalls.CBuffer(LICENSE.encode())
    log = syscalls.CBuffer(1)
    for attempt in range(2):
        if attempt:
            log = syscalls.CBuffer(1 << 16)
        attr = bytearray(struct.pack("<IIQQIIQ", BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // INSN.size,
                                     insns.address, license.address,
                                     1 if attempt else 0, len(log) if attempt else 0,
                                     log.address if attempt else 0))
        for _ in range(30):   # the verifier returns EAGAIN when a signal interrupts it
            try:
                return _fd_from(syscalls.bpf(BPF_PROG_LOAD, attr))
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    continue
                err = e
                break
        else:
            err = OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    text = log.text().strip()
    raise OCIError(f"loading the device filter (BPF_PROG_LOAD): {os.strerror(err.errno).lower()}"
                   + (f": {text}" if text else ""))


def attached(cgroup_fd: int) -> list[int]:
    """Fds of the device programs attached directly to the cgroup (BPF_PROG_QUERY); the caller
    closes them. Programs we may not open (LSM policy) are skipped, as runc does."""
    count = 64
    for _ in range(10):
        ids = syscalls.CBuffer(4 * count)
        # query: target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt, then
        # prog_attach_flags, link_ids, link_attach_flags, revision; kernels since 6.17 write
        # revision whatever size is passed, so the buffer holds the whole union bpf_attr.
        attr = bytearray(144)
        struct.pack_into("<IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ids.address, count)
        try:
            syscalls.bpf(BPF_PROG_QUERY, attr, 56)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                count = struct.unpack_from("<I", attr, 24)[0]
                continue
            raise OCIError(f"listing device filters (BPF_PROG_QUERY): {os.strerror(e.errno).lower()}") from e
        n = struct.unpack_from("<I", attr, 24)[0]
        fds = []
        for prog_id in struct.unpack_from(f"<{n}I", ids.bytes()):
            try:
                fds.append(_fd_from(syscalls.bpf(BPF_PROG_GET_FD_BY_ID, bytearray(struct.pack("<III", prog_id, 0, 0)))))
            except OSError as e:
                if e.errno in (errno.EPERM, errno.EACCES):
                    continue
                for fd in fds:
                    os.close(fd)
                if e.errno == errno.ENOENT:   # detached meanwhile
                    break
                raise OCIError(f"opening device filter {prog_id}: {os.strerror(e.errno).lower()}") from e
        else:
            return fds
    raise OCIError("could not list the device filters of the cgroup")


def _attach(cgroup_fd: int, prog_fd: int, flags: int, replace_fd: int = 0) -> None:
    attr = struct.pack("<IIIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, flags, replace_fd)
    syscalls.bpf(BPF_PROG_ATTACH, bytearray(attr))


def _detach(cgroup_fd: int, prog_fd: int) -> None:
    syscalls.bpf(BPF_PROG_DETACH, bytearray(struct.pack("<III", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE)))


def apply(cgroup_dir: str, devices: list[dict], field: str = "linux.resources.devices") -> None:
    """Install the filter for devices on cgroup_dir, replacing the one attached before (update)."""
    program = build_program(parse_rules(devices, field))
    dirfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = attached(dirfd)
        try:
            prog = load(program)
            try:
                replaced = False
                if len(old) == 1:
                    try:
                        _attach(dirfd, prog, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, old[0])
                        replaced = True
                    except OSError as e:
                        if e.errno != errno.EINVAL:   # BPF_F_REPLACE unsupported: attach, then detach
                            raise
                if not replaced:
                    _attach(dirfd, prog, BPF_F_ALLOW_MULTI)
                    for fd in old:
                        _detach(dirfd, fd)
            except OSError as e:
                raise OCIError(f"{field}: attaching the device filter to {cgroup_dir}: "
                               f"{os.strerror(e.errno).lower()}") from e
            finally:
                os.close(prog)   # the attachment keeps the program alive
        finally:
            for fd in old:
                os.close(fd)
    finally:
        os.close(dirfd)


def remove(cgroup_dir: str) -> None:
    """Detach every device filter attached to cgroup_dir (all access becomes allowed again)."""
    dirfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for fd in attached(dirfd):
            try:
                _detach(dirfd, fd)
            finally:
                os.close(fd)
    finally:
        os.close(dirfd)
