"""The cost of PodTopologySpread on a /filter: the same pods with and without constraints.

    valgrind --tool=callgrind python -m bench.spreadcost --mode none --requests 0
    valgrind --tool=callgrind python -m bench.spreadcost --mode none --requests 200
    valgrind --tool=callgrind python -m bench.spreadcost --mode zone+host --requests 200

A cluster of `--nodes` nodes (the benchmark's workload) holds `--placed` of its
pods, placed round-robin; then `--requests` /filter requests run in-process
for pods of the workload, with the default filters plus PodTopologySpread.
`--mode` gives each pod no constraint (`none`), a DoNotSchedule zone constraint
(`zone`), or that plus a DoNotSchedule hostname constraint (`zone+host`), each
selecting the pod's own Deployment (`app` label). The difference of two
callgrind totals over the requests is one /filter's instructions; the warm-up
(parsing, the first build of each selector's counts) runs in both. Without
valgrind it prints the mean wall time per /filter.
"""

from __future__ import annotations

import argparse
import copy
import time

import yaml

from bench.workload import HOSTNAME_LABEL, ZONE_LABEL, generate_split
from extender.inprocess import InProcessExtender

WARM_UP = 200
CONFIG = """apiVersion: podsift/v1
kind: PolicyConfiguration
filters: [NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
          NodeResourcesFit, PodTopologySpread]
scores: []
"""


def _constrained(pod: dict, mode: str) -> dict:
    if mode == "none":
        return pod
    pod = copy.deepcopy(pod)
    selector = {"matchLabels": {"app": pod["metadata"]["labels"]["app"]}}
    keys = [ZONE_LABEL] if mode == "zone" else [ZONE_LABEL, HOSTNAME_LABEL]
    pod["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1 if key == ZONE_LABEL else 3,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": selector,
        }
        for key in keys
    ]
    return pod


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.spreadcost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--placed", type=int, default=20_000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--mode", choices=("none", "zone", "zone+host"), default="zone")
    args = p.parse_args(argv)
    nodes, pods = generate_split(args.nodes, args.placed + WARM_UP + args.requests)
    names = [n["metadata"]["name"] for n in nodes]
    placed = []
    for i, pod in enumerate(pods[: args.placed]):
        pod = copy.deepcopy(pod)
        pod["spec"]["nodeName"] = names[i % len(names)]
        pod["status"]["phase"] = "Running"
        placed.append(pod)
    asked = [_constrained(pod, args.mode) for pod in pods[args.placed :]]
    ext = InProcessExtender(nodes + placed, config=yaml.safe_load(CONFIG))
    for pod in asked[:WARM_UP]:
        ext.filter({"Pod": pod, "NodeNames": names})
    passed = 0
    start = time.perf_counter()
    for pod in asked[WARM_UP:]:
        passed += len(ext.filter({"Pod": pod, "NodeNames": names})["NodeNames"] or ())
    elapsed = time.perf_counter() - start
    if args.requests:
        print(
            f"{args.mode}: {args.requests} /filter over {args.nodes} nodes, "
            f"{args.placed} pods placed: {elapsed / args.requests * 1e6:.0f} us each, "
            f"{passed / args.requests:.0f} nodes pass on average"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
