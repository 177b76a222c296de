"""Schedule pods in-process, for counting instructions with callgrind.

    valgrind --tool=callgrind python -m bench.instructions --pods 0
    valgrind --tool=callgrind python -m bench.instructions --pods 300

Instruction counts do not move with the machine's load, so two versions of
the engine compare exactly: the difference of the two totals divided by the
pods is the cost of one pod (`/filter` + `/prioritize` + a pick-and-bind, all
in-process), start-up and warm-up cancelled out. `--placed N` first places N
pods (one engine pass each, in both runs alike), so the pods measured meet a
cluster that has filled up: label groups, carried affinity terms and spread
skews as a long run has them, not an empty cluster's. `--schedule-only`
measures `schedule_one` alone, the one engine pass a pod that `podsift bench
--mode inprocess` times.
"""

from __future__ import annotations

import argparse
import random

from bench.workload import generate_split
from extender.inprocess import InProcessExtender
from extender.model.errors import BindError

WARM_UP = 200  # parse the workload's specs and selectors once, as a running server has
# The measured pods come from a pool of this many after the placed and warm-up ones. The
# workload generator's pods depend on how many it is asked for, so the workload's size
# must not depend on --pods: `--pods 0` and `--pods 300` then place the same pods first.
POOL = 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=300)
    p.add_argument("--pods", type=int, default=300, help="pods measured after the warm-up")
    p.add_argument("--config", help="policy configuration (default: the default policies)")
    p.add_argument("--placed", type=int, default=0, help="pods placed before the warm-up")
    p.add_argument(
        "--schedule-only",
        action="store_true",
        help="measure schedule_one alone (what --mode inprocess times), no /filter, /prioritize",
    )
    args = p.parse_args(argv)
    if args.pods > POOL:
        p.error(f"--pods is at most {POOL}")
    first = max(args.placed, 0)
    nodes, pods = generate_split(args.nodes, first + WARM_UP + POOL)
    names = [n["metadata"]["name"] for n in nodes]
    ext = InProcessExtender(nodes, args.config)
    rng = random.Random(1)  # ties at random, as kube-scheduler: an empty policy set spreads
    for pod in pods[:first]:
        try:
            ext.schedule_one(pod, names, rng)
        except BindError:
            pass
    for pod in pods[first : first + WARM_UP]:
        ext.filter({"Pod": pod, "NodeNames": names})
    placed = refused = 0
    for pod in pods[first + WARM_UP : first + WARM_UP + args.pods]:
        if not args.schedule_only:
            request = {"Pod": pod, "NodeNames": names}
            ext.filter(request)
            ext.prioritize(request)
        try:
            placed += ext.schedule_one(pod, names, rng) is not None
        except BindError:  # without filters a pick may not fit; the bind refuses it
            refused += 1
    print(f"placed {placed} of {args.pods}" + (f", {refused} refused at bind" if refused else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
