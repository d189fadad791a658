"""`linux.memoryPolicy` (config-linux.md "Memory policy"): the NUMA policy of the container's
processes, set with set_mempolicy(2) right before exec so that the program and its children
inherit it (the init and every exec'd process go through process.prepare)."""
from .. import listformat
from .. import syscalls as sc
from ..errors import OCIError, describe
from ..model import Spec

MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
         "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_STATIC_NODES": 1 << 15}
NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")  # set_mempolicy(2): these take an empty nodemask


def parse(policy: dict) -> tuple[int, list[int]]:
    """(mode | flags, nodes), or OCIError naming the field: checked by create before anything runs."""
    mode = policy["mode"]  # the schema has checked mode and flags against the enums
    try:
        nodes = listformat.parse(policy.get("nodes", ""))
    except ValueError as e:
        raise OCIError(f"linux.memoryPolicy.nodes: {e}") from None
    if mode in NO_NODES and nodes:
        raise OCIError(f"linux.memoryPolicy.nodes: {mode} takes no nodes")
    if mode not in NO_NODES and mode != "MPOL_PREFERRED" and not nodes:
        raise OCIError(f"linux.memoryPolicy.nodes: {mode} needs at least one node")
    value = MODES[mode]
    for flag in policy.get("flags", []):
        value |= FLAGS[flag]
    return value, nodes


def check(spec: Spec) -> None:
    if spec.linux.memory_policy is not None:
        parse(spec.linux.memory_policy)


def apply(spec: Spec) -> None:
    if spec.linux.memory_policy is None:
        return
    mode, nodes = parse(spec.linux.memory_policy)
    try:
        sc.set_mempolicy(mode, set(nodes))
    except OSError as e:
        raise OCIError(f"linux.memoryPolicy: set_mempolicy: {describe(e)}") from None
