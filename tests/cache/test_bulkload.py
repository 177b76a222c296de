"""A listing loaded in bulk gives the state `apply_pod` builds pod by pod.

`ClusterState.load_items` loads a listing's pods through `_load_pods`: records
sharing their spec's work and counted on their nodes in one pass
(cache/bulkattach.py). The reference here is the load it replaced, every pod
through `apply_pod`. The two states must agree on everything scheduling reads:
the node table's cells (exact sums past the bound included), host ports, the
pod records and their index by node, the pending pods, and what the default
policies answer for a pod of every spec (PodTopologySpread and InterPodAffinity
read the label groups the bulk path counts in one go).
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.workload import generate
from extender.cache.affinitycounts import KINDS
from extender.cache.state import ClusterState, _pod_placement, object_name
from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.model.errors import InvalidInput
from extender.model.pod import parse_pod
from tests.helpers import node, pod


def _one_by_one(self: ClusterState, pods: list[dict]) -> tuple[int, int]:
    """The pod loop `replace_all` ran before the bulk path, and the pending and
    terminal counts `load_items` took from a second pass."""
    for i, p in enumerate(pods):
        try:
            self.apply_pod(p)
        except InvalidInput as exc:
            raise InvalidInput(f"{object_name('pod', p, i)}: {exc}") from None
    placements = [_pod_placement(p) for p in pods]
    pending = sum(1 for node, terminal in placements if not node and not terminal)
    return pending, sum(1 for _, terminal in placements if terminal)


def loaded(items: list[Any], bulk: bool) -> ClusterState:
    state = ClusterState()
    if bulk:
        state.loaded = state.load_items(items)  # type: ignore[attr-defined]
    else:
        with patch.object(ClusterState, "_load_pods", _one_by_one):
            state.loaded = state.load_items(items)  # type: ignore[attr-defined]
    return state


def fingerprint(state: ClusterState) -> dict[str, Any]:
    """Everything the two loads must agree on, by name (not by id or order)."""
    t = state.table
    nodes = {}
    for name, nid in t.id_of.items():
        cells = {r: int(t.req[c][nid]) for c, r in enumerate(t.resources)}
        cells["nonzero_cpu"] = int(t.nonzero_cpu[nid])
        cells["nonzero_mem"] = int(t.nonzero_mem[nid])
        nodes[name] = cells
    over = {(key, t.names_arr[nid]): v for (key, nid), v in t.over.items()}
    ports = {
        port: {t.names_arr[nid]: dict(ips) for nid, ips in by_node.items()}
        for port, by_node in t.ports.items()
        if by_node
    }
    pods = {
        uid: (
            r.namespace,
            r.name,
            r.node_name,
            tuple((t.resources[c], a) for c, a in r.vector),
            r.nonzero_cpu,
            r.nonzero_mem,
            r.ports,
            r.requests,
            dict(r.labels),
            r.label_key,
            r.spreads,
            None if r.affinity is None else r.affinity.key,
            r.attached,
            r.assumed,
        )
        for uid, r in state.pods.items()
    }
    by_node = {n: set(state.by_node.on(n)) for n in state.by_node.node_names()}
    pending = {
        uid: (p.name, p.node_name, sorted(p.requests.items())) for uid, p in state.pending.items()
    }
    return {
        "nodes": nodes,
        "over": over,
        "ports": ports,
        "pods": pods,
        "by_node": by_node,
        "pending": pending,
    }


def probes(pods: list[dict]) -> list[Any]:
    """A pending copy of each distinct (spec, labels, namespace) among `pods`, parsed."""
    out, seen = [], set()
    for i, p in enumerate(pods):
        spec = {k: v for k, v in p["spec"].items() if k != "nodeName"}
        key = repr((spec, p["metadata"].get("labels"), p["metadata"].get("namespace")))
        if key not in seen:
            seen.add(key)
            meta = {**p["metadata"], "uid": f"probe-{i}", "name": f"probe-{i}"}
            out.append(parse_pod({"kind": "Pod", "metadata": meta, "spec": spec}))
    return out


def answers(state: ClusterState, pods: list[dict]) -> list[Any]:
    """For a probe of every spec: the default policies' filter reasons and scores over
    every node, and the counts the topology policies read (matching pods per node
    for each spread constraint; per domain for each affinity term, and the terms
    placed pods carry)."""
    engine = Engine(default_configuration())
    t = state.table
    names = list(t.id_of)
    out: list[Any] = []
    for info in probes(pods):
        with state.lock:
            view, _, _ = state.view(names)
            result = engine.filter(info, view, reasons=True)
            passed = result.passed
            scores = engine.prioritize(info, view, passed) if len(passed) else None
            out.append(
                (
                    np.asarray(passed).tolist(),
                    sorted(result.failed.items()),
                    sorted(result.unresolvable.items()),
                    None if scores is None else np.asarray(scores).tolist(),
                )
            )
            for c in info.spread.constraints if info.spread else ():
                per_node = t.pod_counts.node_counts(info.namespace, c.selector, t.capacity)
                out.append({n: int(per_node[nid]) for n, nid in t.id_of.items()})
            a = info.pod_affinity
            for _, term in (a.preferred_affinity + a.preferred_anti_affinity) if a else ():
                out.append(t.affinity.matching_by_domain((term,), term.topology_key).tolist())
            for kind in KINDS:
                carried = t.affinity.carried_matching(kind, info.namespace, info.labels)
                out.append(sorted((w, repr(term.key), c.tolist()) for w, term, c in carried))
    return out


def test_the_synthetic_cluster_loads_alike() -> None:
    items = generate(60, 1500, seed=3)["items"]
    # the pods bound to nodes, as a placed snapshot holds them
    names = [i["metadata"]["name"] for i in items if i["kind"] == "Node"]
    for k, item in enumerate(i for i in items if i["kind"] == "Pod"):
        if k % 7:  # every seventh stays pending
            item["spec"]["nodeName"] = names[k % len(names)]
            item["status"] = {"phase": "Running"}
    bulk, reference = loaded(items, True), loaded(items, False)
    assert len(bulk.pods) > 1000
    assert fingerprint(bulk) == fingerprint(reference)
    pods = [i for i in items if i["kind"] == "Pod"]
    assert answers(bulk, pods) == answers(reference, pods)


NODES = ["n0", "n1", "n2"]
ZONES = {"n0": "a", "n1": "a", "n2": "b"}


def _affinity(anti: bool, app: str) -> dict:
    term = {
        "labelSelector": {"matchLabels": {"app": app}},
        "topologyKey": "topology.kubernetes.io/zone",
    }
    section = "podAntiAffinity" if anti else "podAffinity"
    return {
        section: {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "podAffinityTerm": term}
            ]
        }
    }


@st.composite
def listed_pod(draw: st.DrawFn, index: int) -> dict:
    where = draw(st.sampled_from([*NODES, "gone", None]))  # gone: a node not listed
    app = draw(st.sampled_from(["a", "b"]))
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": app}},
            }
        ]
    if draw(st.booleans()):
        extra["affinity"] = _affinity(draw(st.booleans()), draw(st.sampled_from(["a", "b"])))
    memory = draw(st.sampled_from([None, "1Gi", "600P"]))  # 600P: past the bound, twice
    p = pod(
        f"p{index}",
        cpu=draw(st.sampled_from(["100m", "1", "250m"])),
        memory=memory,
        node_name=where,
        uid=f"u{draw(st.integers(0, 12))}",  # a UID listed twice now and then
        labels={"app": app},
        **extra,
    )
    p["metadata"]["namespace"] = draw(st.sampled_from(["default", "other"]))
    if draw(st.integers(0, 5)) == 0:
        p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    if draw(st.integers(0, 7)) == 0:
        p["status"]["phase"] = "Succeeded"
    if draw(st.integers(0, 7)) == 0:
        p["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return p


@st.composite
def listing(draw: st.DrawFn) -> list[dict]:
    count = draw(st.integers(0, 30))
    pods = [draw(listed_pod(i)) for i in range(count)]
    nodes = [
        node(n, cpu="8", memory="32Gi", labels={"topology.kubernetes.io/zone": ZONES[n]})
        for n in NODES
    ]
    return nodes + pods


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listing())
def test_any_listing_loads_alike(items: list[dict]) -> None:
    bulk, reference = loaded(items, True), loaded(items, False)
    assert fingerprint(bulk) == fingerprint(reference)
    assert bulk.loaded == reference.loaded  # the counts the start-up log reports
    pods = [i for i in items if i["kind"] == "Pod"]
    assert answers(bulk, pods) == answers(reference, pods)


def test_a_bad_pod_names_itself_and_changes_nothing() -> None:
    state = ClusterState()
    good = [node("n0"), pod("ok", cpu="1", node_name="n0")]
    state.load_items(good)
    before = fingerprint(state)
    bad = pod("bad", cpu="lots", node_name="n0")
    items = [*good, pod("p1", cpu="1", node_name="n0"), bad]
    for bulk in (True, False):
        try:
            loaded(items, bulk)
        except InvalidInput as exc:
            message = str(exc)
        else:
            raise AssertionError("loaded a pod with cpu 'lots'")
        assert message.startswith("pod default/bad: spec.containers[0].resources.requests.cpu")
    try:
        state.load_items(items)
    except InvalidInput:
        pass
    assert fingerprint(state) == before
