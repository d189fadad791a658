"""Fault injection for the reliability tests: with OCI_RUNTIME_FAULT=<step> in the environment,
the process that reaches point(<step>) dies by SIGKILL there, as if an engine or the OOM killer
had killed it at that moment. tests/test_faults.py kills every command at every step and checks
that `state` and `delete --force` still clean up everything. Unset, a point costs one compare."""
import os

_STEP = os.environ.get("OCI_RUNTIME_FAULT")

CREATE = ("create:state-dir", "create:cgroup", "create:resources", "create:forked", "create:init-pid",
          "create:ready", "create:saved", "create:pid-file")
INIT = ("init:namespaces", "init:mounts", "init:ready")  # the container's init dies, create survives
START = ("start:released", "start:fifo-removed")
EXEC = ("exec:forked", "exec:pid-file")
DELETE = ("delete:killed", "delete:cgroup-removed")
STEPS = CREATE + INIT + START + EXEC + DELETE


def point(step: str) -> None:
    if step == _STEP:
        os.kill(os.getpid(), 9)
        os._exit(137)  # the init of a pid namespace ignores SIGKILL from inside it: die all the same
