"""Lifecycle hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").

Each hook runs with exactly its `args` and `env`, the container state as JSON on stdin, and its
`timeout` enforced. Which process calls run() decides the namespace the hook runs in: the
create parent (prestart, createRuntime), the container init (createContainer before the root
switch, startContainer after it), `start` (poststart) and `delete` (poststop).
Hooks are given as the model's Hook objects or, in start/delete (which must not import the
model), as the raw JSON dicts; both have path/args/env/timeout.
"""
from __future__ import annotations

import time

from . import jsonio, log
from .errors import HookError, describe

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any


def _field(hook: Any, name: str) -> Any:
    return hook.get(name) if isinstance(hook, dict) else getattr(hook, name)


def run(kind: str, hooks: list, state: dict) -> None:
    """Run hooks in order; the first failure raises OCIError naming the hook."""
    for i, hook in enumerate(hooks):
        error = run_one(hook, state)
        if error:
            raise HookError(f"hooks.{kind}[{i}] ({_field(hook, 'path')}): {error}")


def run_poststop(hooks: list, state: dict) -> None:
    """poststop failures are warnings; the remaining hooks still run (runtime.md step 13)."""
    for i, hook in enumerate(hooks):
        error = run_one(hook, state)
        if error:
            log.warning(f"hooks.poststop[{i}] ({_field(hook, 'path')}): {error}")


def run_one(hook: Any, state: dict) -> str | None:
    """Run one hook; None on success, else what went wrong."""
    import subprocess  # only commands that run hooks pay for this import

    path = _field(hook, "path")
    args = _field(hook, "args") or [path]
    env = dict(e.partition("=")[::2] for e in (_field(hook, "env") or []))
    timeout = _field(hook, "timeout")
    try:
        proc = subprocess.Popen(args, executable=path, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        return describe(e)
    started = time.monotonic()
    try:
        _, err = proc.communicate(jsonio.dumps(state, compact=False).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"timed out after {time.monotonic() - started:.1f}s (timeout {timeout}s)"
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().replace("\n", " ")[:500]
        how = f"exit status {proc.returncode}" if proc.returncode > 0 else f"killed by signal {-proc.returncode}"
        return f"{how}" + (f": {detail}" if detail else "")
    return None
