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

import os
import tempfile
from collections.abc import Iterable
from typing import Any
from unittest.mock import patch

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.workload import generate
from extender.cache.affinitycounts import KINDS
from extender.cache.bulkattach import record_copy
from extender.cache.podindex import PodRecord
from extender.cache.state import ClusterState, _pod_placement, object_name
from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.model.errors import InvalidInput
from extender.model.pod import parse_pod
from tests.helpers import node, pod


def _one_by_one(self: ClusterState, pods: Iterable[dict]) -> tuple[int, int]:
    """The pod loop `replace_all` ran before the bulk path, and the pending and
    terminal counts `load_items` took from a second pass (`pods` may be read once:
    held here for it)."""
    pods = list(pods)
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
    names = sorted(t.id_of)  # by name: the same order however the nodes were listed
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
                counts = t.affinity.matching_by_domain((term,), term.topology_key)
                out.append(_by_node(t, counts, term.topology_key))
            for kind in KINDS:
                carried = t.affinity.carried_matching(kind, info.namespace, info.labels)
                out.append(
                    sorted(
                        (w, repr(term.key), _by_node(t, c, term.topology_key))
                        for w, term, c in carried
                    )
                )
    return out


def _by_node(table: Any, per_domain: np.ndarray, key: str) -> list[tuple[str, int]]:
    """A count per domain id as each node's domain's count, by node name: domain ids
    follow the order nodes were listed in, names do not."""
    return sorted(
        (name, int(per_domain[table.labels.domain_of(key, nid)]))
        for name, nid in table.id_of.items()
    )


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


def test_a_record_copy_carries_every_field() -> None:
    """`record_copy` names PodRecord's fields one by one (for speed): a field added to
    PodRecord and not carried over fails here."""
    values = {name: object() for name in PodRecord.__slots__}
    values["attached"] = values["assumed"] = True
    proto = PodRecord(**values)
    copy = record_copy(proto, "uid-2", "name-2", "node-2")
    own = {"uid": "uid-2", "name": "name-2", "node_name": "node-2"}
    for name in PodRecord.__slots__:
        if name in own:
            assert getattr(copy, name) == own[name]
        elif name in ("attached", "assumed"):
            assert getattr(copy, name) is False, name
        else:
            assert getattr(copy, name) is values[name], name


def _load_result(items: list[Any], bulk: bool) -> Any:
    """The fingerprint of the load, or the message of the error that refused it."""
    try:
        return fingerprint(loaded(items, bulk))
    except InvalidInput as exc:
        return str(exc)


def _mostly(draw: st.DrawFn, usual: Any, *odd: Any) -> Any:
    """`usual` eleven times in twelve, else one of `odd`: copies mostly agree, and an
    odd one mostly comes after others it must not be taken for."""
    return usual if draw(st.integers(0, 11)) else draw(st.sampled_from(odd))


@st.composite
def copied_pod(draw: st.DrawFn, index: int) -> dict:
    """Placed copies of a few specs, alike but for what the bulk path's grouping must
    tell apart (or must check per pod): JSON types parse_pod refuses or reads
    differently (true for 1, 1.0 for 1), annotations, ownerReferences, a status
    with container statuses, a terminating pod, names and UIDs of every shape."""
    p = pod(
        f"c{index}",
        cpu=draw(st.sampled_from(["100m", "1"])),
        node_name=draw(st.sampled_from(NODES)),
        uid=f"u{index}",
        labels={"app": _mostly(draw, "a", "b")},
    )
    meta, spec = p["metadata"], p["spec"]
    priority = _mostly(draw, 1, None, 1.0, True, "1")
    if priority is not None:
        spec["priority"] = priority
    annotations = _mostly(draw, None, {}, {"a": "x"}, {"a": f"x{index}"}, {"a": 1}, [], "", 0)
    if annotations is not None:
        meta["annotations"] = annotations
    if not draw(st.integers(0, 3)):
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"rs{index}",
                "controller": True,
            }
        ]
    meta["uid"] = _mostly(draw, f"u{index}", f"u{index % 3}", "", None, 7)
    meta["name"] = _mostly(draw, f"c{index}", "", None, 7)
    status = _mostly(
        draw, None, {"name": "c"}, {"name": "c", "resources": {"requests": {"cpu": "3"}}}
    )
    if status is not None:  # a resize reports what the container holds
        p["status"]["containerStatuses"] = [status]
    if not draw(st.integers(0, 11)):
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    namespace = _mostly(draw, "default", "", "other", 3)
    meta["namespace"] = namespace
    return p


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 25).flatmap(lambda n: st.tuples(*(copied_pod(i) for i in range(n)))))
def test_copies_of_one_spec_load_alike_or_fail_alike(pods: tuple[dict, ...]) -> None:
    nodes = [node(n, cpu="64", memory="256Gi") for n in NODES]
    items = nodes + list(pods)
    assert _load_result(items, True) == _load_result(items, False)


ODD_COPIES = [
    ("priority", True),  # refused: JSON true is not the integer 1
    ("priority", 1.0),  # the integer 1, as JSON Schema reads it
    ("status", {"containerStatuses": [{"name": "c", "resources": {"requests": {"cpu": "3"}}}]}),
    ("annotations", {"a": 1}),
    ("deletionTimestamp", "2026-12-01T00:00:00Z"),
    ("namespace", "other"),
    ("uid", ""),
    ("name", 7),
]


@pytest.mark.parametrize(("field", "value"), ODD_COPIES, ids=[f for f, _ in ODD_COPIES])
def test_a_copy_unlike_the_one_before_is_not_taken_for_it(field: str, value: Any) -> None:
    """What the grouping must not miss, each after a pod it would otherwise copy."""
    listed = []
    for i in range(3):
        p = pod(f"c{i}", cpu="1", node_name="n0", labels={"app": "a"})
        p["spec"]["priority"] = 1
        listed.append(p)
    odd = listed[2]
    if field == "priority":
        odd["spec"]["priority"] = value
    elif field == "status":
        odd["status"].update(value)
    else:
        odd["metadata"][field] = value
    items = [node(n, cpu="64", memory="256Gi") for n in NODES] + listed
    assert _load_result(items, True) == _load_result(items, False)


def _load_file(
    items: list[Any], raw: bytes | None = None, state: ClusterState | None = None
) -> ClusterState:
    """`state` (default: a new one) loaded from a snapshot file holding `items` (or
    the bytes `raw`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "snapshot.json")
        with open(path, "wb") as f:
            f.write(raw if raw is not None else orjson.dumps({"kind": "List", "items": items}))
        state = ClusterState() if state is None else state
        state.loaded = state.load_file(path)  # type: ignore[attr-defined]
        return state


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listing(), st.randoms(use_true_random=False))
def test_a_snapshot_file_loads_as_its_items_do_in_any_order(items: list[dict], rnd) -> None:
    # the file is read item by item (ListItems), nodes before, among or after their
    # pods; the pods keep their order (of a UID listed twice, the last copy wins)
    reference = loaded(items, True)
    mixed = [i for i in items if i["kind"] == "Pod"]
    for n in (i for i in items if i["kind"] == "Node"):
        mixed.insert(rnd.randint(0, len(mixed)), n)
    streamed = _load_file(mixed)
    assert fingerprint(streamed) == fingerprint(reference)
    assert streamed.loaded == reference.loaded
    pods = [i for i in items if i["kind"] == "Pod"]
    assert answers(streamed, pods) == answers(reference, pods)


def test_a_bad_pod_in_a_snapshot_file_names_itself_and_changes_nothing() -> None:
    state = _load_file([node("n0"), pod("ok", cpu="1", node_name="n0")])
    before = fingerprint(state)
    bad = pod("bad", cpu="lots", node_name="n0")
    items = [node("n0"), pod("p1", cpu="1", node_name="n0"), bad]
    with pytest.raises(InvalidInput, match=r"^pod default/bad: spec\.containers\[0\]"):
        _load_file(items, state=state)
    assert fingerprint(state) == before


def test_a_snapshot_file_the_item_reader_refuses_is_decoded_whole() -> None:
    items = [node("n0"), pod("ok", cpu="1", node_name="n0")]
    text = orjson.dumps({"kind": "List", "items": items})
    # a repeated items member: orjson keeps the last, so the whole decode must be used
    repeated = b'{"items": [' + orjson.dumps(pod("early", cpu="1")) + b"], " + text[1:]
    state = _load_file([], repeated)
    assert fingerprint(state) == fingerprint(loaded(items, True))
    # not JSON: the whole decode's own message, as before
    with pytest.raises(InvalidInput, match="neither valid JSON nor YAML"):
        _load_file([], text[:-1] + b", NaN]}")
