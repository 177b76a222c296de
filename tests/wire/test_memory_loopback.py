"""Cache-filling traffic of every kind through a real `podsift serve`: the worker's
RSS stays under a stated bound and every cache within its entries and bytes.

Before the bounds, 100 pods with distinct 10,000-label nodeSelectors alone took
the worker past 700 MB (each compiled selector held ~6 MB, 4,096 kept)."""

from __future__ import annotations

import orjson
import pytest

from extender.model import pod as podinfo
from extender.model import selectors
from extender.model.memo import Memo
from tests.server import Server

SIZE = 256 * 1024
COUNT = 100
RSS_BOUND_KB = 640 * 1024  # every byte bound below together, plus the process at start

BOUNDS = {  # cache: (entries, bytes)
    "pod_spec": (podinfo.SPEC_CACHE_SIZE, podinfo.SPEC_CACHE_BYTES),
    "pod_metadata": (podinfo.METADATA_MAPS_SIZE, podinfo.METADATA_MAPS_BYTES),
    "selector": (8192, selectors.CACHE_BYTES),
    "selector_raw": (8192, selectors.CACHE_BYTES),
    "node_name_lists": (8, 64 * 1024 * 1024),
}


def _worker_rss_kb(server: Server) -> int:
    children = open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read().split()
    with open(f"/proc/{children[0]}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _pod(i: int, spec_extra: dict | None = None, labels: dict | None = None) -> dict:
    spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}
    spec.update(spec_extra or {})
    meta = {"name": f"p{i}", "uid": f"u{i}", "namespace": "default", "labels": labels or {}}
    return {"metadata": meta, "spec": spec}


def _metrics(server: Server) -> dict[tuple[str, str], float]:
    status, body = server.get("/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        for what in ("entries", "bytes"):
            prefix = f'podsift_cache_{what}{{cache="'
            if line.startswith(prefix):
                name, value = line[len(prefix) :].split('"} ')
                out[(name, what)] = float(value)
    return out


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="needs /proc")
def test_cache_filling_traffic_keeps_the_worker_bounded() -> None:
    server = Server("--synthetic-nodes", "50")
    try:
        names = [f"node-{i}" for i in range(5)]
        keys = SIZE // 26
        kinds = {
            "unknown spec field": lambda i: (
                "/filter",
                {"Pod": _pod(i, {"x": "a" * SIZE + str(i)}), "NodeNames": names},
            ),
            "unknown node name": lambda i: (
                "/prioritize",
                {"Pod": _pod(i), "NodeNames": [*names, "n" * SIZE + str(i)]},
            ),
            "nodeSelector": lambda i: (
                "/filter",
                {
                    "Pod": _pod(
                        i, {"nodeSelector": {f"k{j}-{i}.example.com/x": "v" for j in range(keys)}}
                    ),
                    "NodeNames": names,
                },
            ),
            "labels": lambda i: (
                "/filter",
                {
                    "Pod": _pod(i, labels={f"k{j}-{i}": "v" for j in range(keys)}),
                    "NodeNames": names,
                },
            ),
        }
        for kind, make in kinds.items():
            for i in range(COUNT):
                path, args = make(i)
                status, _ = server.post_raw(path, orjson.dumps(args))
                assert status == 200, kind
            rss = _worker_rss_kb(server)
            assert rss < RSS_BOUND_KB, f"after {kind}: worker RSS {rss} kB"
        seen = _metrics(server)
        for name, (entries, size) in BOUNDS.items():
            assert seen[(name, "entries")] <= entries, name
            assert seen[(name, "bytes")] <= size, name
        assert seen[("pod_spec", "bytes")] > 0  # the caches are reported at all
    finally:
        server.stop()


def test_memo_names_reported_are_the_ones_declared() -> None:
    from extender.wire.metrics import MEMO_NAMES

    for name in BOUNDS:
        assert name in MEMO_NAMES
    assert isinstance(podinfo._spec_cache, Memo)
