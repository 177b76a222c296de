"""The validator's topology-spread check keeps domain counts as pods are added
(`bench.validate.SpreadTracker`); its verdicts must equal a walk over every node
and every placed pod for each pod, the rule as its docstring states it. No time
is asserted."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench import validate as v
from bench.workload import generate


def _walk(
    nodes: list[dict[str, Any]],
    placed: list[tuple[dict[str, Any], str]],
    pod: dict[str, Any],
    placed_at: str | None,
) -> dict[str, tuple[str, str] | None]:
    """The rule spelled out: every node, every placed pod, nothing kept."""
    names = [n["metadata"]["name"] for n in nodes]
    verdicts: dict[str, tuple[str, str] | None] = dict.fromkeys(names)
    hard = v._hard_constraints(pod)
    meta = pod["metadata"]
    namespace = meta.get("namespace") or "default"
    keys = [c.get("topologyKey", "") for c, _ in hard]
    for c, selector in hard:
        key = c.get("topologyKey", "")
        domains: dict[str, int] = {}
        for node in nodes:
            labels = node["metadata"].get("labels") or {}
            if not all(k in labels for k in keys):
                continue
            if c.get("nodeAffinityPolicy", "Honor") == "Honor" and not (
                v.node_selector_matches(pod, node) and v.required_affinity_matches(pod, node)
            ):
                continue
            if c.get("nodeTaintsPolicy") == "Honor" and v.untolerated_taint(pod, node):
                continue
            count = sum(
                1
                for other, at in placed
                if at == node["metadata"]["name"]
                and (other["metadata"].get("namespace") or "default") == namespace
                and other["metadata"].get("deletionTimestamp") is None
                and v.label_selector_matches(selector, other["metadata"].get("labels") or {})
            )
            domains[labels[key]] = domains.get(labels[key], 0) + count
        smallest = min(domains.values()) if domains else 0
        if len(domains) < (c.get("minDomains") or 1):
            smallest = 0
        own = 1 if v.label_selector_matches(selector, meta.get("labels") or {}) else 0
        itself = 0 if placed_at is not None else own
        for node in nodes:
            name = node["metadata"]["name"]
            if verdicts[name] is not None:
                continue
            labels = node["metadata"].get("labels") or {}
            if key not in labels:
                verdicts[name] = ("spread-label", f"node lacks topology key {key}")
                continue
            skew = domains.get(labels[key], 0) + itself - smallest
            if skew > c.get("maxSkew", 0):
                verdicts[name] = (
                    "spread-skew",
                    f"{key}={labels[key]}: skew {skew} > maxSkew {c.get('maxSkew')}",
                )
    return verdicts


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), final=st.booleans())
def test_kept_counts_give_the_walks_verdicts(seed: int, final: bool) -> None:
    cluster = generate(24, 160, seed=seed % 7 + 1)
    nodes, pods = cluster["items"][:24], cluster["items"][24:]
    names = [n["metadata"]["name"] for n in nodes]
    rng = random.Random(seed)
    tracker = v.SpreadTracker(nodes)
    placed: list[tuple[dict[str, Any], str]] = []
    checked = 0
    for pod in pods:
        at = rng.choice(names)
        if v._hard_constraints(pod):
            placed_at = at if final else None
            if final:  # the end-state form: the pod is among the placed already
                tracker.add(pod, at)
                placed.append((pod, at))
            got = tracker.allowed(pod, placed_at=placed_at)
            assert dict(got) == _walk(nodes, placed, pod, placed_at)
            assert len(got) == len(names) and list(got) == names
            checked += 1
            if final:
                continue
        tracker.add(pod, at)
        placed.append((pod, at))
    assert checked > 0
