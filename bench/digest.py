"""A digest of every wire answer podsift gives on a fixed workload: equal before and after a change.

    python -m bench.digest [--nodes 300] [--pods 600] [--seed 7]

Runs `/filter`, `/prioritize`, `/explain` and `/bind` in-process (the code the
HTTP verbs run) over a deterministic synthetic cluster, with the node lists
kube-scheduler may send (all names, a reversed subset, an unknown name), and
prints one SHA-256 of the answers. A refactoring that changes no behaviour
leaves it unchanged; run it in both trees and compare.
"""

from __future__ import annotations

import argparse
import hashlib

import orjson

from bench.workload import binding_args, generate_split
from extender.argtypes import positive
from extender.inprocess import InProcessExtender


def answers_digest(nodes: int, pods: int, seed: int) -> str:
    node_items, pod_items = generate_split(nodes, pods, seed)
    names = [n["metadata"]["name"] for n in node_items]
    ext = InProcessExtender(node_items)
    digest = hashlib.sha256()

    def add(answer: object) -> None:
        digest.update(orjson.dumps(answer, option=orjson.OPT_SORT_KEYS))

    for i, pod in enumerate(pod_items):
        sent = names if i % 3 else names[::-1][: len(names) // 2 + i % 100] + ["unknown-node"]
        args = {"Pod": pod, "NodeNames": sent}
        filtered = ext.filter(args)
        add(filtered)
        add(ext.prioritize(args))
        if i % 50 == 0:
            add(ext.explain(args))
        if filtered["NodeNames"]:
            scores = ext.prioritize({"Pod": pod, "NodeNames": filtered["NodeNames"]})
            best = max(scores, key=lambda s: s["Score"])["Host"]  # first of the best
            add(ext.bind(binding_args(pod, best)))
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.digest", description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=positive, default=300)
    p.add_argument("--pods", type=positive, default=600)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    print(answers_digest(args.nodes, args.pods, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
