"""Hostile request shapes, in-process: how long each holds the state lock.

    python -m bench.hostile

Issue 10 measured two shapes over HTTP that held podsift's state lock (every
other verb waits on it) far past kube-scheduler's 5 s timeout:

- `tolerations`: a full-Nodes `/filter` of a pod with 10,000 tolerations over
  1,000 Node objects with 10 taints each, every node's taints its own and each
  taint tolerated by one of the pod's tolerations (so every pair is looked at
  by a walk over the tolerations);
- `hostports`: four pods with 10,000 host ports each, filtered at once (four
  threads) over 1,000 nodes by name.

Each runs against a fresh in-process extender (`extender.inprocess`, the code
the HTTP verbs run) and reports the request body's size, the wall time of the
whole case and the longest single hold of the state lock.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import orjson

from extender.inprocess import InProcessExtender
from extender.testing import node, pod


class TimedLock:
    """The state's RLock, recording the longest time it was held (outermost holds)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._local = threading.local()
        self.longest = 0.0

    def __enter__(self) -> TimedLock:
        self._inner.acquire()
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.since = time.perf_counter()
        self._local.depth = depth + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            self.longest = max(self.longest, time.perf_counter() - self._local.since)
        self._inner.release()


def _extender(nodes: list[dict]) -> tuple[InProcessExtender, TimedLock]:
    ext = InProcessExtender(nodes)
    lock = TimedLock(ext.state.lock)
    ext.state.lock = lock
    return ext, lock


def tolerations_case(
    nodes: int, taints: int, tolerations: int, label: str = "tolerations"
) -> dict[str, Any]:
    objects = [
        node(
            f"node-{i}",
            taints=[  # every node its own set, each taint tolerated (by one toleration)
                {"key": f"t{(i * taints + j) % tolerations}", "value": "v", "effect": "NoSchedule"}
                for j in range(taints)
            ],
        )
        for i in range(nodes)
    ]
    ext, lock = _extender(objects)
    hostile = pod(
        "tolerant",
        cpu="100m",
        tolerations=[
            {"key": f"t{k}", "operator": "Equal", "value": "v", "effect": "NoSchedule"}
            for k in range(tolerations)
        ],
    )
    args = {"Pod": hostile, "Nodes": {"items": objects}}
    body = orjson.dumps(args)
    t0 = time.perf_counter()
    answer = ext.filter(orjson.loads(body))
    elapsed = time.perf_counter() - t0
    return {
        "case": f"{label}: {tolerations:,} tolerations x {nodes:,} Node objects x {taints} taints",
        "body_bytes": len(body),
        "seconds": elapsed,
        "lock_seconds": lock.longest,
        "failed": len(answer["FailedNodes"]),
    }


def hostports_case(nodes: int, ports: int, pods: int) -> dict[str, Any]:
    cluster = [node(f"node-{i}") for i in range(nodes)]
    names = [n["metadata"]["name"] for n in cluster]
    ext, lock = _extender(cluster)
    requests = []
    for p in range(pods):
        spec_ports = [{"containerPort": 1 + k, "hostPort": 1 + k} for k in range(ports)]
        hostile = pod(f"ports-{p}", cpu="100m")
        hostile["spec"]["containers"][0]["ports"] = spec_ports
        hostile["spec"]["containers"][0]["name"] = f"c{p}"  # a distinct spec per pod
        requests.append(orjson.dumps({"Pod": hostile, "NodeNames": names}))
    answers: list[dict] = []
    threads = [
        threading.Thread(target=lambda b=b: answers.append(ext.filter(orjson.loads(b))))
        for b in requests
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "case": f"hostports: {pods} pods x {ports:,} host ports, at once, x {nodes:,} nodes",
        "body_bytes": max(len(b) for b in requests),
        "seconds": elapsed,
        "lock_seconds": lock.longest,
        "failed": sum(len(a["FailedNodes"]) for a in answers),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--taints", type=int, default=10)
    p.add_argument("--tolerations", type=int, default=10_000)
    p.add_argument("--ports", type=int, default=10_000)
    p.add_argument("--pods", type=int, default=4)
    p.add_argument("--case", choices=("all", "tolerations", "hostports"), default="all")
    a = p.parse_args(argv)
    results = []
    if a.case in ("all", "tolerations"):
        # the yardstick: the same Node objects, a pod with as many tolerations as taints
        results.append(tolerations_case(a.nodes, a.taints, a.taints, "ordinary"))
        results.append(tolerations_case(a.nodes, a.taints, a.tolerations))
    if a.case in ("all", "hostports"):
        results.append(hostports_case(a.nodes, a.ports, a.pods))
    for r in results:
        print(
            f"{r['case']}: body {r['body_bytes'] / 1e6:.2f} MB, {r['seconds']:.2f} s in all, "
            f"state lock held at most {r['lock_seconds']:.3f} s "
            f"({r['lock_seconds'] / (r['body_bytes'] / 1e6):.3f} s per MB of body)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
