"""CPU a pod of the WSGI app alone, in-process: no sockets, no worker, no client.

    python -m bench.appcost --server podsift --pods 3000
    python -m bench.appcost --server podsift --config floor.json   # {"filters": [], "scores": []}
    python -m bench.appcost --server calibration

Each pod is framed as kube-scheduler frames it (the Pod, then NodeNames):
`/filter` with every node's name, `/prioritize` with the names it passed,
`/bind` to a best-scored node (ties broken by a seeded random pick, as the
bench's HTTP runs do, so an empty policy set spreads instead of piling onto
one node). The app is called with a WSGI environ the way the worker calls it,
and the CPU time of each call (`time.thread_time`) is summed per verb.

Why: `bench.wirecost` counts what the worker process spends over real HTTP;
this is the part of it the app spends, so the difference between the two is
what the HTTP layer costs each server (docs/PERFORMANCE.md, "Where a pod's
time goes"). `--placed N` first places N pods (podsift only: the calibration
keeps no state), so the measured pods meet a cluster that has filled up.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.workload import binding_args, generate_split
from extender.model.errors import ConfigError

VERBS = ("filter", "prioritize", "bind")


def _caller(app: Callable[..., Any]) -> Callable[[str, bytes], bytes]:
    """POST `body` to `path` of the WSGI `app`; the answer's bytes (RuntimeError on a
    status other than 200, naming it)."""

    def call(path: str, body: bytes) -> bytes:
        status: list[str] = []
        environ = {
            "PATH_INFO": path,
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        chunks = app(environ, lambda s, headers: status.append(s))
        answer = b"".join(chunks)
        if not status[0].startswith("200"):
            raise RuntimeError(f"{path}: {status[0]}: {answer[:200]!r}")
        return answer

    return call


def _app(server: str, nodes: list[dict], config: str | None, placed: list[dict], seed: int):
    if server == "calibration":
        from bench.calibrate import app

        return app
    from extender.cache.gcpolicy import freeze_long_lived
    from extender.inprocess import InProcessExtender
    from extender.model.errors import BindError
    from extender.wire.app import ExtenderApp

    ext = InProcessExtender(nodes, config)
    names = [n["metadata"]["name"] for n in nodes]
    rng = random.Random(seed)
    for pod in placed:
        try:
            ext.schedule_one(pod, names, rng)
        except BindError:
            pass  # a policy set without NodeResourcesFit (the floor) picks full nodes too
    freeze_long_lived()  # as `podsift serve` does once its state is built
    return ExtenderApp(ext.service)


def measure(
    call: Callable[[str, bytes], bytes], node_names: bytes, pods: list[dict], seed: int
) -> tuple[dict[str, float], int]:
    """(CPU seconds per verb over `pods`, pods bound)."""
    cpu = dict.fromkeys(VERBS, 0.0)
    rng = random.Random(seed)
    clock = time.thread_time
    bound = 0
    for pod in pods:
        head = b'{"Pod":' + orjson.dumps(pod) + b',"NodeNames":'
        start = clock()
        answer = call("/filter", head + node_names + b"}")
        cpu["filter"] += clock() - start
        passed = orjson.loads(answer).get("NodeNames") or []
        if not passed:
            continue
        body = head + orjson.dumps(passed) + b"}"
        start = clock()
        answer = call("/prioritize", body)
        cpu["prioritize"] += clock() - start
        scores = orjson.loads(answer)
        top = max(s["Score"] for s in scores)
        best = rng.choice([s["Host"] for s in scores if s["Score"] == top])
        start = clock()
        answer = call("/bind", orjson.dumps(binding_args(pod, best)))
        cpu["bind"] += clock() - start
        bound += not orjson.loads(answer).get("Error")
    return cpu, bound


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.appcost", description=__doc__.split("\n")[0])
    p.add_argument("--server", choices=("podsift", "calibration"), default="podsift")
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=3000, help="pods measured")
    p.add_argument("--placed", type=int, default=0, help="pods placed first (podsift)")
    p.add_argument("--config", help="podsift's policy configuration (default: the defaults)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--profile", help="write cProfile stats of the measured pods here")
    args = p.parse_args(argv)
    if args.pods < 1 or args.nodes < 1 or args.placed < 0:
        p.error("--nodes and --pods must be positive, --placed not negative")
    if args.server == "calibration" and (args.placed or args.config):
        p.error("--placed and --config are podsift's: the calibration keeps no state")
    nodes, pods = generate_split(args.nodes, args.placed + args.pods)
    try:
        app = _app(args.server, nodes, args.config, pods[: args.placed], args.seed)
    except ConfigError as err:
        p.error(str(err))
    node_names = orjson.dumps([n["metadata"]["name"] for n in nodes])
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    cpu, bound = measure(_caller(app), node_names, pods[args.placed :], args.seed)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    per_pod = {verb: cpu[verb] / args.pods * 1e6 for verb in VERBS}
    print(
        f"{args.server}: {args.nodes} nodes, {args.placed} placed, {args.pods} pods "
        f"({bound} bound): "
        + ", ".join(f"{verb} {per_pod[verb]:.0f}" for verb in VERBS)
        + f", total {sum(per_pod.values()):.0f} us CPU a pod (the app, in-process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
