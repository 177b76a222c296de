"""The server's memory as it fills: RSS and pymalloc's arenas after binding N pods.

    python -m bench.staterss --nodes 5000 --pods 150000

A cheap stand-in for the RSS line of `podsift bench --nodes 5000 --pods 150000
--mode http --sample auto` (issue 13): the synthetic workload is written to a
temporary directory (the nodes as a snapshot, the pods one JSON line each), then
a fresh process that holds nothing else does what the server's worker does with
it: loads the snapshot (as the gunicorn master does), then for every pod decodes
its request from bytes (fresh strings, as a request brings them), parses and
remembers it (`Service.pod`), picks a node over a window of the sampled size as
one engine pass (`Engine.select`, not `/filter` and `/prioritize`) and binds it
through `Service.bind`. It prints RSS as it goes, the growth per pod, and
`sys._debugmallocstats()`'s arena summary (arenas, bytes in use and free inside
them). RSS, not wall time: the load of the machine does not move it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import orjson

from bench.memreport import print_growth, rss_mib, run_measurement


def write_workload(nodes: int, pods: int, seed: int, out: str) -> None:
    from bench.workload import generate_split

    node_items, pod_items = generate_split(nodes, pods, seed)
    with open(os.path.join(out, "nodes.json"), "wb") as f:
        f.write(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": node_items}))
    with open(os.path.join(out, "pods.jsonl"), "wb") as f:
        for item in pod_items:
            f.write(orjson.dumps(item) + b"\n")


def measure(workdir: str, pods: int, window: int) -> None:
    """The worker's part; run in a process of its own (see the module docstring)."""
    import extender.server  # noqa: F401  the server's imports, as its worker has them
    import extender.wire.app  # noqa: F401
    from extender.cache.gcpolicy import freeze_long_lived
    from extender.cache.state import ClusterState
    from extender.engine.config import load_configuration
    from extender.engine.engine import Engine
    from extender.wire.service import Service

    state = ClusterState()
    state.load_file(os.path.join(workdir, "nodes.json"))
    state.set_ready(True)
    engine = Engine(load_configuration(None))
    service = Service(state, engine)
    freeze_long_lived()
    names = list(state.table.id_of)
    start = rss_mib()
    print(f"{len(names)} nodes loaded: RSS {start:.1f} MiB", flush=True)
    placed = 0
    began = time.process_time()
    with open(os.path.join(workdir, "pods.jsonl"), "rb") as f:  # read, not mapped: not in RSS
        for i in range(pods):
            line = f.readline()
            if not line:
                break
            first = (i * window) % len(names)
            nodes = (names + names)[first : first + window]
            request = orjson.loads(orjson.dumps({"Pod": orjson.loads(line), "NodeNames": nodes}))
            pod = service.pod(request)
            with state.lock:
                view, _, _ = state.view(request["NodeNames"])
                pos = engine.select(pod, view, None)
                node = None if pos < 0 else str(view.names_array[pos])
            if node is not None:
                bind = {
                    "PodUID": pod.uid,
                    "PodName": pod.name,
                    "PodNamespace": pod.namespace,
                    "Node": node,
                }
                service.bind(orjson.loads(orjson.dumps(bind)))
                placed += 1
            if (i + 1) % 25_000 == 0:
                print(f"  {i + 1} pods: RSS +{rss_mib() - start:.1f} MiB", flush=True)
    cpu = time.process_time() - began
    print_growth(f"{placed} pods bound", placed, start, cpu)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.staterss", description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=150_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--window", type=int, default=500, help="nodes a pod is placed among")
    p.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)  # the child's part
    args = p.parse_args(argv)
    if args.measure:
        measure(args.measure, args.pods, args.window)
        return 0
    with tempfile.TemporaryDirectory(prefix="podsift-staterss-") as workdir:
        write_workload(args.nodes, args.pods, args.seed, workdir)
        child = [sys.executable, "-m", "bench.staterss", "--measure", workdir]
        child += ["--pods", str(args.pods), "--window", str(args.window)]
        return run_measurement(child)


if __name__ == "__main__":
    raise SystemExit(main())
