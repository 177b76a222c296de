"""What the memory tools (bench.staterss, bench.relistrss) print: the process's RSS,
its growth per object, and pymalloc's arena summary, measured in a child process
that holds nothing else."""

from __future__ import annotations

import gc
import subprocess
import sys

# the lines of sys._debugmallocstats() worth reading: arenas held, bytes used and free
ARENA_LINES = ("# arenas allocated current", "# bytes in")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def print_growth(what: str, count: int, start_mib: float, cpu_s: float) -> None:
    """'WHAT: RSS, +growth (bytes a pod); CPU' after a full collection, then the arena
    summary (to stderr, which `run_measurement` filters)."""
    gc.collect()
    end = rss_mib()
    print(
        f"{what}: RSS {end:.1f} MiB, +{end - start_mib:.1f} MiB "
        f"({(end - start_mib) * 2**20 / max(count, 1):.0f} bytes a pod); CPU {cpu_s:.1f} s",
        flush=True,
    )
    sys._debugmallocstats()


def run_measurement(command: list[str]) -> int:
    """Run the measuring child; pass on its output and its arena lines, or all of its
    error output when it fails."""
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        print(done.stderr, end="", file=sys.stderr)
        return done.returncode
    for line in done.stderr.splitlines():
        if line.startswith(ARENA_LINES) or "unused pools" in line:
            print(line)
    return 0
