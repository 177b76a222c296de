"""The pod affinity mix placed in-process, with and without InterPodAffinity, validated.

    python -m bench.affinitymix --nodes 1000 --pods 30000 --policies with
    python -m bench.affinitymix --nodes 1000 --pods 30000 --policies without

The synthetic workload with its pod (anti-)affinity mix (on by default in
`generate`), each pod filtered, prioritized and placed in-process
(`/filter`, `/prioritize`, then one engine pass that picks and binds), with
podsift's default policies without InterPodAffinity, or with it (`--policies
with`: filter, and score at kube-scheduler's weight 2). The independent validator
(bench/validate.py) then checks every placement. Prints the mean time a pod
(wall time) and the p99 of the first and last tenth of the pods.
"""

from __future__ import annotations

import argparse
import time

import yaml

from bench.validate import invalid_pods, validate
from bench.workload import generate
from extender.inprocess import InProcessExtender

FILTERS = (
    "NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, "
    "PodTopologySpread"
)
SCORES = (
    "{name: NodeResourcesFit, weight: 1}, {name: NodeResourcesBalancedAllocation, weight: 1}, "
    "{name: ImageLocality, weight: 1}, {name: NodeAffinity, weight: 2}, "
    "{name: TaintToleration, weight: 3}, {name: PodTopologySpread, weight: 2}"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.affinitymix", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--policies", choices=("with", "without"), default="with")
    args = p.parse_args(argv)
    items = generate(args.nodes, args.pods, seed=args.seed)["items"]
    nodes = [i for i in items if i["kind"] == "Node"]
    pods = [i for i in items if i["kind"] == "Pod"]
    names = [n["metadata"]["name"] for n in nodes]
    filters, scores = FILTERS, SCORES
    if args.policies == "with":
        filters += ", InterPodAffinity"
        scores += ", {name: InterPodAffinity, weight: 2}"
    config = "apiVersion: podsift/v1\nkind: PolicyConfiguration\n"
    config += f"filters: [{filters}]\nscores: [{scores}]\n"
    ext = InProcessExtender(nodes, config=yaml.safe_load(config))
    placements: dict[str, str] = {}
    times = []
    for pod in pods:
        start = time.perf_counter()
        request = {"Pod": pod, "NodeNames": names}
        ext.filter(request)
        ext.prioritize(request)
        node = ext.schedule_one(pod, names)
        times.append(time.perf_counter() - start)
        if node is not None:
            placements[pod["metadata"]["uid"]] = node
    violations = validate(items, placements)
    tenth = max(1, len(times) // 10)
    at = int(0.99 * tenth)
    first, last = sorted(times[:tenth])[at], sorted(times[-tenth:])[at]
    kinds = sorted({v.kind for v in violations})
    print(
        f"{args.policies} InterPodAffinity: placed {len(placements)} of {len(pods)}, "
        f"invalid pods {invalid_pods(violations)} {kinds}; "
        f"{sum(times) / len(times) * 1e3:.2f} ms a pod (wall time), p99 first tenth "
        f"{first * 1e3:.2f} ms, last tenth {last * 1e3:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
