"""`linux.seccomp` (config-linux.md "Seccomp"): a libseccomp filter built from the config.

- compile_bpf() runs in the `create` (or `exec`) command right after the config's checks: it builds
  the whole filter and compiles it to the BPF program the kernel loads, while the sealed
  interpreter starts up beside it; everything libseccomp or this runtime refuses fails the command
  with the field's path before anything is made. The program goes to the init with its orders (adopt).
- apply() loads it in init, in runc's order: without noNewPrivileges loading a filter needs
  CAP_SYS_ADMIN, so it happens before the user switch and capability drop (`late=False`, called
  just before process.execute); with noNewPrivileges it happens as late as possible, right before
  the fds are closed and the program is exec'd (`late=True`, inside process.execute).
- SCMP_ACT_NOTIFY: listenerPath is a host path, unreachable after the root switch, so init
  connects to it beforehand (connect_listener) and keeps the socket; once the filter is loaded,
  the notify fd goes over it with SCM_RIGHTS, with the container process state as JSON
  (config-linux.md "The Container Process State"), and the connection is closed.

runc's choices kept: SCMP_ACT_KILL is KILL_THREAD; errnoRet of ERRNO and TRACE defaults to EPERM;
a rule whose action equals the default action is skipped; a syscall name libseccomp doesn't know
is skipped (it is ignored rather than failing on older or other kernels); when several args share
an index, each arg becomes a rule of its own (OR), otherwise all args make one rule (AND);
NOTIFY may not be the default action nor apply to the syscall that sends the fd (here sendmsg,
runc's write); the filter leaves NO_NEW_PRIVS to process.noNewPrivileges; over 32 rules the
filter is a binary tree.
"""
from __future__ import annotations

import errno
import os
import struct

import _prctl as prctl  # python-prctl's C module: its Python wrapper costs ~1 ms at import

from .. import jsonio
from .. import syscalls as sc
from .._shim import ffi, lib
from ..errors import ConfigError, OCIError, describe
from ..model import Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of every `create`)
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Iterator
    from typing import Any

# SECCOMP_RET_ERRNO / SECCOMP_RET_TRACE (kernel ABI): seccomp.h's SCMP_ACT_ERRNO(x)/SCMP_ACT_TRACE(x)
# are function-like macros, which cffi can't bind.
_RET_ERRNO = 0x00050000
_RET_TRACE = 0x7FF00000
_RET_DATA = 0xFFFF

ACTIONS = {
    "SCMP_ACT_KILL": lib.SCMP_ACT_KILL,
    "SCMP_ACT_KILL_PROCESS": lib.SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": lib.SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_TRAP": lib.SCMP_ACT_TRAP,
    "SCMP_ACT_ERRNO": _RET_ERRNO,
    "SCMP_ACT_TRACE": _RET_TRACE,
    "SCMP_ACT_ALLOW": lib.SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": lib.SCMP_ACT_LOG,
    "SCMP_ACT_NOTIFY": lib.SCMP_ACT_NOTIFY,
}
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

OPERATORS = {
    "SCMP_CMP_NE": lib.SCMP_CMP_NE,
    "SCMP_CMP_LT": lib.SCMP_CMP_LT,
    "SCMP_CMP_LE": lib.SCMP_CMP_LE,
    "SCMP_CMP_EQ": lib.SCMP_CMP_EQ,
    "SCMP_CMP_GE": lib.SCMP_CMP_GE,
    "SCMP_CMP_GT": lib.SCMP_CMP_GT,
    "SCMP_CMP_MASKED_EQ": lib.SCMP_CMP_MASKED_EQ,
}

# Every SCMP_ARCH_* of the spec; libseccomp names them by the lowercased suffix.
SPEC_ARCHS = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
)

# seccomp(2) filter flags -> the libseccomp attribute that sets each (libseccomp 2.5 has none for
# WAIT_KILLABLE_RECV, added in 2.6 as SCMP_FLTATR_CTL_WAITKILL).
FLAG_ATTRS = {
    "SECCOMP_FILTER_FLAG_TSYNC": lib.SCMP_FLTATR_CTL_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": lib.SCMP_FLTATR_CTL_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": lib.SCMP_FLTATR_CTL_SSB,
}
KNOWN_FLAGS = (*FLAG_ATTRS, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
# seccomp(2)'s SECCOMP_FILTER_FLAG_* values, for loading a compiled program as libseccomp would
LOAD_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16  # with TSYNC and NEW_LISTENER: the kernel refuses TSYNC's thread id as the result
CACHE_DIR = ".seccomp"  # in the state root: compiled filters, one file per profile (compile_bpf)
CACHE_MAX = 64  # files; past that the cache starts over
CACHE_FORMAT = 1  # part of every cache key: change it with anything that changes compile_bpf's output

MAX_ARGS = 6  # a syscall has at most 6 arguments
NOTIFY_SENDER = "sendmsg"  # the syscall init makes to hand the notify fd over, after loading
OPTIMIZE_OVER = 32  # rules; as runc: libseccomp <= 2.5.4 misbehaves with a binary tree of 0 rules


class Problem(Exception):
    """A config field this runtime refuses: path below linux.seccomp and the reason."""

    def __init__(self, path: str, text: str) -> None:
        super().__init__(f"linux.seccomp.{path}: {text}")


def libseccomp_version() -> str:
    v = lib.seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def _ok(ret: int) -> int:
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


class Filter:
    """A libseccomp filter context; the seam unit tests replace with a recording fake."""

    def __init__(self, default_action: int) -> None:
        self.ctx = lib.seccomp_init(default_action)
        if self.ctx == ffi.NULL:
            raise OSError(errno.EINVAL, "seccomp_init failed")
        self.notify = False  # a rule notifies (set by build)

    def add_arch(self, token: int) -> None:
        ret = lib.seccomp_arch_add(self.ctx, token)
        if ret != -errno.EEXIST:  # the native arch is always there
            _ok(ret)

    def set_attr(self, attr: int, value: int) -> None:
        _ok(lib.seccomp_attr_set(self.ctx, attr, value))

    def add_rule(self, action: int, syscall: int, conds: list[tuple[int, int, int, int]]) -> None:
        """conds: (arg index, SCMP_CMP_* op, value, valueTwo), all of which must match."""
        cmp = ffi.new("struct scmp_arg_cmp[]", [{"arg": a, "op": op, "datum_a": v1, "datum_b": v2}
                                                for a, op, v1, v2 in conds]) if conds else ffi.NULL
        _ok(lib.seccomp_rule_add_array(self.ctx, action, syscall, len(conds), cmp))

    def export_bpf(self) -> bytes:
        """The compiled program (struct sock_filter[]), through a memfd: any size, no reader needed."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _ok(lib.seccomp_export_bpf(self.ctx, fd))
            size = os.lseek(fd, 0, os.SEEK_CUR)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)

    def export_pfc(self, fd: int) -> None:
        _ok(lib.seccomp_export_pfc(self.ctx, fd))

    def release(self) -> None:
        if self.ctx != ffi.NULL:
            lib.seccomp_release(self.ctx)
            self.ctx = ffi.NULL


def resolve_syscall(name: str) -> int | None:
    """The native syscall number (or libseccomp's negative pseudo number for a syscall of another
    architecture); None if libseccomp doesn't know the name."""
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    return None if nr == lib.__NR_SCMP_ERROR else nr


def resolve_arch(name: str) -> int:
    """The libseccomp token of an SCMP_ARCH_* name; 0 if this libseccomp doesn't know it."""
    if not name.startswith("SCMP_ARCH_"):
        return 0
    return lib.seccomp_arch_resolve_name(name[len("SCMP_ARCH_"):].lower().encode())


def action_value(name: str, errno_ret: int | None, path: str) -> int:
    if name not in ACTIONS:
        raise Problem(path, f'"{name}" is not one of {", ".join(ACTIONS)}')
    if name in ERRNO_ACTIONS:
        value = errno.EPERM if errno_ret is None else errno_ret
        if not 0 <= value <= _RET_DATA:
            field = "defaultErrnoRet" if path == "defaultAction" else path.rsplit(".", 1)[0] + ".errnoRet"
            raise Problem(field, f"{value} does not fit the 16 bits of a seccomp return value")
        return ACTIONS[name] | value
    if errno_ret is not None:  # validate.py says so first; kept for callers that skip it
        field = "defaultErrnoRet" if path == "defaultAction" else path.rsplit(".", 1)[0] + ".errnoRet"
        raise Problem(field, f"is only allowed with action {' or '.join(ERRNO_ACTIONS)}, not {name}")
    return ACTIONS[name]


def uses_notify(cfg: dict[str, Any]) -> bool:
    return any(rule.get("action") == "SCMP_ACT_NOTIFY" for rule in cfg.get("syscalls", []))


def _conditions(rule: dict[str, Any], path: str) -> list[tuple[int, int, int, int]]:
    conds = []
    for j, arg in enumerate(rule.get("args", [])):
        if not 0 <= arg["index"] < MAX_ARGS:
            raise Problem(f"{path}.args[{j}].index", f"{arg['index']} is not a syscall argument index (0-5)")
        if arg["op"] not in OPERATORS:
            raise Problem(f"{path}.args[{j}].op", f'"{arg["op"]}" is not one of {", ".join(OPERATORS)}')
        conds.append((arg["index"], OPERATORS[arg["op"]], arg["value"], arg.get("valueTwo", 0)))
    return conds


def rules(cfg: dict[str, Any], default: int) -> Iterator[tuple[str, str, int, int, list[tuple[int, int, int, int]]]]:
    """(path, syscall name, action, syscall number, conditions) of each libseccomp rule to add."""
    for i, rule in enumerate(cfg.get("syscalls", [])):
        path = f"syscalls[{i}]"
        action = action_value(rule["action"], rule.get("errnoRet"), f"{path}.action")
        if rule["action"] == "SCMP_ACT_NOTIFY":
            if NOTIFY_SENDER in rule["names"]:
                raise Problem(f"{path}.action", f"SCMP_ACT_NOTIFY cannot be used for the {NOTIFY_SENDER} syscall "
                                                "(the runtime sends the seccomp fd with it)")
            if not cfg.get("listenerPath"):
                raise Problem(f"{path}.action", "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
        conds = _conditions(rule, path)
        if action == default:
            continue  # redundant, and libseccomp refuses it
        counts = [0] * MAX_ARGS
        for index, *_ in conds:
            counts[index] += 1
        groups = [[c] for c in conds] if max(counts) > 1 else [conds]
        for name in rule["names"]:
            nr = resolve_syscall(name)
            if nr is None:
                continue  # unknown to libseccomp, as runc: not an error
            for group in groups:
                yield path, name, action, nr, group


def build(cfg: dict[str, Any], no_new_privileges: bool, new_filter: Callable[[int], Any] = Filter) -> Any:
    """The filter for `cfg` (linux.seccomp), not loaded; the caller releases it."""
    if cfg["defaultAction"] == "SCMP_ACT_NOTIFY":
        raise Problem("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action "
                                       "(the runtime's own syscalls would wait for the agent)")
    default = action_value(cfg["defaultAction"], cfg.get("defaultErrnoRet"), "defaultAction")
    planned = list(rules(cfg, default))  # the config's own problems first, before libseccomp's
    flt = new_filter(default)
    try:
        for i, name in enumerate(cfg.get("architectures", [])):
            token = resolve_arch(name)
            if not token:
                raise Problem(f"architectures[{i}]", f"{name} is not supported by libseccomp {libseccomp_version()}")
            try:
                flt.add_arch(token)
            except OSError as e:
                why = "its byte order differs from the native one" if e.errno == errno.EDOM else describe(e)
                raise Problem(f"architectures[{i}]", f"{name} cannot be added to the filter: {why}") from None
        for i, name in enumerate(cfg.get("flags", [])):
            if name not in FLAG_ATTRS:
                raise Problem(f"flags[{i}]", f"{name} is not supported by libseccomp {libseccomp_version()}")
            try:
                flt.set_attr(FLAG_ATTRS[name], 1)
            except OSError as e:
                why = describe(e)
                raise Problem(f"flags[{i}]", f"{name} is not supported by this kernel or libseccomp: {why}") from None
        # The process's NO_NEW_PRIVS is process.noNewPrivileges, not libseccomp's default (on).
        flt.set_attr(lib.SCMP_FLTATR_CTL_NNP, int(no_new_privileges))
        if len(cfg.get("syscalls", [])) > OPTIMIZE_OVER:
            try:
                flt.set_attr(lib.SCMP_FLTATR_CTL_OPTIMIZE, 2)
            except OSError:
                pass  # an optimisation only
        for path, name, action, nr, conds in planned:
            try:
                flt.add_rule(action, nr, conds)
            except OSError as e:
                raise Problem(path, f"adding the rule for {name}: {describe(e)}") from None
        flt.notify = any(action == lib.SCMP_ACT_NOTIFY for _, _, action, _, _ in planned)
    except BaseException:
        flt.release()
        raise
    return flt


def compile_bpf(spec: Spec, cache: str | None = None) -> dict[str, Any] | None:
    """The filter, compiled, as the orders carry it to the init: {"program": the BPF program in hex,
    "flags": seccomp(2) flags, "nnp": NO_NEW_PRIVS first}, or None without linux.seccomp. Built by
    the command beside the sealed interpreter's start-up: a client's profile of ~430 syscalls for
    three architectures takes ~4 ms of rules and ~7 ms of compiling. Engines pass the same profile
    to every container, so the result is kept in the directory `cache` (the state root's CACHE_DIR,
    root's alone), under everything it depends on: the profile, noNewPrivileges, libseccomp's
    version, the kernel's release and this code's CACHE_FORMAT. Everything the filter refuses is a
    ConfigError naming the field, as runc's create reports it (a refused profile is never cached)."""
    cfg = spec.linux.seccomp
    if cfg is None:
        return None
    nnp = bool(spec.process and spec.process.no_new_privileges)
    key = jsonio.dumps({"format": CACHE_FORMAT, "seccomp": cfg, "nnp": nnp, "libseccomp": libseccomp_version(),
                        "kernel": os.uname().release})
    compiled = _cached(cache, key) if cache else None
    if compiled is not None:
        return compiled
    try:
        flt = build(cfg, nnp)
    except Problem as e:
        raise ConfigError(f"config.json: {e}") from None
    try:
        program = flt.export_bpf()
        notify = flt.notify
    finally:
        flt.release()
    flags = 0
    for name in cfg.get("flags", []):
        flags |= LOAD_FLAGS[name]
    if notify:  # libseccomp's seccomp_load asks for a listener only when a rule notifies
        flags |= FLAG_NEW_LISTENER | (FLAG_TSYNC_ESRCH if flags & LOAD_FLAGS["SECCOMP_FILTER_FLAG_TSYNC"] else 0)
    compiled = {"program": program.hex(), "flags": flags, "nnp": nnp}
    if cache:
        _cache(cache, key, compiled)
    return compiled


def _cache_name(key: str) -> str:
    try:  # the cache is the command's: the sealed interpreter never imports these
        from _sha256 import sha256  # hashlib costs ~4 ms at import (OpenSSL)
    except ImportError:  # Python >= 3.12
        from hashlib import sha256
    return sha256(key.encode()).hexdigest() + ".json"


def _cached(cache: str, key: str) -> dict[str, Any] | None:
    """The compiled filter kept for `key`; None if there is none whole (the file holds its key:
    a name shared by two keys, or a file being rewritten, is a miss, never another filter)."""
    try:
        with open(os.path.join(cache, _cache_name(key)), "rb") as f:
            entry = jsonio.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    return entry.get("compiled")


def _cache(cache: str, key: str, compiled: dict[str, Any]) -> None:
    """Keep it (state.write_json_atomic: readers see none or all of it); a cache: failures are ignored."""
    from ..state import write_json_atomic

    try:
        os.makedirs(cache, 0o700, exist_ok=True)
        names = os.listdir(cache)
        if len(names) >= CACHE_MAX:
            for name in names:
                os.unlink(os.path.join(cache, name))
        dirfd = os.open(cache, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            write_json_atomic(dirfd, _cache_name(key), {"key": key, "compiled": compiled})
        finally:
            os.close(dirfd)
    except OSError:
        pass


_compiled: dict[str, Any] | None = None  # compile_bpf()'s output, from the orders: loaded by apply()


def adopt(compiled: dict[str, Any] | None) -> None:
    """Keep the compiled filter of the orders (in the intermediate: the init and exec's process inherit it)."""
    global _compiled
    _compiled = compiled


# The listener of SCMP_ACT_NOTIFY, connected by init before the root switch: (socket, message).
_listener: tuple[socket.socket, bytes] | None = None


def connect_listener(spec: Spec, container_id: str, bundle: str) -> None:
    """Before the root switch: connect to listenerPath if a rule uses SCMP_ACT_NOTIFY and prepare
    the container process state (pid as seen by the runtime: read from the host's /proc)."""
    global _listener
    cfg = spec.linux.seccomp
    if not cfg or not uses_notify(cfg):
        return  # config-linux.md: without SCMP_ACT_NOTIFY listenerPath is ignored
    import socket  # only for a container with SCMP_ACT_NOTIFY rules

    from ..state import OCI_VERSION

    path = cfg["listenerPath"]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        why = describe(OSError(e.errno, e.strerror))
        raise OCIError(f"linux.seccomp.listenerPath: connecting to {path}: {why}") from None
    pid = int(os.readlink("/proc/self"))
    state: dict[str, Any] = {"ociVersion": OCI_VERSION, "id": container_id, "status": "created", "pid": pid,
                             "bundle": bundle}
    if spec.annotations:
        state["annotations"] = spec.annotations
    msg: dict[str, Any] = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": pid}
    if "listenerMetadata" in cfg:
        msg["metadata"] = cfg["listenerMetadata"]
    msg["state"] = state
    _listener = (sock, jsonio.dumps(msg, compact=False).encode())


def _send_notify_fd(notify_fd: int) -> None:
    """One container process state per connection, the fd in the first sendmsg, then close."""
    global _listener
    if _listener is None:
        return
    sock, data = _listener
    _listener = None
    if notify_fd < 0:  # no SCMP_ACT_NOTIFY rule made it into the filter (syscall names unknown here)
        sock.close()
        return
    import socket

    try:
        fds = struct.pack("i", notify_fd)
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        if sent < len(data):
            sock.sendall(data[sent:])
    except OSError as e:
        why = describe(OSError(e.errno, e.strerror))
        raise OCIError(f"linux.seccomp.listenerPath: sending the seccomp fd: {why}") from None
    finally:
        sock.close()
        os.close(notify_fd)


def apply(spec: Spec, late: bool = True) -> None:
    """Load the compiled filter (adopt) at the step runc loads it (see the module docstring), as
    libseccomp's seccomp_load does (NO_NEW_PRIVS first when the filter says so, the flags, a
    listener fd when a rule notifies), then hand the notify fd to the listener. Nothing but the
    filter's own syscalls may follow the load in init."""
    cfg = spec.linux.seccomp
    nnp = bool(spec.process.no_new_privileges)
    if cfg is None or nnp != late:
        return
    if _compiled is None:
        raise OCIError("linux.seccomp: the runtime gave no compiled filter to load")
    try:
        if _compiled["nnp"]:
            prctl.prctl(prctl.PR_SET_NO_NEW_PRIVS, 1)
        listener = sc.seccomp_set_filter(bytes.fromhex(_compiled["program"]), _compiled["flags"])
    except OSError as e:
        raise OCIError(f"linux.seccomp: loading the filter: {describe(e)}") from None
    if _listener is not None:
        _send_notify_fd(listener if _compiled["flags"] & FLAG_NEW_LISTENER else -1)


def features() -> dict[str, Any]:
    """features-linux.md "Seccomp": what this build and the host's libseccomp and kernel support."""
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(name for name in SPEC_ARCHS if _arch_supported(name)),
        "knownFlags": list(KNOWN_FLAGS),
        "supportedFlags": [name for name in FLAG_ATTRS if _flag_supported(name)],
    }


def _arch_supported(name: str) -> bool:
    """Known to libseccomp and addable beside the native arch (libseccomp refuses another byte order)."""
    token = resolve_arch(name)
    if not token:
        return False
    flt = Filter(lib.SCMP_ACT_ALLOW)
    try:
        flt.add_arch(token)
        return True
    except OSError:
        return False
    finally:
        flt.release()


def _flag_supported(name: str) -> bool:
    """libseccomp refuses an attribute the kernel (or itself) can't honour: try it on a scratch filter."""
    flt = Filter(lib.SCMP_ACT_ALLOW)
    try:
        flt.set_attr(FLAG_ATTRS[name], 1)
        return True
    except OSError:
        return False
    finally:
        flt.release()
