"""The figures of README "Capacity planning", in one command.

    python -m bench.planbench [--nodes 1000] [--pods 30000] [--grow-pods 51000]

Writes the synthetic cluster (`podsift synth`'s generator) into a scratch
directory, then runs `podsift plan` as a user would, each in its own process:
place of the pods onto the nodes (writing the placed snapshot), fit of one
Deployment over that snapshot, and grow of a 200m/500Mi Deployment onto no
nodes with two shapes (cluster-autoscaler's benchmark scale). Reports wall and
CPU time per run (CPU is the steadier figure on a shared machine) and what
each plan found.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson

from bench.workload import generate


def _deployment(name: str, replicas: int, cpu: str, memory: str) -> dict[str, Any]:
    container = {
        "name": "c",
        "image": "busybox",
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }


def _shape(name: str, cpu: str, memory: str, price: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name},
            "annotations": {"podsift.io/price": price},
        },
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}},
    }


def _write(directory: str, name: str, obj: Any) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(orjson.dumps(obj))
    return path


def _plan(*args: str) -> tuple[dict[str, Any], float, float]:
    """One `podsift plan` process: its JSON, wall seconds, CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "extender", "plan", *args, "--output", "json"],
        check=True,
        capture_output=True,
    ).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return orjson.loads(out), wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.planbench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--grow-pods", type=int, default=51000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="podsift-planbench-") as d:
        items = generate(args.nodes, args.pods, seed=args.seed)["items"]
        nodes = _write(
            d, "nodes.json", {"kind": "List", "items": [i for i in items if i["kind"] == "Node"]}
        )
        pods = _write(
            d, "pods.json", {"kind": "List", "items": [i for i in items if i["kind"] == "Pod"]}
        )
        del items
        placed = os.path.join(d, "placed.json")
        rows = []
        doc, wall, cpu = _plan(
            "place", "--workload", pods, "--snapshot", nodes, "--write-snapshot", placed
        )
        rows.append(
            (
                f"place {args.pods} pods onto {args.nodes} nodes",
                wall,
                cpu,
                f"{doc['placed']} placed, {doc['unplaced']} unplaced; "
                f"{doc['nodes_used']} nodes in use, "
                f"lower bound {doc['lower_bound']}",
            )
        )
        web = _write(d, "web.json", _deployment("web", 1, "500m", "1Gi"))
        doc, wall, cpu = _plan("fit", "--pod", web, "--snapshot", placed)
        t = doc["templates"][0]
        rows.append(
            (
                f"fit of one Deployment over {args.nodes} nodes / {args.pods} pods",
                wall,
                cpu,
                f"{t['fits']} copies on {len(t['per_node'])} nodes",
            )
        )
        batch = _write(d, "batch.json", _deployment("batch", args.grow_pods, "200m", "500Mi"))
        empty = _write(d, "empty.json", {"kind": "List", "items": []})
        small = _write(d, "small.json", _shape("m5-xlarge", "4", "16Gi", "0.192"))
        large = _write(d, "large.json", _shape("m5-2xlarge", "8", "32Gi", "0.384"))
        shapes = ("--node-shape", small, "--node-shape", large)
        doc, wall, cpu = _plan("grow", "--workload", batch, "--snapshot", empty, *shapes)
        added = sum(doc["added"].values())
        rows.append(
            (
                f"grow {args.grow_pods} pods onto no nodes, two shapes",
                wall,
                cpu,
                f"{added} nodes added, lower bound {doc['added_lower_bound']}",
            )
        )
    print("| plan | wall | CPU | result |\n|---|---|---|---|")
    for what, wall, cpu, result in rows:
        print(f"| {what} | {wall:.2f} s | {cpu:.2f} s | {result} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
