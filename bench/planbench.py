"""The figures of README "Capacity planning": `podsift plan` timed as a user runs it.

    python -m bench.planbench [--nodes 1000] [--pods 30000] [--grow-pods 51000] [--repeats 3]

The same runs are part of `podsift bench` (`--mode all` and `--mode plan`;
`--no-plan` skips them), which puts them in its report and results.json.

Writes the synthetic cluster (`podsift synth`'s generator) into a scratch
directory, then runs `podsift plan` as a user would, each in its own process:
place of the pods onto the nodes (writing the placed snapshot), fit of one
Deployment over that snapshot, and grow of a 200m/500Mi Deployment onto no
nodes with two shapes (cluster-autoscaler's benchmark scale). Reports wall and
CPU time per plan, the medians over `--repeats` runs (CPU is the steadier
figure on a shared machine), and what each plan found.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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


# The targets (seconds), set for 1,000 nodes / 30,000 pods and 51,000 pods to grow.
TARGETS = {"place": 10.0, "fit": 1.0, "grow": 3.76}
STANDARD = (1000, 30000, 51000)


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


def _timed(repeats: int, *args: str) -> tuple[dict[str, Any], float, float]:
    """The plan run `repeats` times: the last JSON, median wall and CPU seconds."""
    walls, cpus = [], []
    for _ in range(repeats):
        doc, wall, cpu = _plan(*args)
        walls.append(wall)
        cpus.append(cpu)
    return doc, statistics.median(walls), statistics.median(cpus)


def _row(name: str, what: str, wall: float, cpu: float, result: str, command: str) -> dict:
    return {
        "plan": name,
        "what": what,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "target_s": TARGETS[name],
        "result": result,
        "command": command,
    }


def run(
    items: list[Any], grow_pods: int = 51000, repeats: int = 1, config: str | None = None
) -> dict[str, Any]:
    """The three plans over `items` (a synthetic cluster's Nodes then Pods), with the
    default policies or `config`'s."""
    policy = ("--config", config) if config else ()
    nodes_n = sum(1 for i in items if i["kind"] == "Node")
    pods_n = sum(1 for i in items if i["kind"] == "Pod")
    rows = []
    with tempfile.TemporaryDirectory(prefix="podsift-planbench-") as d:
        nodes = _write(
            d, "nodes.json", {"kind": "List", "items": [i for i in items if i["kind"] == "Node"]}
        )
        pods = _write(
            d, "pods.json", {"kind": "List", "items": [i for i in items if i["kind"] == "Pod"]}
        )
        placed = os.path.join(d, "placed.json")
        doc, wall, cpu = _timed(
            repeats,
            "place",
            *("--workload", pods, "--snapshot", nodes, "--write-snapshot", placed, *policy),
        )
        rows.append(
            _row(
                "place",
                f"place {pods_n} pods onto {nodes_n} nodes",
                wall,
                cpu,
                f"{doc['placed']} placed, {doc['unplaced']} unplaced; "
                f"{doc['nodes_used']} nodes in use, lower bound {doc['lower_bound']}",
                "podsift plan place --snapshot nodes.json --workload pods.json "
                "--write-snapshot placed.json",
            )
        )
        web = _write(d, "web.json", _deployment("web", 1, "500m", "1Gi"))
        doc, wall, cpu = _timed(repeats, "fit", "--pod", web, "--snapshot", placed, *policy)
        t = doc["templates"][0]
        rows.append(
            _row(
                "fit",
                f"fit of one Deployment over {nodes_n} nodes / {pods_n} pods",
                wall,
                cpu,
                f"{t['fits']} copies on {len(t['per_node'])} nodes",
                "podsift plan fit --snapshot placed.json --pod web.json",
            )
        )
        batch = _write(d, "batch.json", _deployment("batch", grow_pods, "200m", "500Mi"))
        empty = _write(d, "empty.json", {"kind": "List", "items": []})
        small = _write(d, "small.json", _shape("m5-xlarge", "4", "16Gi", "0.192"))
        large = _write(d, "large.json", _shape("m5-2xlarge", "8", "32Gi", "0.384"))
        shapes = ("--node-shape", small, "--node-shape", large)
        doc, wall, cpu = _timed(
            repeats, "grow", "--workload", batch, "--snapshot", empty, *shapes, *policy
        )
        added = sum(doc["added"].values())
        rows.append(
            _row(
                "grow",
                f"grow {grow_pods} pods onto no nodes, two shapes",
                wall,
                cpu,
                f"{added} nodes added, lower bound {doc['added_lower_bound']}",
                "podsift plan grow --snapshot empty.json --workload batch.json "
                "--node-shape m5-xlarge.json --node-shape m5-2xlarge.json",
            )
        )
    return {
        "nodes": nodes_n,
        "pods": pods_n,
        "grow_pods": grow_pods,
        "repeats": repeats,
        "standard": (nodes_n, pods_n, grow_pods) == STANDARD and not config,
        "config": config,
        "rows": rows,
    }


def checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, shaped like the bench report's other checks: CPU seconds
    (whole process, loading included), applying at the issue's scale only."""
    return [
        {
            "name": f"plan_{row['plan']}_cpu_s",
            "value": row["cpu_s"],
            "target": f"<= {row['target_s']:g}",
            "met": row["cpu_s"] <= row["target_s"],
            "applies": result["standard"],
        }
        for row in result["rows"]
    ]


def format_lines(result: dict[str, Any] | None) -> list[str]:
    """The report's table of plans (medians of `repeats` runs, each its own process)."""
    if not result:
        return []
    lines = [
        "",
        f"podsift plan, each its own process (median of {result['repeats']}; "
        "CPU: user + system, loading included):",
        "| plan | wall | CPU | result |",
        "|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['what']} | {row['wall_s']:.2f} s | {row['cpu_s']:.2f} s | {row['result']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.planbench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--grow-pods", type=int, default=51000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1, help="runs of each plan; medians reported")
    args = p.parse_args(argv)
    items = generate(args.nodes, args.pods, seed=args.seed)["items"]
    result = run(items, args.grow_pods, args.repeats)
    print("\n".join(format_lines(result)[2:]))  # the table
    return 0


if __name__ == "__main__":
    sys.exit(main())
