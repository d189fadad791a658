"""The `oci-runtime` command line: runc's global flags, subcommands, outputs and exit codes.

Thin by design: parse (Go-flag style, as runc: `-x`/`--x`, `--x=v`, flags stop at the first
argument), call oci_runtime.operations, format the result. Every command is one small function
registered in COMMANDS, which also drives --help.
"""
import os
import sys

from . import jsonio, log
from .errors import OCIError, StartError, UsageError
from .state import DEFAULT_ROOT

VERSION = "0.1.0"
SPEC_VERSION = "1.3.0"
PROG = "oci-runtime"


class Flag:
    def __init__(self, names: str, help: str, value: str | None = None, default: object = None,
                 repeatable: bool = False) -> None:
        self.names = names.split(",")  # first is canonical
        self.help = help
        self.value = value  # None: a boolean flag; else the metavar
        self.repeatable = repeatable  # a value flag given any number of times: its values, in order, as a list
        self.default = default if value is not None or default is not None else False

    @property
    def key(self) -> str:
        return self.names[0].replace("-", "_")


class Command:
    def __init__(self, func, usage: str, help: str, flags: list[Flag], nargs: tuple[int, int | None]) -> None:
        self.func = func
        self.usage = usage
        self.help = help
        self.flags = flags
        self.nargs = nargs


GLOBAL_FLAGS = [
    Flag("root", "root directory for storage of container state", "PATH", DEFAULT_ROOT),
    Flag("log", "set the log file to write runtime logs to (default: stderr)", "PATH", ""),
    Flag("log-format", "set the log format ('text' (default), or 'json')", "FORMAT", "text"),
    Flag("debug", "enable debug logging"),
    Flag("systemd-cgroup", "enable systemd cgroup support"),
    Flag("help,h", "show help"),
    Flag("version,v", "print the version"),
]


def parse_flags(flags: list[Flag], args: list[str], where: str) -> tuple[dict, list[str]]:
    """Parse leading flags like Go's flag package; returns (values, remaining args)."""
    by_name = {n: f for f in flags for n in f.names}
    values = {f.key: [] if f.repeatable else f.default for f in flags}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.lstrip("-").partition("=")
        flag = by_name.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: -{name}{where}")
        if flag.value is None:
            if eq and value not in ("true", "false", "1", "0"):
                raise UsageError(f'invalid boolean value "{value}" for -{name}{where}')
            values[flag.key] = value in ("true", "1") if eq else True
        else:
            if not eq:
                i += 1
                if i == len(args):
                    raise UsageError(f"flag needs an argument: -{name}{where}")
                value = args[i]
            if flag.repeatable:
                values[flag.key].append(value)
            else:
                values[flag.key] = value
        i += 1
    return values, args[i:]


def _int_flag(value: str, name: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f'invalid value "{value}" for flag --{name}') from None
    if n < 0:
        raise UsageError(f'invalid value "{value}" for flag --{name}: must not be negative')
    return n


def _json_object_arg(flag: str, path: str, what: str) -> dict:
    """The JSON object in the file a flag names (`-`: stdin), or a one-line error naming the flag."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path) as f:
                text = f.read()
        import json  # exec --process and update --resources: json's error positions are worth its import

        value = json.loads(text)
    except OSError as e:
        raise OCIError(f"--{flag}: {e.strerror}: {path}") from None
    except ValueError as e:
        raise OCIError(f"--{flag}: {path}: invalid JSON: {e}") from None
    if not isinstance(value, dict):
        raise OCIError(f"--{flag}: {path}: expected a JSON object ({what})")
    return value


def _check_systemd(g: dict) -> None:
    if g["systemd_cgroup"] and not os.path.isdir("/run/systemd/system"):
        raise OCIError("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system)")


# --- commands -------------------------------------------------------------------------------

def cmd_create(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    _check_systemd(g)
    operations.create(g["root"], args[0], o["bundle"], pid_file=o["pid_file"] or None,
                      console_socket=o["console_socket"] or None, no_pivot=o["no_pivot"],
                      no_new_keyring=o["no_new_keyring"], preserve_fds=_int_flag(o["preserve_fds"], "preserve-fds"),
                      systemd_cgroup=g["systemd_cgroup"])
    return 0


def cmd_run(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    _check_systemd(g)
    return operations.run(g["root"], args[0], o["bundle"], detach=o["detach"], pid_file=o["pid_file"] or None,
                          console_socket=o["console_socket"] or None, no_pivot=o["no_pivot"],
                          no_new_keyring=o["no_new_keyring"], preserve_fds=_int_flag(o["preserve_fds"], "preserve-fds"),
                          systemd_cgroup=g["systemd_cgroup"])


def cmd_start(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    operations.start(g["root"], args[0])
    return 0


def cmd_state(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    sys.stdout.write(jsonio.dumps(operations.state(g["root"], args[0]), indent="  "))
    return 0


def cmd_kill(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    sig = operations.parse_signal(args[1]) if len(args) > 1 else None  # None: the image's stop signal or TERM
    operations.kill(g["root"], args[0], sig, all_processes=o["all"])
    return 0


def cmd_delete(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    operations.delete(g["root"], args[0], force=o["force"])
    return 0


def cmd_list(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    states = operations.list_states(g["root"])
    if o["quiet"]:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif o["format"] == "json":
        sys.stdout.write(jsonio.dumps(states) + "\n")
    elif o["format"] == "table":
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root"] for s in states]
        sys.stdout.write(tabulate(rows))
    else:
        raise UsageError(f'invalid format option "{o["format"]}": use "table" or "json"')
    return 0


def tabulate(rows: list[list[str]]) -> str:
    """Like Go's tabwriter(minwidth 12, padding 3) as runc uses it: the last column unpadded."""
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] + "\n" for r in rows)


def cmd_pause(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    operations.pause(g["root"], args[0])
    return 0


def cmd_resume(g: dict, o: dict, args: list[str]) -> int:
    from . import operations

    operations.resume(g["root"], args[0])
    return 0


def cmd_ps(g: dict, o: dict, args: list[str]) -> int:
    """As runc: json is the host pids; table runs `ps` (options after the id, default -ef) and
    keeps its header and the container's lines."""
    from . import operations

    if o["format"] not in ("table", "json"):
        raise UsageError(f'invalid format option "{o["format"]}": use "table" or "json"')
    pids = operations.pids(g["root"], args[0])
    if o["format"] == "json":
        sys.stdout.write(jsonio.dumps(pids) + "\n")
        return 0
    import subprocess

    try:
        out = subprocess.run(["ps", *(args[1:] or ["-ef"])], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise OCIError(f"ps: {getattr(e, 'stderr', '') or e}".strip()) from None
    lines = out.splitlines()
    if not lines or "PID" not in lines[0].split():
        raise OCIError("ps: no PID column in the output of ps")
    column = lines[0].split().index("PID")
    wanted = {str(p) for p in pids}
    sys.stdout.write("".join(line + "\n" for i, line in enumerate(lines)
                             if i == 0 or (len(line.split()) > column and line.split()[column] in wanted)))
    return 0


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _bytes_flag(value: str, name: str) -> int:
    """A size as runc's units.RAMInBytes: 64m, 1.5G, 1024, or -1 for unlimited."""
    import re

    if value == "-1":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?", value.strip().lower())
    if not m:
        raise UsageError(f'invalid value "{value}" for flag --{name}: not a size')
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def _signed_flag(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f'invalid value "{value}" for flag --{name}') from None


def cmd_update(g: dict, o: dict, args: list[str]) -> int:
    """runc's update: LinuxResources from --resources (a file, or - for stdin), else the flags."""
    from . import operations

    if o["resources"]:
        resources = _json_object_arg("resources", o["resources"], "LinuxResources")
    else:
        if o["l3_cache_schema"] or o["mem_bw_schema"]:
            raise OCIError("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported by this runtime")
        resources = {}
        spec = [("memory", "limit", "memory", _bytes_flag), ("memory", "reservation", "memory_reservation", _bytes_flag),
                ("memory", "swap", "memory_swap", _bytes_flag), ("cpu", "shares", "cpu_share", _int_flag),
                ("cpu", "quota", "cpu_quota", _signed_flag), ("cpu", "period", "cpu_period", _int_flag),
                ("cpu", "realtimeRuntime", "cpu_rt_runtime", _signed_flag),
                ("cpu", "realtimePeriod", "cpu_rt_period", _int_flag), ("cpu", "cpus", "cpuset_cpus", None),
                ("cpu", "mems", "cpuset_mems", None), ("pids", "limit", "pids_limit", _signed_flag),
                ("blockIO", "weight", "blkio_weight", _int_flag)]
        for section, field, key, parse in spec:
            if o[key] != "":
                value = parse(o[key], key.replace("_", "-")) if parse else o[key]
                resources.setdefault(section, {})[field] = value
    operations.update(g["root"], args[0], resources)
    return 0


def _duration(text: str) -> float:
    """A Go duration as runc's --interval takes it: 5s, 100ms, 1m30s."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise UsageError(f'invalid value "{text}" for flag -interval: parse error')
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def cmd_events(g: dict, o: dict, args: list[str]) -> int:
    """--stats: one stats object; else stats every --interval and OOM events until it stops."""
    from . import operations

    interval = _duration(o["interval"])
    if interval <= 0:
        raise UsageError("duration interval must be greater than 0")
    if o["stats"]:
        events = iter([operations.stats(g["root"], args[0])])
    else:
        events = operations.events(g["root"], args[0], interval)
    for event in events:
        sys.stdout.write(jsonio.dumps(event) + "\n")
        sys.stdout.flush()
    return 0


def cmd_spec(g: dict, o: dict, args: list[str]) -> int:
    from .default_spec import default_spec

    path = os.path.join(o["bundle"], "config.json")
    if os.path.lexists(path):
        raise OCIError(f"File {path} exists. Remove it first.")
    with open(path, "w") as f:
        f.write(jsonio.dumps(default_spec(), indent="\t"))
    return 0


def cmd_features(g: dict, o: dict, args: list[str]) -> int:
    from .features import features

    sys.stdout.write(jsonio.dumps(features(), indent="    ") + "\n")
    return 0


def cmd_exec(g: dict, o: dict, args: list[str]) -> int:
    """runc's exec: the process from --process FILE, or the container's own process with the
    command after the id and the flags' overrides."""
    from . import operations

    if o["process"]:
        process = _json_object_arg("process", o["process"], "an OCI process")
    else:
        if len(args) < 2:
            raise UsageError(f'{PROG}: "exec" requires a minimum of 2 argument(s)')
        process = _exec_process_from_flags(g["root"], args[0], args[1:], o)
    return operations.exec_process(g["root"], args[0], process, detach=o["detach"], pid_file=o["pid_file"] or None,
                                   console_socket=o["console_socket"] or None,
                                   preserve_fds=_int_flag(o["preserve_fds"], "preserve-fds"))


def _exec_process_from_flags(root: str, container_id: str, command: list[str], o: dict) -> dict:
    """The container's process object (from its saved config) with runc exec's overrides."""
    from . import state as st

    c = st.open_container(root, container_id)
    try:
        process = dict(c.load_config().get("process") or {})
    finally:
        c.close()
    process["args"] = command
    process["terminal"] = o["tty"]
    process.pop("consoleSize", None)
    process["env"] = list(process.get("env") or []) + o["env"]
    if o["cwd"]:
        process["cwd"] = o["cwd"]
    process.setdefault("cwd", "/")
    user = dict(process.get("user") or {"uid": 0, "gid": 0})
    if o["user"]:
        uid, _, gid = o["user"].partition(":")
        try:
            user["uid"] = int(uid)
            user["gid"] = int(gid) if gid else user.get("gid", 0)
        except ValueError:
            raise UsageError(f'--user: "{o["user"]}": expected a numeric uid[:gid]') from None
        user.pop("username", None)
    if o["additional_gids"]:
        try:
            gids = [int(g) for g in o["additional_gids"]]
        except ValueError:
            raise UsageError(f"--additional-gids: expected numeric gids, got {o['additional_gids']}") from None
        user["additionalGids"] = list(user.get("additionalGids") or []) + gids
    process["user"] = user
    if o["cap"]:
        caps = dict(process.get("capabilities") or {})
        for key in ("bounding", "effective", "permitted"):
            caps[key] = list(caps.get(key) or []) + [c for c in o["cap"] if c not in (caps.get(key) or [])]
        process["capabilities"] = caps
    if o["no_new_privs"]:
        process["noNewPrivileges"] = True
    if o["apparmor"]:
        process["apparmorProfile"] = o["apparmor"]
    if o["process_label"]:
        process["selinuxLabel"] = o["process_label"]
    return process


_EXEC_FLAGS = [
    Flag("console-socket", "path to an AF_UNIX socket which will receive the console's pseudoterminal master",
         "PATH", ""),
    Flag("cwd", "current working directory in the container", "PATH", ""),
    Flag("env,e", "set environment variables (repeatable)", "VAR=VALUE", repeatable=True),
    Flag("tty,t", "allocate a pseudo-TTY"),
    Flag("user,u", "UID (format: <uid>[:<gid>])", "UID[:GID]", ""),
    Flag("additional-gids,g", "additional gids (repeatable)", "GID", repeatable=True),
    Flag("process,p", "path to the process.json", "FILE", ""),
    Flag("detach,d", "detach from the container's process"),
    Flag("pid-file", "specify the file to write the process id to", "PATH", ""),
    Flag("process-label", "set the asm process label for the process commonly used with selinux", "LABEL", ""),
    Flag("apparmor", "set the apparmor profile for the process", "PROFILE", ""),
    Flag("no-new-privs", "set the no new privileges value for the process"),
    Flag("cap,c", "add a capability to the bounding set for the process (repeatable)", "CAP", repeatable=True),
    Flag("preserve-fds", "pass N additional file descriptors to the container", "N", "0"),
]

_CREATE_FLAGS = [
    Flag("bundle,b", "path to the root of the bundle directory, defaults to the current directory", "PATH", "."),
    Flag("console-socket", "path to an AF_UNIX socket which will receive the console's pseudoterminal master",
         "PATH", ""),
    Flag("pid-file", "specify the file to write the process id to", "PATH", ""),
    Flag("no-pivot", "do not use pivot root to jail process inside rootfs"),
    Flag("no-new-keyring", "do not create a new session keyring for the container"),
    Flag("preserve-fds", "pass N additional file descriptors to the container", "N", "0"),
]

COMMANDS: dict[str, Command] = {
    "create": Command(cmd_create, "create [command options] <container-id>", "create a container",
                      _CREATE_FLAGS, (1, 1)),
    "run": Command(cmd_run, "run [command options] <container-id>", "create and run a container",
                   _CREATE_FLAGS + [Flag("detach,d", "detach from the container's process")], (1, 1)),
    "start": Command(cmd_start, "start <container-id>", "executes the user defined process in a created container",
                     [], (1, 1)),
    "exec": Command(cmd_exec, "exec [command options] <container-id> <command> [command options]",
                    "execute new process inside the container", _EXEC_FLAGS, (1, None)),
    "state": Command(cmd_state, "state <container-id>", "output the state of a container", [], (1, 1)),
    "kill": Command(cmd_kill, "kill [command options] <container-id> [signal]",
                    "kill sends the specified signal (default: SIGTERM) to the container's init process",
                    [Flag("all,a", "send the specified signal to all processes inside the container")], (1, 2)),
    "delete": Command(cmd_delete, "delete [command options] <container-id>",
                      "delete any resources held by the container often used with detached container",
                      [Flag("force,f", "forcibly deletes the container if it is still running (uses SIGKILL)")],
                      (1, 1)),
    "list": Command(cmd_list, "list [command options]", "lists containers started by oci-runtime with the given root",
                    [Flag("format,f", "select one of: table or json", "FORMAT", "table"),
                     Flag("quiet,q", "display only container IDs")], (0, 0)),
    "pause": Command(cmd_pause, "pause <container-id>", "pause suspends all processes inside the container",
                     [], (1, 1)),
    "resume": Command(cmd_resume, "resume <container-id>",
                      "resumes all processes that have been previously paused", [], (1, 1)),
    "ps": Command(cmd_ps, "ps [command options] <container-id> [ps options]",
                  "ps displays the processes running inside a container",
                  [Flag("format,f", "select one of: table or json", "FORMAT", "table")], (1, None)),
    "update": Command(cmd_update, "update [command options] <container-id>", "update container resource constraints",
                      [Flag("resources,r", "path to the file containing the resources to update or '-' to read "
                            "from the standard input", "FILE", ""),
                       Flag("blkio-weight", "Specifies per cgroup weight, range is from 10 to 1000", "VALUE", ""),
                       Flag("cpu-period", "CPU CFS period to be used for hardcapping (in usecs)", "VALUE", ""),
                       Flag("cpu-quota", "CPU CFS hardcap limit (in usecs)", "VALUE", ""),
                       Flag("cpu-share", "CPU shares (relative weight vs. other containers)", "VALUE", ""),
                       Flag("cpu-rt-period", "CPU realtime period to be used for hardcapping (in usecs)", "VALUE", ""),
                       Flag("cpu-rt-runtime", "CPU realtime hardcap limit (in usecs)", "VALUE", ""),
                       Flag("cpuset-cpus", "CPU(s) to use", "VALUE", ""),
                       Flag("cpuset-mems", "Memory node(s) to use", "VALUE", ""),
                       Flag("memory", "Memory limit (in bytes)", "VALUE", ""),
                       Flag("memory-reservation", "Memory reservation or soft_limit (in bytes)", "VALUE", ""),
                       Flag("memory-swap", "Total memory usage (memory + swap); set '-1' to enable unlimited swap",
                            "VALUE", ""),
                       Flag("pids-limit", "Maximum number of pids allowed in the container", "VALUE", ""),
                       Flag("l3-cache-schema", "The string of Intel RDT/CAT L3 cache schema", "VALUE", ""),
                       Flag("mem-bw-schema", "The string of Intel RDT/MBA memory bandwidth schema", "VALUE", "")],
                      (1, 1)),
    "events": Command(cmd_events, "events [command options] <container-id>",
                      "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
                      [Flag("interval", "set the stats collection interval", "DURATION", "5s"),
                       Flag("stats", "display the container's stats then exit")], (1, 1)),
    "spec": Command(cmd_spec, "spec [command options]", "create a new specification file",
                    [Flag("bundle,b", "path to the root of the bundle directory", "PATH", ".")], (0, 0)),
    "features": Command(cmd_features, "features", "show the enabled features", [], (0, 0)),
}


def _flag_help(flags: list[Flag]) -> str:
    lines = []
    for f in flags:
        names = ", ".join(("-" if len(n) == 1 else "--") + n + (f" {f.value}" if f.value else "") for n in f.names)
        lines.append(f"   {names:<34} {f.help}")
    return "\n".join(lines)


def usage(name: str | None = None) -> str:
    if name is None:
        cmds = "\n".join(f"   {n:<10} {c.help}" for n, c in COMMANDS.items())
        return (f"NAME:\n   {PROG} - an OCI runtime-spec compliant container runtime\n\n"
                f"USAGE:\n   {PROG} [global options] command [command options] [arguments...]\n\n"
                f"COMMANDS:\n{cmds}\n\nGLOBAL OPTIONS:\n{_flag_help(GLOBAL_FLAGS)}\n")
    c = COMMANDS[name]
    text = f"NAME:\n   {PROG} {name} - {c.help}\n\nUSAGE:\n   {PROG} {c.usage}\n"
    if c.flags:
        text += f"\nOPTIONS:\n{_flag_help(c.flags)}\n"
    return text


def version() -> str:
    return f"{PROG} version {VERSION}\nspec: {SPEC_VERSION}\npython: {sys.version.split()[0]}\n"


def _check_nargs(name: str, c: Command, args: list[str]) -> None:
    lo, hi = c.nargs
    if lo == hi and len(args) != lo:
        raise UsageError(f'{PROG}: "{name}" requires exactly {lo} argument(s)')
    if len(args) < lo:
        raise UsageError(f'{PROG}: "{name}" requires a minimum of {lo} argument(s)')
    if hi is not None and len(args) > hi:
        raise UsageError(f'{PROG}: "{name}" requires a maximum of {hi} argument(s)')


def exit_now(status: int) -> None:
    """End the process with `status` once stdout and stderr are flushed, skipping the interpreter's
    teardown (freeing every module and object: ~1.5 ms, a third of what `state` may cost over
    Python's start-up). Nothing of ours needs it: files are closed by the kernel, the log is
    unbuffered. Output that cannot be written is exit status 120, as Python's own exit does."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    g: dict = {"debug": False}
    name = None
    prefix, status = "", 1  # runc: once exec's arguments are good, every failure is "exec failed: ...", 255
    try:
        g, rest = parse_flags(GLOBAL_FLAGS, argv, "")
        if g["log_format"] not in ("text", "json"):
            raise UsageError(f'invalid log-format: {g["log_format"]}')
        log.configure(g["log"] or None, g["log_format"], g["debug"])
        if g["version"]:
            sys.stdout.write(version())
            return 0
        if g["help"] or not rest or rest[0] == "help":
            sys.stdout.write(usage(rest[1] if len(rest) > 1 and rest[1] in COMMANDS else None))
            return 0
        name, args = rest[0], rest[1:]
        if name not in COMMANDS:
            raise UsageError(f"{PROG}: unknown command {name!r} (see '{PROG} --help')")
        c = COMMANDS[name]
        opts, args = parse_flags(c.flags + [Flag("help,h", "show help")], args, f" (in {name})")
        if opts["help"]:
            sys.stdout.write(usage(name))
            return 0
        _check_nargs(name, c, args)
        if name == "exec":
            prefix, status = "exec failed: ", 255
        return c.func(g, opts, args)
    except StartError as e:
        log.error(prefix + str(e) if prefix else f"{PROG} {name} failed: {e}")
    except OCIError as e:
        log.error(prefix + str(e))
    except KeyboardInterrupt:
        log.error(prefix + "interrupted")
    except Exception as e:  # a bug of ours: one line, the traceback only with --debug
        if g.get("debug"):
            import traceback

            traceback.print_exc()
        log.error(f"{prefix}internal error: {type(e).__name__}: {e}")
    return status
