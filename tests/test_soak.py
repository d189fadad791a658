"""The short soak for CI (the long one: `.venv/bin/python tests/soak.py --cycles 1000`): 20
create/start/exec/kill/delete cycles leak no mount, cgroup directory, process, fd or state dir."""
from soak import soak


def test_twenty_cycles_leak_nothing():
    result = soak(20)
    assert {what: after - before for what, (before, after) in result.items()} == dict.fromkeys(result, 0)
