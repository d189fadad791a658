"""The kernel's list format for CPUs and memory nodes ("0-3,7"): cpuset.cpus, cpuset.mems,
process.execCPUAffinity and linux.memoryPolicy.nodes all use it."""


def parse(text: str) -> list[int]:
    """The numbers in `text`, ascending; ValueError naming the bad part. Empty text: none."""
    numbers: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or (sep and int(hi) < int(lo)):
            raise ValueError(f"{part!r} is not a number or a range like 0-3")
        numbers.update(range(int(lo), int(hi if sep else lo) + 1))
    return sorted(numbers)
