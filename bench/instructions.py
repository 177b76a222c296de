"""Schedule pods in-process, for counting instructions with callgrind.

    valgrind --tool=callgrind python -m bench.instructions --pods 0
    valgrind --tool=callgrind python -m bench.instructions --pods 300

Instruction counts do not move with the machine's load, so two versions of
the engine compare exactly: the difference of the two totals divided by the
pods is the cost of one pod (`/filter` + `/prioritize` + a pick-and-bind, all
in-process), start-up and warm-up cancelled out.
"""

from __future__ import annotations

import argparse
import random

from bench.workload import generate_split
from extender.inprocess import InProcessExtender
from extender.model.errors import BindError

WARM_UP = 200  # parse the workload's specs and selectors once, as a running server has


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=300)
    p.add_argument("--pods", type=int, default=300, help="pods measured after the warm-up")
    p.add_argument("--config", help="policy configuration (default: the default policies)")
    args = p.parse_args(argv)
    nodes, pods = generate_split(args.nodes, WARM_UP + max(args.pods, 0))
    names = [n["metadata"]["name"] for n in nodes]
    ext = InProcessExtender(nodes, args.config)
    for pod in pods[:WARM_UP]:
        ext.filter({"Pod": pod, "NodeNames": names})
    rng = random.Random(1)  # ties at random, as kube-scheduler: an empty policy set spreads
    placed = refused = 0
    for pod in pods[WARM_UP : WARM_UP + args.pods]:
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
