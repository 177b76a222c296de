"""The planner's shortcuts (plan/policyfacts.py) never change a plan: the same
placements, additions and counts with every filter run for every pod."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import extender.plan.fit as fit_module
import extender.plan.place as place_module
from bench.workload import generate
from extender.engine.config import PolicyEntry
from extender.plan.fit import fit_template
from extender.plan.place import place
from extender.plan.policyfacts import node_local_monotone
from extender.plan.shapes import load_shapes
from extender.plan.source import build
from extender.plan.workload import load_templates
from tests.plan.objects import deployment, listing, node, pod_spec, running_pod

SPREAD = {"maxSkew": 1, "topologyKey": "zone", "labelSelector": {}}
ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{}]}}


def _engine(*filters, args=None):
    entries = tuple(PolicyEntry(n, args=(args or {}).get(n, {})) for n in filters)
    return SimpleNamespace(config=SimpleNamespace(filters=entries))


def _pod(**spec):
    return {"kind": "Pod", "spec": {"containers": [], **spec}}


DEFAULT = (
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
)


def test_which_configurations_allow_the_shortcuts():
    assert node_local_monotone(_engine(*DEFAULT))
    assert not node_local_monotone(_engine("NodeAffinity"))  # no NodeResourcesFit
    assert not node_local_monotone(_engine(*DEFAULT, "SomeonesPlugin"))
    spread = _engine(*DEFAULT, "PodTopologySpread")
    assert node_local_monotone(spread, [_pod()])
    soft = {**SPREAD, "whenUnsatisfiable": "ScheduleAnyway"}
    assert node_local_monotone(spread, [_pod(topologySpreadConstraints=[soft])])
    assert not node_local_monotone(spread, [_pod(topologySpreadConstraints=[SPREAD])])
    listed = _engine(
        *DEFAULT,
        "PodTopologySpread",
        args={"PodTopologySpread": {"defaultingType": "List", "defaultConstraints": [SPREAD]}},
    )
    assert not node_local_monotone(listed, [_pod()])
    affinity = _engine(*DEFAULT, "InterPodAffinity")
    assert node_local_monotone(affinity, [_pod()])
    assert not node_local_monotone(affinity, [_pod(affinity=ANTI)])


@pytest.fixture(scope="module")
def synthetic():
    return [i for i in generate(40, 0, seed=5)["items"] if i["kind"] == "Node"]


deployments = st.lists(
    st.tuples(
        st.integers(0, 60),  # replicas
        st.sampled_from(["100m", "250m", "1", "3", "40"]),
        st.sampled_from([None, "256Mi", "4Gi", "30Gi"]),
        st.sampled_from([None, 9000]),  # host port
        st.sampled_from([None, {"example.com/pool": "spot"}, {"example.com/pool": "nope"}]),
    ),
    min_size=1,
    max_size=5,
)


def _workload(tmp_path, spec, one_per_node=False):
    items = [
        deployment(f"d{i}", n, pod_spec(cpu, mem, host_port=port, node_selector=sel))
        for i, (n, cpu, mem, port, sel) in enumerate(spec)
    ]
    for item in items if one_per_node else ():  # at most one of its pods a node
        term = {
            "labelSelector": {"matchLabels": {"app": item["metadata"]["name"]}},
            "topologyKey": "kubernetes.io/hostname",
        }
        item["spec"]["template"]["spec"]["affinity"] = {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        }
    path = tmp_path / "w.json"
    path.write_bytes(orjson.dumps(listing(items)))
    return load_templates([str(path)])


def _plain(monkeypatch):
    monkeypatch.setattr(place_module, "node_local_monotone", lambda *a: False)
    monkeypatch.setattr(fit_module, "node_local_monotone", lambda *a: False)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=deployments, seed=st.sampled_from([None, 3]), grow=st.booleans())
@example(spec=[(60, "3", "4Gi", None, None), (40, "250m", None, 9000, None)], seed=3, grow=True)
def test_place_and_grow_are_the_same_without_shortcuts(
    tmp_path, monkeypatch, synthetic, spec, seed, grow
):
    shapes, nodes = None, synthetic
    if grow:  # a small cluster, so that nodes are added
        nodes = synthetic[:3]
        (tmp_path / "s.json").write_bytes(orjson.dumps(node("shape", "8", "32Gi", pods=20)))
        shapes = load_shapes([str(tmp_path / "s.json")])
    templates = _workload(tmp_path, spec)
    fast = place(build(nodes, "t", None, None), templates, seed, shapes)
    with monkeypatch.context() as m:
        _plain(m)
        plain = place(build(nodes, "t", None, None), templates, seed, shapes)
    assert fast.placements == plain.placements
    assert fast.added == plain.added
    assert set(fast.unplaced) == set(plain.unplaced)
    assert fast.unplaced_reasons == plain.unplaced_reasons
    if grow and sum(n for n, cpu, _, _, sel in spec if cpu == "3" and sel is None) >= 30:
        assert fast.added  # the shortcuts were exercised on added nodes too


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=deployments)
def test_fit_is_the_same_without_shortcuts(tmp_path, monkeypatch, spec):
    items = [node(f"n{i}", "4", "8Gi", pods=12) for i in range(6)]
    items += [running_pod(f"p{i}", f"n{i % 6}", "300m", "500Mi") for i in range(10)]
    cluster = build(items, "t", None, None)
    for t in _workload(tmp_path, spec):
        fast = fit_template(cluster, t)
        with monkeypatch.context() as m:
            _plain(m)
            plain = fit_template(cluster, t)
        assert (fast.per_node, fast.limited_by) == (plain.per_node, plain.limited_by)


def _guarded_pod(i: int, where: str, kind: str, key: str, app: str) -> dict:
    """A running pod with a required pod (anti-)affinity term for pods labelled `app`."""
    obj = running_pod(f"g{i}", where, "200m", "256Mi")
    obj["metadata"]["labels"] = {"app": f"guard-{i % 2}"}
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
    obj["spec"]["affinity"] = {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return obj


guards = st.lists(
    st.tuples(
        st.integers(0, 5),  # node
        st.sampled_from(["podAntiAffinity", "podAffinity"]),
        st.sampled_from(["kubernetes.io/hostname", "zone"]),
        st.sampled_from(["d0", "d1", "guard-0", "nobody"]),  # whose pods the term is about
    ),
    max_size=6,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=deployments,
    guarded=guards,
    seed=st.sampled_from([None, 3]),
    one_per_node=st.booleans(),
)
@example(
    spec=[(30, "250m", None, None, None), (30, "100m", None, None, None)],
    guarded=[
        (0, "podAntiAffinity", "zone", "d0"),
        (4, "podAntiAffinity", "kubernetes.io/hostname", "d1"),
    ],
    seed=None,
    one_per_node=False,
)
def test_running_pods_required_terms_keep_the_shortcuts_exact(
    tmp_path, monkeypatch, spec, guarded, seed, one_per_node
):
    """Running pods' required (anti-)affinity terms refuse a template's pods on the same
    nodes whatever the plan binds (the copies carry no such term), so the shortcuts
    stay exact with them: fit and place agree with every filter run for every pod.
    (`one_per_node`: the workload's own required anti-affinity, which the shortcuts
    must not take.)"""
    items = [node(f"n{i}", "4", "8Gi", pods=12, labels={"zone": f"z{i % 2}"}) for i in range(6)]
    items += [running_pod(f"p{i}", f"n{i % 6}", "300m", "500Mi") for i in range(6)]
    items += [
        _guarded_pod(i, f"n{w}", kind, key, app) for i, (w, kind, key, app) in enumerate(guarded)
    ]
    templates = _workload(tmp_path, spec, one_per_node)
    cluster = build(items, "t", None, None)
    fits = [fit_template(cluster, t) for t in templates]
    placed = place(build(items, "t", None, None), templates, seed, None)
    with monkeypatch.context() as m:
        _plain(m)
        plain_fits = [fit_template(cluster, t) for t in templates]
        plain = place(build(items, "t", None, None), templates, seed, None)
    assert [(f.per_node, f.limited_by) for f in fits] == [
        (f.per_node, f.limited_by) for f in plain_fits
    ]
    assert placed.placements == plain.placements
    assert placed.unplaced_reasons == plain.unplaced_reasons
