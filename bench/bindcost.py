"""What podsift's Binding costs in its own CPU, against a real kube-apiserver.

    python -m bench.bindcost [--pods 1500] [--repeats 3] [--threads 1]

Starts the control plane of bench/controlplane.py in a temporary directory,
creates 4 Nodes and `--pods` Pods per repeat for a scheduler that does not
run ("nobody"), then binds each pod with `KubeApi.from_kubeconfig(...).bind`
(one fresh client per repeat, so its connection set-up is counted) and prints
this process's CPU (user + system, getrusage) per bind: each repeat's, and the
median. `--threads` binds from that many threads at once (gunicorn's threads
do in `podsift serve`). The control plane's own CPU is not counted: the figure
is podsift's share of a Binding, what kube-scheduler runs with bindVerb cost it.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bench.controlplane import ControlPlane, ready_node
from extender.argtypes import positive
from extender.live.client import KubeApi


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _node(name: str) -> dict:
    resources = {"cpu": "64", "memory": "256Gi", "pods": "5000"}
    return ready_node(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"capacity": dict(resources), "allocatable": dict(resources)},
        }
    )


def _pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedulerName": "nobody",
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bindcost", description=__doc__.split("\n")[0])
    p.add_argument("--pods", type=positive, default=1500, help="binds per repeat")
    p.add_argument("--repeats", type=positive, default=3)
    p.add_argument("--threads", type=positive, default=1)
    args = p.parse_args(argv)
    nodes = [f"node-{i}" for i in range(4)]
    with tempfile.TemporaryDirectory(prefix="podsift-bindcost-") as tmp:
        with ControlPlane(tmp) as cp:
            assert cp.api is not None
            cp.api.create_many(lambda _n: "/api/v1/nodes", [_node(n) for n in nodes])
            rounds = []
            for r in range(args.repeats):
                names = [f"bind-{r}-{i}" for i in range(args.pods)]
                cp.api.create_many(
                    lambda _p: "/api/v1/namespaces/default/pods", [_pod(n) for n in names]
                )
                uids = {
                    p["metadata"]["name"]: p["metadata"]["uid"]
                    for p in cp.api.items("/api/v1/namespaces/default/pods")
                }
                api = KubeApi.from_kubeconfig(str(cp.kubeconfig))

                def bind(i: int, names=names, uids=uids, api=api) -> None:
                    api.bind("default", names[i], uids[names[i]], nodes[i % len(nodes)])

                began_cpu, began = _cpu_s(), time.perf_counter()
                if args.threads == 1:
                    for i in range(len(names)):
                        bind(i)
                else:
                    with ThreadPoolExecutor(args.threads) as pool:
                        list(pool.map(bind, range(len(names))))
                cpu_ms = (_cpu_s() - began_cpu) * 1000 / len(names)
                wall_ms = (time.perf_counter() - began) * 1000 / len(names)
                api.close()
                rounds.append(cpu_ms)
                print(
                    f"repeat {r + 1}: {len(names)} binds, {args.threads} thread(s): "
                    f"cpu {cpu_ms:.3f} ms/bind, wall {wall_ms:.3f} ms/bind",
                    flush=True,
                )
    print(f"median cpu_ms_per_bind {statistics.median(rounds):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
