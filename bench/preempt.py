"""The preemption run: /preempt at the issue's scale, one request at a time.

kube-scheduler calls an extender's /preempt after its own dry run found
candidate nodes where evicting lower-priority pods would let a pod in:
DefaultPreemption offers 10% of the nodes (at least 100), each with its
victims. podsift re-checks every candidate with its victims taken out and
keeps the ones where its filters pass.

The run builds that situation on its own cluster: the synthetic workload's
nodes with its pods already running on them (placed by a quick round-robin
that respects cpu, memory and pod slots; a cache does not re-check placed
pods, so nothing else matters here). The preemptor is one plain pod. Each
request offers `candidate_count(nodes)` random schedulable, untainted nodes,
each with 1 to 4 of its largest pods as victims, and requests alternate
between the two forms kube-scheduler sends: `NodeNameToMetaVictims` (UIDs,
for a nodeCacheCapable extender) and `NodeNameToVictims` (full v1.Pod
objects, about 1 MB a request at 500 candidates). The workload fills its
nodes only partly, so many candidates would fit without evictions; the cost
measured does not depend on the verdicts.

The cluster is loaded by a `podsift serve --snapshot` of its own; requests go
over one keep-alive connection, timed around send and receive only, after
two untimed warm-up requests (one per form).

By default the run is at 5,000 nodes / 150,000 pods (the issue's target
scale: one /preempt with 500 candidates under 50 ms), or at 5 times the main
run's --nodes (30 pods a node) when that is smaller, so a small bench stays
small.
It adds about half a minute to `./dev bench`, most of it the server loading
150,000 pods.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from bench import driver, report, servers, validate
from bench.workload import generate
from extender.argtypes import positive

DEFAULT_NODES = 5000
PODS_PER_NODE = 30  # the workload's density: 150,000 pods at 5,000 nodes
DEFAULT_PODS = PODS_PER_NODE * DEFAULT_NODES
DEFAULT_REQUESTS = 100
TARGET_MS = 50.0  # the target for one /preempt at 5,000 nodes / 150,000 pods
MAX_VICTIMS = 4
PREEMPTOR_CPU_M = 3000
PREEMPTOR_MEMORY = 4 * 2**30
WARM_UP = 2  # untimed requests first, one per form


def candidate_count(nodes: int) -> int:
    """How many candidates DefaultPreemption offers: 10% of the nodes, at least 100."""
    return min(nodes, max(100, nodes // 10))


@dataclass
class PreemptCluster:
    """The placed cluster and what requests are drawn from."""

    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]  # every pod, placed (spec.nodeName set, Running)
    eligible: list[str]  # nodes the preemptor could use: schedulable, untainted
    on_node: dict[str, list[int]]  # node name -> indices into `pods`
    requests: list[dict[str, int]] = field(default_factory=list)  # per pod index

    def items(self) -> list[dict[str, Any]]:
        return self.nodes + self.pods


def build_cluster(nodes: int, pods: int, seed: int = 1) -> PreemptCluster:
    """The synthetic workload with every pod placed, spread round-robin on fit."""
    items = generate(nodes, pods, seed=seed)["items"]
    node_objs, pending = items[:nodes], items[nodes:]
    names = [n["metadata"]["name"] for n in node_objs]
    alloc = [n["status"]["allocatable"] for n in node_objs]
    cpu = np.array([validate.parse_amount("cpu", a["cpu"]) for a in alloc], np.int64)
    mem = np.array([validate.parse_amount("memory", a["memory"]) for a in alloc], np.int64)
    slots = np.array([int(a["pods"]) for a in alloc], np.int64)
    requests_of = validate._RequestsCache()
    placed: list[dict[str, Any]] = []
    on_node: dict[str, list[int]] = {n: [] for n in names}
    requests: list[dict[str, int]] = []
    cursor = 0
    for pod in pending:
        req = requests_of(pod)
        want_cpu, want_mem = req.get("cpu", 0), req.get("memory", 0)
        for step in range(nodes):
            i = (cursor + step) % nodes
            if slots[i] > 0 and cpu[i] >= want_cpu and mem[i] >= want_mem:
                break
        else:
            continue  # fits nowhere: left out of the cluster
        cursor = i + 1
        cpu[i] -= want_cpu
        mem[i] -= want_mem
        slots[i] -= 1
        node = names[i]
        on_node[node].append(len(placed))
        requests.append(req)
        placed.append(
            {
                **pod,
                "spec": {**pod["spec"], "nodeName": node},
                "status": {"phase": "Running", "qosClass": "Burstable"},
            }
        )
    eligible = [
        n["metadata"]["name"]
        for n in node_objs
        if not n["spec"].get("unschedulable") and not n["spec"].get("taints")
    ]
    return PreemptCluster(node_objs, placed, eligible, on_node, requests)


def preemptor() -> dict[str, Any]:
    """The pod to make room for: high priority, 3 cpu and 4 GiB, no constraints."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "urgent-0",
            "namespace": "critical",
            "uid": "00000000-0000-4000-8000-00000000beef",
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example.com/urgent:1",
                    "resources": {
                        "requests": {"cpu": f"{PREEMPTOR_CPU_M}m", "memory": str(PREEMPTOR_MEMORY)}
                    },
                }
            ],
            "priority": 1_000_000,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {"phase": "Pending"},
    }


def victims_for(cluster: PreemptCluster, node: str, count: int) -> list[int]:
    """The node's `count` largest pods by cpu (lower priority than the preemptor: all are)."""
    on_node = cluster.on_node[node]
    by_size = sorted(on_node, key=lambda p: cluster.requests[p].get("cpu", 0), reverse=True)
    return by_size[:count]


def request_bodies(
    cluster: PreemptCluster, count: int, candidates: int, seed: int = 1
) -> list[tuple[str, bytes]]:
    """`count` encoded ExtenderPreemptionArgs, alternating meta and full victims."""
    rng = random.Random(seed)
    pod = preemptor()
    victims = {n: victims_for(cluster, n, rng.randint(1, MAX_VICTIMS)) for n in cluster.eligible}
    bodies = []
    for k in range(count):
        nodes = rng.sample(cluster.eligible, min(candidates, len(cluster.eligible)))
        form = "meta" if k % 2 == 0 else "full"
        by_node: dict[str, Any] = {}
        for node in nodes:
            pdb = 1 if rng.random() < 0.1 else 0
            if form == "meta":
                pods = [{"UID": cluster.pods[p]["metadata"]["uid"]} for p in victims[node]]
            else:
                pods = [cluster.pods[p] for p in victims[node]]
            by_node[node] = {"Pods": pods, "NumPDBViolations": pdb}
        args = {"Pod": pod}
        if form == "meta":
            args.update(NodeNameToVictims=None, NodeNameToMetaVictims=by_node)
        else:
            args.update(NodeNameToVictims=by_node, NodeNameToMetaVictims=None)
        bodies.append((form, orjson.dumps(args)))
    return bodies


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The preemption run's options on `podsift bench`."""
    p.add_argument(
        "--preempt",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the /preempt benchmark on its own cluster (default: on, with --mode all, "
        "http or preempt)",
    )
    p.add_argument(
        "--preempt-nodes",
        type=positive,
        default=None,
        help=f"nodes of the preemption cluster (default {DEFAULT_NODES}, or 5 x --nodes if "
        "smaller)",
    )
    p.add_argument(
        "--preempt-pods",
        type=positive,
        default=None,
        help=f"running pods of the preemption cluster (default {PODS_PER_NODE} a node: "
        f"{DEFAULT_PODS} at {DEFAULT_NODES} nodes)",
    )
    p.add_argument(
        "--preempt-requests",
        type=positive,
        default=DEFAULT_REQUESTS,
        help=f"timed /preempt requests, half in each form (default {DEFAULT_REQUESTS})",
    )


def sizes(args: argparse.Namespace) -> tuple[int, int]:
    """(nodes, pods) of the preemption cluster for these bench arguments."""
    nodes = args.preempt_nodes or min(DEFAULT_NODES, 5 * args.nodes)
    return nodes, args.preempt_pods or PODS_PER_NODE * nodes


def run(
    args: argparse.Namespace, workdir: str, log_dir: str, progress: bool = False
) -> dict[str, Any]:
    """Build the cluster, serve it, send the requests; the summary for results.json."""
    nodes, pods = sizes(args)
    candidates = candidate_count(nodes)
    started = time.perf_counter()
    cluster = build_cluster(nodes, pods, seed=args.seed)
    bodies = request_bodies(cluster, args.preempt_requests + WARM_UP, candidates, args.seed)
    victims = [len(v["Pods"]) for _, b in bodies[:2] for v in _by_node(orjson.loads(b)).values()]
    placed = len(cluster.pods)
    snapshot = os.path.join(workdir, "preempt-snapshot.json")
    with open(snapshot, "wb") as f:
        f.write(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": cluster.items()}))
    del cluster
    gc.collect()
    build_s = time.perf_counter() - started
    max_body = max(len(b) for _, b in bodies) * 2 + 1_000_000
    port = servers.free_port()
    command = servers.podsift_command(
        snapshot, port, args.threads, config=args.config, max_body=max_body
    )
    log_path = os.path.join(log_dir, "server-preempt.log")
    started = time.perf_counter()
    latency: dict[str, list[int]] = {"meta": [], "full": []}
    kept: list[int] = []
    errors: list[str] = []
    with servers.ServerProcess(command, port, log_path, "preempt") as server:
        load_s = time.perf_counter() - started
        os.remove(snapshot)  # 200+ MB; the server has read it
        worker = server.worker_pid()
        client = driver.Client("127.0.0.1", port)
        try:
            for k, (form, body) in enumerate(bodies):
                t0 = time.perf_counter_ns()
                try:
                    raw = client.post("/preempt", body)
                except (driver.HttpStatusError, OSError) as exc:
                    errors.append(f"{form}: {exc}")
                    continue
                elapsed = time.perf_counter_ns() - t0
                if k < WARM_UP:
                    continue
                latency[form].append(elapsed)
                kept.append(len(orjson.loads(raw).get("NodeNameToMetaVictims") or {}))
                if progress and k % 10 == 0:
                    print(f"  preempt {k}/{len(bodies)}", file=sys.stderr)
        finally:
            client.close()
        rss = servers.memory_of(worker).get("rss") if worker else None
    return summarize(
        nodes=nodes,
        placed=placed,
        candidates=candidates,
        latency=latency,
        kept=kept,
        victims=victims,
        body_bytes={form: max(len(b) for f, b in bodies if f == form) for form in latency},
        errors=errors,
        build_s=build_s,
        load_s=load_s,
        rss=rss,
    )


def _by_node(args: dict[str, Any]) -> dict[str, Any]:
    return args.get("NodeNameToMetaVictims") or args.get("NodeNameToVictims") or {}


def summarize(
    *,
    nodes: int,
    placed: int,
    candidates: int,
    latency: dict[str, list[int]],
    kept: list[int],
    victims: list[int],
    body_bytes: dict[str, int],
    errors: list[str],
    build_s: float,
    load_s: float,
    rss: int | None,
) -> dict[str, Any]:
    """The run's figures and its check against the 50 ms target, JSON-ready."""
    every = np.array([v for form in latency.values() for v in form], np.int64)
    stats = report.latency_stats(every)
    at_target_scale = (nodes, placed, candidates) == (DEFAULT_NODES, DEFAULT_PODS, 500)
    worst = stats.get("max_ms")
    check = {
        "name": "preempt_max_ms",
        "value": worst,
        "target": f"< {TARGET_MS:g}",
        "met": worst is not None and worst < TARGET_MS and not errors,
        "applies": at_target_scale,
    }
    return {
        "nodes": nodes,
        "pods": placed,
        "candidates": candidates,
        "victims_per_candidate": round(float(np.mean(victims)), 2) if victims else None,
        "requests": int(len(every)),
        "forms": {
            "NodeNameToMetaVictims": report.latency_stats(np.array(latency["meta"], np.int64)),
            "NodeNameToVictims": report.latency_stats(np.array(latency["full"], np.int64)),
        },
        "all": stats,
        "body_bytes": {
            "NodeNameToMetaVictims": body_bytes.get("meta"),
            "NodeNameToVictims": body_bytes.get("full"),
        },
        "kept_mean": round(float(np.mean(kept)), 1) if kept else None,
        "errors": len(errors),
        "error_examples": errors[:5],
        "build_s": round(build_s, 1),
        "server_load_s": round(load_s, 1),
        "server_rss_mb": None if rss is None else round(rss / 2**20, 1),
        "check": check,
    }


def format_lines(summary: dict[str, Any] | None) -> list[str]:
    """The report's preemption section."""
    if not summary:
        return []
    lines = [
        "",
        f"preemption: {summary['nodes']} nodes, {summary['pods']} running pods, "
        f"{summary['candidates']} candidates a request, "
        f"{summary['victims_per_candidate']} victims a candidate on average, "
        f"{summary['requests']} requests",
    ]
    for form, stats in summary["forms"].items():
        if not stats.get("count"):
            continue
        size = summary["body_bytes"].get(form) or 0
        lines.append(
            f"  {form:<22} p50 {stats['p50_ms']:>7.2f}  p99 {stats['p99_ms']:>7.2f}  "
            f"max {stats['max_ms']:>7.2f} ms  (body {size / 1e6:.2f} MB)"
        )
    lines.append(
        f"  kept {summary['kept_mean']} nodes an answer on average; errors {summary['errors']}; "
        f"cluster built in {summary['build_s']} s, served after {summary['server_load_s']} s, "
        f"server RSS {summary['server_rss_mb']} MB"
    )
    for example in summary["error_examples"][:3]:
        lines.append(f"  error: {example}")
    return lines
