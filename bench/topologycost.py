"""What PodTopologySpread and InterPodAffinity cost a pod in-process, on a busy machine.

    python -m bench.topologycost --nodes 1000 --pods 30000

Two in-process extenders over the same synthetic cluster, one with the default
policies and one with `--config` (default: examples/bench/no-topology.yaml, the
default set less the two plugins), schedule the same pods, pod by pod in turn
(which one goes first alternates). Each pod's `schedule_one` (filter, score,
pick, bind) is timed in CPU time of the thread and in wall time. Two separate
runs of `podsift bench --mode inprocess` on a loaded machine see different
loads (the shorter one ends first and leaves the other a quieter machine);
taken in turn, one pod apart, both see the same. Prints the mean per pod of
each, their ratio, and each one's p99 over the first and last tenth of the pods.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from bench.workload import generate_split
from extender.inprocess import InProcessExtender

BASELINE = Path(__file__).resolve().parent.parent / "examples" / "bench" / "no-topology.yaml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.topologycost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--config", default=str(BASELINE), help="the configuration to compare with")
    args = p.parse_args(argv)
    nodes, pods = generate_split(args.nodes, args.pods, seed=args.seed)
    names = [n["metadata"]["name"] for n in nodes]
    runs = {"default": InProcessExtender(nodes), "baseline": InProcessExtender(nodes, args.config)}
    rngs = {label: random.Random(args.seed * 1000) for label in runs}
    cpu = {label: np.zeros(len(pods), np.int64) for label in runs}
    wall = {label: np.zeros(len(pods), np.int64) for label in runs}
    placed = dict.fromkeys(runs, 0)
    order = list(runs)
    for i, pod in enumerate(pods):
        for label in order if i % 2 else order[::-1]:
            c, w = time.thread_time_ns(), time.perf_counter_ns()
            node = runs[label].schedule_one(pod, names, rngs[label])
            wall[label][i] = time.perf_counter_ns() - w
            cpu[label][i] = time.thread_time_ns() - c
            placed[label] += node is not None
    tenth = max(len(pods) // 10, 1)
    for label in runs:
        first = np.percentile(cpu[label][:tenth], 99) / 1e3 if len(pods) else 0.0
        last = np.percentile(cpu[label][-tenth:], 99) / 1e3 if len(pods) else 0.0
        print(
            f"{label:8s} placed {placed[label]} of {len(pods)}; a pod: CPU "
            f"{cpu[label].mean() / 1e3:.1f} us, wall {wall[label].mean() / 1e3:.1f} us; "
            f"CPU p99 first -> last 10%: {first:.0f} -> {last:.0f} us"
        )
    ratio_cpu = cpu["default"].mean() / max(cpu["baseline"].mean(), 1)
    ratio_wall = wall["default"].mean() / max(wall["baseline"].mean(), 1)
    print(f"default / baseline: CPU {ratio_cpu:.3f}x, wall {ratio_wall:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
