"""Instructions podsift's worker spends parsing HTTP, per request, counted by callgrind.

    python -m bench.parsecost [--nodes 1000] [--requests 2000]

The worker's own HTTP parsing is two steps, both Python: `Framing.check` (in
the poller: where the request ends) and `FastPath.environ` (in the request
thread: the WSGI environ from the head). This runs them over the requests of
one pod as kube-scheduler frames them (`bench.wirecost.requests`: `/filter`,
`/prioritize`, `/bind`), under `valgrind --tool=callgrind`, once with no
request and once with `--requests` rounds, and prints the difference per
request for each step. It answers whether a C HTTP parser could pay for itself
(docs/PERFORMANCE.md, "The HTTP floor"): it could save at most these
instructions, against the whole request's count from `python -m bench.wirecost`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

from extender.argtypes import positive


def _loop(rounds: int, step: str, nodes: int) -> None:
    """The measured loop (run in the child, under callgrind)."""
    from gunicorn.config import Config

    from bench.wirecost import requests
    from extender.wire.fastpath import FastPath
    from extender.wire.worker import Framing

    batch = requests(nodes, "pod", 8888)
    fast = FastPath(Config())
    client, server = ("127.0.0.1", 50000), ("127.0.0.1", 8888)
    for _ in range(rounds):
        for request in batch:
            if step in ("framing", "both"):
                state, end, _ = Framing(64 << 20, 8190).check(request)
                assert state == Framing.READY and end == len(request), state
            if step in ("environ", "both"):
                assert fast.environ(request, None, client, server) is not None


def _count(rounds: int, step: str, nodes: int) -> int:
    with tempfile.TemporaryDirectory(prefix="podsift-parsecost-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.parsecost",
                "--child",
                str(rounds),
                step,
                str(nodes),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _loop(int(argv[1]), argv[2], int(argv[3]))
        return 0
    p = argparse.ArgumentParser(
        prog="python -m bench.parsecost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=positive, default=1000)
    p.add_argument("--requests", type=positive, default=2000, help="rounds of the pod's 3 requests")
    args = p.parse_args(argv)
    base = {step: _count(0, step, args.nodes) for step in ("framing", "environ")}
    per = {
        step: (_count(args.requests, step, args.nodes) - base[step]) / (3 * args.requests)
        for step in ("framing", "environ")
    }
    print(
        f"HTTP parsing, instructions a request ({args.nodes} node names, mean of /filter, "
        f"/prioritize, /bind): framing {per['framing']:,.0f}, environ {per['environ']:,.0f}, "
        f"together {per['framing'] + per['environ']:,.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
