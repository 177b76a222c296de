"""The full-Nodes run: `/filter` and `/prioritize` with every Node object against the
time orjson takes to decode the same request body.

Without a node cache (`nodeCacheCapable: false`) kube-scheduler sends every
candidate Node object in every request, ~4 KB each, so a request at 1,000
nodes is megabytes of JSON that the server must at least decode. The target
(issue 9): a full-Nodes `/filter` costs at most twice that decode.

Like is compared with like: both sides run in this process, on the same body,
one right after the other. The verb side is the WSGI application podsift
serves (`extender.wire.app.ExtenderApp`) called directly: body bytes in,
answer bytes out, which includes decoding the body, the verb and encoding the
answer (the passing Node objects, re-encoded), but no socket or gunicorn
(those cost the same with or without podsift's work; the `--no-node-cache` HTTP
runs include them). The decode side is `orjson.loads` of the body.

Two kinds of node objects, each against a fresh extender:
- `resourceVersion`: objects as kube-scheduler sends them (from its informer),
  found again by name, uid and resourceVersion;
- `no resourceVersion`: hand-made objects, found again by a digest of their
  encoding.

The first request of each kind parses every object (reported as `cold`); the
ratio is the median over the later requests of (verb time / decode time).
"""

from __future__ import annotations

import gc
import io
import statistics
import time
from typing import Any

import orjson

TARGET_FILTER_VS_DECODE = 2.0
DEFAULT_SAMPLES = 15
KINDS = ("resourceVersion", "no resourceVersion")


def _with_resource_versions(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, node in enumerate(nodes):
        node = dict(node)
        node["metadata"] = {**node["metadata"], "resourceVersion": str(100_000 + i)}
        out.append(node)
    return out


def _call(app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    """One verb through the WSGI app: (ns, answer)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    status: list[str] = []
    t0 = time.perf_counter_ns()
    answer = b"".join(app(environ, lambda s, headers: status.append(s)))
    elapsed = time.perf_counter_ns() - t0
    if not status or not status[0].startswith("200"):
        raise RuntimeError(f"full-Nodes {path}: {status} {answer[:300]!r}")
    return elapsed, answer


def _loads_ns(body: bytes) -> int:
    t0 = time.perf_counter_ns()
    orjson.loads(body)
    return time.perf_counter_ns() - t0


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _one_kind(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]], config: str | None, samples: int
) -> dict[str, Any]:
    from extender.inprocess import InProcessExtender
    from extender.wire.app import DEFAULT_MAX_BODY, ExtenderApp

    extender = InProcessExtender(nodes, config)
    tail = (
        b',"Nodes":{"metadata":{},"items":['
        + b",".join(orjson.dumps(n) for n in nodes)
        + b']},"NodeNames":null}'
    )
    # room for the largest pod too: past ~900 nodes the bodies outgrow the 8 MiB
    # default, as `podsift bench` raises --max-body for its full-Nodes HTTP runs
    app = ExtenderApp(extender.service, max_body=max(DEFAULT_MAX_BODY, 2 * len(tail) + 1_000_000))
    # as `podsift serve` does once its state is loaded (extender/cache/gcpolicy.py)
    gc.collect()
    gc.freeze()
    decode: list[int] = []
    verbs: dict[str, list[int]] = {"filter": [], "prioritize": []}
    ratios: dict[str, list[float]] = {"filter": [], "prioritize": []}
    cold_ns = 0
    passed = 0
    for i in range(samples + 1):
        body = b'{"Pod":' + orjson.dumps(pods[i % len(pods)]) + tail
        d = _loads_ns(body)
        filter_ns, answer = _call(app, "/filter", body)
        prioritize_ns, _ = _call(app, "/prioritize", body)
        if i == 0:
            cold_ns = filter_ns  # every object parsed
            continue
        decode.append(d)
        verbs["filter"].append(filter_ns)
        verbs["prioritize"].append(prioritize_ns)
        ratios["filter"].append(filter_ns / d)
        ratios["prioritize"].append(prioritize_ns / d)
        passed += len((orjson.loads(answer).get("Nodes") or {}).get("items") or [])
    return {
        "samples": samples,
        "body_mb": round(len(body) / 2**20, 2),
        "decode_p50_ms": _ms(statistics.median(decode)),
        "filter_p50_ms": _ms(statistics.median(verbs["filter"])),
        "prioritize_p50_ms": _ms(statistics.median(verbs["prioritize"])),
        "filter_cold_ms": _ms(cold_ns),
        "filter_vs_decode": round(statistics.median(ratios["filter"]), 3),
        "prioritize_vs_decode": round(statistics.median(ratios["prioritize"]), 3),
        "nodes_passed_mean": round(passed / samples, 1),
    }


def run(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    config: str | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> dict[str, Any]:
    """Both kinds of objects; JSON-ready figures and the target check."""
    kinds = {
        "resourceVersion": _one_kind(_with_resource_versions(nodes), pods, config, samples),
        "no resourceVersion": _one_kind(nodes, pods, config, samples),
    }
    worst = max(k["filter_vs_decode"] for k in kinds.values())
    return {
        "what": "in-process, through the WSGI app (body bytes to answer bytes) vs orjson.loads "
        "of the same body; median over requests after the first",
        "nodes": len(nodes),
        "kinds": kinds,
        "filter_vs_decode": worst,
        "target": TARGET_FILTER_VS_DECODE,
        "met": worst <= TARGET_FILTER_VS_DECODE,
    }


def check(result: dict[str, Any]) -> dict[str, Any]:
    """The issue target, shaped like the report's other checks."""
    return {
        "name": "full_nodes_filter_vs_decode",
        "value": result["filter_vs_decode"],
        "target": f"<= {TARGET_FILTER_VS_DECODE:g}",
        "met": bool(result["met"]),
        "applies": True,
    }


def format_text(result: dict[str, Any]) -> list[str]:
    """The report's lines for the full-Nodes run."""
    lines = [
        f"full Node objects, {result['nodes']} nodes a request ({result['what']}):",
        f"  {'objects':<20}{'body MB':>8}{'decode':>9}{'filter':>9}{'x dec':>7}"
        f"{'prioritize':>12}{'x dec':>7}{'cold filter':>13}",
    ]
    for kind, k in result["kinds"].items():
        lines.append(
            f"  {kind:<20}{k['body_mb']:>8.2f}{k['decode_p50_ms']:>9.2f}{k['filter_p50_ms']:>9.2f}"
            f"{k['filter_vs_decode']:>7.2f}{k['prioritize_p50_ms']:>12.2f}"
            f"{k['prioritize_vs_decode']:>7.2f}{k['filter_cold_ms']:>13.2f}"
        )
    lines.append("  (p50 ms; x dec = median of verb time / decode time of the same body)")
    return lines
