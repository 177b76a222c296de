"""The worker's memory after a live relist: RSS and pymalloc's arenas.

    python -m bench.relistrss --nodes 5000 --pods 150000
    python -m bench.relistrss --nodes 5000 --pods 150000 --whole   # the listing held whole

In live mode the worker's first act is a List of every Node and Pod
(`extender/live/watcher.py`, `_relist`). This runs that code, `ClusterWatcher`
started, synced and stopped, in a fresh process that holds nothing else. The API
server is a stand-in in the same process: it answers each page from JSON bytes
prepared beforehand (500 objects a page, as the watcher asks), so every page is
decoded afresh, as a real response is. The cluster is the preemption run's: the
synthetic workload's nodes with every pod placed on one (`bench/preempt.py`).

`--whole` gathers every pod page before handing the pods to
`ClusterState.replace_all`, as the watcher did before it parsed the pods page
by page: the same run's figure for what that cost. RSS, not wall time: the
machine's load does not move it.
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from typing import Any

import orjson

from bench.memreport import print_growth, rss_mib, run_measurement

PAGE = 500  # the watcher's default page size


class _Stream:
    """A watch that brings no event until it is closed."""

    truncated = False

    def __init__(self) -> None:
        self._closed = threading.Event()

    def __iter__(self) -> Any:
        self._closed.wait()
        return iter(())

    def close(self) -> None:
        self._closed.set()


class _PagedApi:
    """KubeApi's `list` and `watch`, answered from JSON pages prepared beforehand."""

    def __init__(self, pages: dict[str, list[bytes]]) -> None:
        self.pages = pages

    def list(self, path: str, params: dict[str, Any]) -> dict:
        pages = self.pages.get(path) or [orjson.dumps({"items": [], "metadata": {}})]
        return orjson.loads(pages[int(params.get("continue") or 0)])

    def watch(self, path: str, params: dict[str, Any], read_timeout: float) -> _Stream:
        return _Stream()


def encode_pages(items: list[dict]) -> list[bytes]:
    """`items` as a List's pages of PAGE, each naming the next by its index."""
    pages = []
    for k in range(0, max(len(items), 1), PAGE):
        following = k // PAGE + 1 if k + PAGE < len(items) else None
        meta = {"resourceVersion": "1"}
        if following is not None:
            meta["continue"] = str(following)
        pages.append(orjson.dumps({"items": items[k : k + PAGE], "metadata": meta}))
    return pages


def measure(nodes: int, pods: int, seed: int, whole: bool) -> None:
    import extender.server  # noqa: F401  the server's imports, as its worker has them
    from bench.preempt import build_cluster
    from extender.cache.state import ClusterState
    from extender.live.watcher import NODES_PATH, PODS_PATH, ClusterWatcher

    cluster = build_cluster(nodes, pods, seed=seed)
    pages = {NODES_PATH: encode_pages(cluster.nodes), PODS_PATH: encode_pages(cluster.pods)}
    api = _PagedApi(pages)
    del cluster
    gc.collect()

    class Whole(ClusterState):
        def replace_all(self, nodes: Any, pods: Any, *args: Any, **kwargs: Any) -> Any:
            return super().replace_all(nodes, list(pods), *args, **kwargs)

    state = Whole() if whole else ClusterState()
    watcher = ClusterWatcher(state, api)  # type: ignore[arg-type]
    start = rss_mib()
    began = time.process_time()
    watcher.start()
    try:
        if not watcher.wait_synced(600):
            raise SystemExit("relistrss: the watcher did not sync in 10 minutes")
        cpu = time.process_time() - began
    finally:
        watcher.stop()
    how = "held whole, then parsed" if whole else "parsed page by page"
    listed = len(state.pods)
    print_growth(f"{len(state.table)} nodes, {listed} pods listed ({how})", listed, start, cpu)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.relistrss", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=150_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--whole", action="store_true", help="gather the listing before parsing it")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child's part
    args = p.parse_args(argv)
    if args.measure:
        measure(args.nodes, args.pods, args.seed, args.whole)
        return 0
    child = [sys.executable, "-m", "bench.relistrss", "--measure", "--nodes", str(args.nodes)]
    child += ["--pods", str(args.pods), "--seed", str(args.seed)] + (["--whole"] * args.whole)
    return run_measurement(child)


if __name__ == "__main__":
    raise SystemExit(main())
