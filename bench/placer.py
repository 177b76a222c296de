"""A naive reference scheduler, used to prove that a generated workload is placeable.

It knows nothing of podsift's engine: it places pods in order with the
validator's own rules (`bench.validate`, DoNotSchedule topology spreading
included), either on the first node that fits (`first-fit`, the harshest
packing) or on the fitting node with the lowest larger-of-cpu-and-memory
fraction (`spread`, close to LeastAllocated). Slow (pure Python, every node per
pod) and only meant for tests and one-off checks.
"""

from __future__ import annotations

from typing import Any

from bench import validate as v


def greedy_place(items: list[dict[str, Any]], strategy: str = "spread") -> dict[str, str | None]:
    """{pod uid: node name or None} for the pending pods, in item order."""
    if strategy not in ("spread", "first-fit"):
        raise ValueError(f"unknown strategy {strategy!r}")
    nodes = [i for i in items if i.get("kind") == "Node"]
    ledgers = {n["metadata"]["name"]: v._NodeLedger(n) for n in nodes}
    requests_of = v._RequestsCache()
    static: dict[int, list[v._NodeLedger]] = {}
    spread = v.SpreadTracker(nodes)
    placements: dict[str, str | None] = {}
    for pod in items:
        if pod.get("kind") != "Pod" or (pod.get("spec") or {}).get("nodeName"):
            continue
        spec = pod.get("spec")
        if id(spec) not in static:
            static[id(spec)] = [
                ledger
                for ledger in ledgers.values()
                if not (ledger.node.get("spec") or {}).get("unschedulable")
                and v.node_selector_matches(pod, ledger.node)
                and v.required_affinity_matches(pod, ledger.node)
                and v.untolerated_taint(pod, ledger.node) is None
            ]
        requests = requests_of(pod)
        best = None
        best_fraction = None
        allowed = spread.allowed(pod) if (spec or {}).get("topologySpreadConstraints") else None
        for ledger in static[id(spec)]:
            if v._check_pod(pod, ledger, requests):
                continue
            if allowed is not None and allowed[ledger.node["metadata"]["name"]] is not None:
                continue
            if strategy == "first-fit":
                best = ledger
                break
            fraction = max(
                _fraction(ledger, "cpu", requests), _fraction(ledger, "memory", requests)
            )
            if best_fraction is None or fraction < best_fraction:
                best, best_fraction = ledger, fraction
        uid = pod["metadata"]["uid"]
        if best is None:
            placements[uid] = None
            continue
        best.add(requests, v.host_ports(pod))
        placements[uid] = best.node["metadata"]["name"]
        spread.add(pod, placements[uid])
    return placements


def _fraction(ledger: Any, resource: str, requests: dict[str, int]) -> float:
    allocatable = ledger.allocatable.get(resource, 0)
    if allocatable <= 0:
        return 1.0
    return (ledger.used.get(resource, 0) + requests.get(resource, 0)) / allocatable
