"""What the replay client itself costs: the Go and Python clients on the same server.

    python -m bench.clientcost [--nodes 1000] [--pods 3000] [--repeats 3]
                               [--server calibration|policies] [--json FILE]

Runs the same workload through each replay client (`bench.clients`) in
turn, `--repeats` times, alternating which goes first, each run against a
freshly started server (the bare-WSGI calibration app by default, or
`podsift serve` with the default policies), and prints per client the
medians over the repeats: wall ms a pod, the mean time a pod spent in its
three requests, the client's own CPU a pod and its share of the wall time a
pod. Tie-break `first`, sequential: against `policies` both clients must
place every pod alike, and the script says whether they did.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
from typing import Any

import orjson

from bench import clients, report, servers
from bench.workload import generate
from extender.argtypes import positive


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.clientcost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=positive, default=1000)
    p.add_argument("--pods", type=positive, default=3000)
    p.add_argument("--repeats", type=positive, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=positive, default=4, help="server threads")
    p.add_argument("--server", choices=("calibration", "policies"), default="calibration")
    p.add_argument("--json", help="also write every run's figures here")
    return p


def _one(
    runner: clients.Runner,
    name: str,
    args: argparse.Namespace,
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    snapshot: str,
    workdir: str,
) -> dict[str, Any]:
    port = servers.free_port()
    if args.server == "calibration":
        command = servers.calibration_command(port, args.threads)
    else:
        command = servers.podsift_command(snapshot, port, args.threads)
    log = os.path.join(workdir, f"server-{name}.log")
    with servers.ServerProcess(command, port, log, args.server):
        result = runner(clients.HttpRun(args.server, port, nodes, pods, tie_break="first"))
    summary = report.summarize(result)
    return {
        "client": name,
        "ms_per_pod": summary["ms_per_pod"],
        "in_calls_ms_per_pod": summary["per_pod"].get("mean_ms"),
        "client_cpu_ms_per_pod": summary["client"]["cpu_ms_per_pod"],
        "client_cpu_share": summary["client"]["cpu_share_of_ms_per_pod"],
        "filter_p50_ms": summary["verbs"]["filter"].get("p50_ms"),
        "errors": result.error_count,
        "load_average": round(result.load_average, 2),
        "placements": result.placements,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="podsift-clientcost-")
    try:
        return _measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        gc.unfreeze()


def _measure(args: argparse.Namespace, workdir: str) -> int:
    setup = clients.Setup(workdir)
    try:
        runners = {name: clients.FACTORIES[name](setup) for name in ("go", "python")}
    except clients.ClientUnavailable as exc:
        print(f"clientcost: error: {exc}", file=sys.stderr)
        return 2
    cluster = generate(args.nodes, args.pods, seed=args.seed)
    nodes, pods = cluster["items"][: args.nodes], cluster["items"][args.nodes :]
    gc.collect()
    gc.freeze()  # as the bench does: the workload is not the Python client's garbage
    snapshot = os.path.join(workdir, "snapshot.json")
    with open(snapshot, "wb") as f:
        f.write(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
    runs: list[dict[str, Any]] = []
    for k in range(args.repeats):
        order = ("go", "python") if k % 2 == 0 else ("python", "go")
        for name in order:
            run = _one(runners[name], name, args, nodes, pods, snapshot, workdir)
            print(
                f"repeat {k + 1} {name:<7} {run['ms_per_pod']:.3f} ms/pod, client CPU "
                f"{run['client_cpu_ms_per_pod']:.3f} ms/pod, load {run['load_average']}",
                file=sys.stderr,
            )
            runs.append(run)
    print(
        f"replay clients on the {args.server} server: {args.nodes} nodes, {args.pods} pods, "
        f"sequential, medians of {args.repeats} alternating runs"
    )
    print(
        f"{'client':<8}{'ms/pod':>9}{'in calls':>10}{'filter p50':>12}"
        f"{'client CPU ms/pod':>19}{'share':>8}"
    )
    medians = {}
    for name in ("go", "python"):
        mine = [r for r in runs if r["client"] == name]

        def med(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return statistics.median(r[key] for r in mine)

        medians[name] = {
            key: med(key)
            for key in (
                "ms_per_pod",
                "in_calls_ms_per_pod",
                "filter_p50_ms",
                "client_cpu_ms_per_pod",
                "client_cpu_share",
            )
        }
        m = medians[name]
        print(
            f"{name:<8}{m['ms_per_pod']:>9.3f}{m['in_calls_ms_per_pod']:>10.3f}"
            f"{m['filter_p50_ms']:>12.3f}{m['client_cpu_ms_per_pod']:>19.3f}"
            f"{m['client_cpu_share'] * 100:>7.1f}%"
        )
    errors = sum(r["errors"] for r in runs)
    if errors:
        print(f"errors in the runs: {errors}")
    if args.server == "policies":
        first = runs[0]["placements"]
        same = all(r["placements"] == first for r in runs)
        print(f"every run placed every pod alike: {'yes' if same else 'NO'}")
    if args.json:
        with open(args.json, "wb") as f:
            out = {"args": vars(args), "medians": medians}
            out["runs"] = [{k: v for k, v in r.items() if k != "placements"} for r in runs]
            f.write(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
