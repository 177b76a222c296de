"""The spec cache (engine/speccache.py): STATIC answers reused per pod spec must
be exactly the uncached engine's, through any interleaving of node changes, binds
and requests; what declares nothing is never cached."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.api import DYNAMIC, STATIC, Policy, default_normalize_score
from extender.cache.whatif import WhatIfView
from extender.engine.config import PolicyConfiguration, PolicyEntry, default_configuration
from extender.engine.engine import Engine
from extender.engine.speccache import SpecCache, StaticVerdicts, object_members
from extender.framework import registry
from extender.framework.policy import depends_on
from extender.model.errors import ConfigError, PolicyError
from extender.model.pod import PodInfo
from extender.testing import load_policy, make_objects_view
from tests.helpers import make_pod, make_state, node, pod


class _StaticSplit(Policy):
    """A third-party static filter and score: odd-numbered nodes fail, those
    numbered 4 and up unresolvably; scores by the node's number."""

    depends_on = STATIC
    unresolvable = False

    def filter(self, pod, nodes):
        return np.array([int(n[-1]) % 2 == 0 for n in nodes.names], bool)

    def reasons(self, pod, nodes, failed):
        return [f"odd {nodes.names[i]}" for i in failed]

    def unresolvable_mask(self, pod, nodes, failed):
        return np.array([int(nodes.names[i][-1]) >= 4 for i in failed], bool)

    def score(self, pod, nodes):
        return np.array([int(n[-1]) * 10 for n in nodes.names], np.int64)


class _StaticRaw(Policy):
    """A third-party static score split as kube-scheduler's Score and NormalizeScore:
    raw value the node's number squared, normalized so the highest scores 100."""

    depends_on = STATIC
    raw_calls = 0

    def raw_score(self, pod, nodes):
        type(self).raw_calls += nodes.n
        return np.array([int(n[-1]) ** 2 for n in nodes.names], np.int64)

    def normalize_score(self, pod, nodes, raw):
        type(self).normalize_calls += 1
        return default_normalize_score(raw, reverse=False)

    normalize_calls = 0

    def score(self, pod, nodes):
        return self.normalize_score(pod, nodes, self.raw_score(pod, nodes))


class _Counting(Policy):
    """Declares nothing: must be asked on every request."""

    calls = 0

    def filter(self, pod, nodes):
        type(self).calls += 1
        return np.ones(nodes.n, bool)

    def reasons(self, pod, nodes, failed):
        return ["never"] * len(failed)

    def score(self, pod, nodes):
        type(self).calls += 1
        return np.zeros(nodes.n, np.int64)


@pytest.fixture(autouse=True, scope="module")
def _test_policies():
    registry.register("TestStaticSplit", _StaticSplit)
    registry.register("TestCounting", _Counting)
    registry.register("TestStaticRaw", _StaticRaw)
    yield
    for name in ("TestStaticSplit", "TestCounting", "TestWrongDeclaration", "TestStaticRaw"):
        registry.unregister(name)


def _config(filters, scores) -> PolicyConfiguration:
    return PolicyConfiguration(
        filters=tuple(PolicyEntry(n) for n in filters),
        scores=tuple(PolicyEntry(n, w) for n, w in scores),
    )


DEFAULT_SCORES = [(e.name, e.weight) for e in default_configuration().scores]
CONFIGS = {
    "default": default_configuration(),
    # a dynamic filter in the middle: only the static ones before it are cached,
    # and the static ones after it must still file their reasons in order
    "mixed": _config(
        [
            "NodeUnschedulable",
            "TestStaticSplit",
            "TaintToleration",
            "NodeResourcesFit",
            "NodeAffinity",
            "NodePorts",
            "NodeName",
        ],
        [*DEFAULT_SCORES, ("TestStaticSplit", 2), ("TestStaticRaw", 3)],
    ),
    # no static filter first: static scores only
    "scores-only": _config(["NodeResourcesFit", "NodeAffinity"], DEFAULT_SCORES),
}

TAINTS = [
    {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
    {"key": "spot", "value": "", "effect": "PreferNoSchedule"},
    {"key": "evict", "value": "now", "effect": "NoExecute"},
    {"key": "cheap", "value": "yes", "effect": "PreferNoSchedule"},
]
IMAGES = [
    {"names": ["busybox:latest"], "sizeBytes": 300 * 1024 * 1024},
    {"names": ["nginx:1"], "sizeBytes": 90 * 1024 * 1024},
]
NODE_NAMES = [f"n{i}" for i in range(8)]


def _affinity(required=None, preferred=None) -> dict:
    out: dict = {}
    if required:
        out["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": required}]
        }
    if preferred:
        out["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": w, "preference": {"matchExpressions": [e]}} for w, e in preferred
        ]
    return {"nodeAffinity": out}


SPECS = [
    {"cpu": "500m"},
    {"cpu": "1", "nodeSelector": {"zone": "a"}},
    {
        "cpu": "200m",
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu"}],
        "affinity": _affinity(
            required=[{"key": "disk", "operator": "In", "values": ["ssd"]}],
            preferred=[(5, {"key": "zone", "operator": "In", "values": ["b"]})],
        ),
    },
    {
        "cpu": "100m",
        "tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists"},
            {"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"},
        ],
        "ports": True,
    },
    {"cpu": "100m", "nodeName": "n1"},
    {
        "cpu": "3",
        "tolerations": [{"operator": "Exists"}],
        "affinity": _affinity(
            preferred=[
                (3, {"key": "zone", "operator": "In", "values": ["a", "c"]}),
                (7, {"key": "disk", "operator": "NotIn", "values": ["hdd"]}),
            ]
        ),
    },
]


def _pod(spec_index: int, uid: str, node_name: str | None = None) -> dict:
    spec = dict(SPECS[spec_index])
    cpu = spec.pop("cpu")
    ports = spec.pop("ports", False)
    wanted = spec.pop("nodeName", None)
    obj = pod(uid, cpu=cpu, node_name=node_name, uid=uid, **spec)
    container = obj["spec"]["containers"][0]
    if spec_index in (2, 5):
        container["image"] = "nginx:1"
    if ports:
        container["ports"] = [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]
    if wanted:
        obj["spec"]["nodeName"] = wanted  # asks for that node: not placed yet
        obj["status"] = {"phase": "Pending"}
    return obj


node_objects = st.builds(
    lambda name, zone, disk, taints, unsched, images, cpu: node(
        name,
        cpu=cpu,
        labels={"zone": zone, "disk": disk},
        taints=[TAINTS[i] for i in sorted(taints)],
        unschedulable=unsched,
        images=[IMAGES[i] for i in sorted(images)],
    ),
    st.sampled_from(NODE_NAMES),
    st.sampled_from("abc"),
    st.sampled_from(["ssd", "hdd"]),
    st.one_of(st.just(set()), st.just({1}), st.sets(st.integers(0, len(TAINTS) - 1), max_size=2)),
    st.sampled_from([False, False, False, True]),
    st.sets(st.integers(0, 1)),
    st.sampled_from(["1", "2", "4"]),
)
candidates = st.one_of(
    st.just("all"),
    st.tuples(st.just("window"), st.integers(0, 7), st.integers(1, 8)),
    st.tuples(st.just("some"), st.lists(st.sampled_from(NODE_NAMES + ["ghost"]), unique=True)),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("node"), node_objects),
        st.tuples(st.just("rmnode"), st.sampled_from(NODE_NAMES)),
        st.tuples(st.just("bind"), st.integers(0, len(SPECS) - 1), st.sampled_from(NODE_NAMES)),
        st.tuples(st.just("rmpod"), st.integers(0, 50)),
        st.tuples(st.just("ask"), st.integers(0, len(SPECS) - 1), candidates),
        st.tuples(st.just("ask"), st.integers(0, len(SPECS) - 1), candidates),
    ),
    min_size=1,
    max_size=40,
)


def _names(state, how) -> list[str]:
    known = sorted(state.table.id_of, key=lambda n: int(n[1:]))
    if how == "all":
        return known
    if how[0] == "window":
        _, start, length = how
        rotated = known[start % len(known) :] + known[: start % len(known)] if known else []
        return rotated[:length]
    return list(how[1])


def _answers(engine: Engine, state, pod_info: PodInfo, names: list[str]):
    view, _, _ = state.view(names)
    out = engine.filter(pod_info, view)
    view2, _, _ = state.view(names)
    quiet = engine.filter(pod_info, view2, reasons=False).passed.tolist()
    view3, _, _ = state.view(names)
    scores = engine.prioritize(pod_info, view3).tolist()
    view4, _, _ = state.view(names)
    reused = engine.prioritize(pod_info, view4, out.passed).tolist()
    view5, _, _ = state.view(names)
    picked = engine.select(pod_info, view5)
    view6, _, _ = state.view(names)
    wire = engine.filter(pod_info, view6, encoded=True)  # the wire's: cached failures encoded
    encoded = [
        list(orjson.loads(b"{" + b",".join(p for p in parts if p) + b"}").items())
        for parts in (
            (wire.static_failed, object_members(wire.failed)),
            (wire.static_unresolvable, object_members(wire.unresolvable)),
        )
    ]
    view7, _, _ = state.view(names)
    weighted, per_policy = engine.score(pod_info, view7.subset(out.passed))  # /explain's
    ids = view.ids
    victims = [list(state.by_node.on(state.table.names_arr[i]).values()) for i in ids.tolist()]
    whatif = engine.filter(pod_info, WhatIfView(state.table, ids, victims), reasons=False)
    return (
        out.passed.tolist(),
        list(out.failed.items()),  # in filing order, as the answer's JSON has them
        list(out.unresolvable.items()),
        quiet,
        scores,
        reused,
        picked,
        whatif.passed.tolist(),
        wire.passed.tolist(),
        encoded,
        weighted.tolist(),
        [v.tolist() for v in per_policy],
    )


_ENGINES: dict[str, tuple[Engine, Engine]] = {}


def _engines(config: str) -> tuple[Engine, Engine]:
    """(cached, uncached), built once: the cached one keeps its entries across
    examples, whose states are new tables with new static versions."""
    if config not in _ENGINES:
        built = CONFIGS[config]
        _ENGINES[config] = (Engine(built, check_all=True), Engine(built, spec_cache=False))
    return _ENGINES[config]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), st.lists(node_objects, min_size=2, max_size=8), operations)
def test_cached_answers_equal_uncached_through_any_interleaving(config, nodes, ops):
    cached, plain = _engines(config)
    state = make_state(list({n["metadata"]["name"]: n for n in nodes}.values()))
    bound: list[str] = []
    serial = 0
    for op in ops:
        serial += 1
        kind = op[0]
        if kind == "node":
            state.apply_node(op[1])
        elif kind == "rmnode":
            state.remove_node(op[1])
        elif kind == "bind":
            uid = f"b{serial}"
            state.apply_pod(_pod(op[1], uid, node_name=op[2]))
            bound.append(uid)
        elif kind == "rmpod":
            if bound:
                state.remove_pod(bound.pop(op[1] % len(bound)))
        else:
            _, spec, how = op
            pod_info = make_pod(_pod(spec, f"q{serial}"))
            names = _names(state, how)
            want = _answers(plain, state, pod_info, names)
            assert _answers(cached, state, pod_info, names) == want
            # and again: now answered from the entry (and its remembered answer)
            assert _answers(cached, state, make_pod(_pod(spec, f"r{serial}")), names) == want


# ---- the declaration ---------------------------------------------------------


def test_a_policy_that_declares_nothing_is_dynamic():
    class Bare:
        name = "Bare"

    assert depends_on(Bare()) == DYNAMIC
    assert Policy.depends_on == DYNAMIC


def test_a_misspelt_declaration_is_a_config_error():
    class Wrong(Policy):
        depends_on = "statik"

        def filter(self, pod, nodes):
            return np.ones(nodes.n, bool)

        def reasons(self, pod, nodes, failed):
            return ["never"] * len(failed)

    with pytest.raises(ConfigError, match="depends_on must be 'static' or 'dynamic'"):
        depends_on(Wrong())
    registry.register("TestWrongDeclaration", Wrong)
    with pytest.raises(ConfigError, match="TestWrongDeclaration: depends_on"):
        Engine(_config(["TestWrongDeclaration"], []))


@pytest.mark.parametrize(
    ("name", "kind", "declared"),
    [
        ("NodeUnschedulable", "filter", STATIC),
        ("NodeName", "filter", STATIC),
        ("TaintToleration", "filter", STATIC),
        ("NodeAffinity", "filter", STATIC),
        ("ImageLocality", "score", STATIC),
        ("NodeResourcesFit", "filter", DYNAMIC),
        ("NodePorts", "filter", DYNAMIC),
        ("NodeResourcesBalancedAllocation", "score", DYNAMIC),
    ],
)
def test_the_built_ins_declare_what_they_read(name, kind, declared):
    assert depends_on(load_policy(name, kind=kind)) == declared


def test_the_static_prefix_stops_at_the_first_dynamic_filter():
    assert Engine(default_configuration()).static_prefix == 4
    assert Engine(CONFIGS["mixed"]).static_prefix == 3
    assert Engine(CONFIGS["scores-only"]).static_prefix == 0
    assert Engine(_config(["NodeResourcesFit"], [("NodeResourcesFit", 1)])).spec_cache is None


# ---- what is reused and what invalidates it ------------------------------------


def _zone_state():
    return make_state([node("n0", labels={"zone": "a"}), node("n1", labels={"zone": "b"})])


def _ask(engine, state, spec_pod):
    view, _, _ = state.view(["n0", "n1"])
    return engine.filter(make_pod(spec_pod), view)


def test_binds_keep_the_entry_and_node_changes_drop_it():
    engine = Engine(default_configuration())
    state = _zone_state()
    cache = engine.spec_cache
    asking = _pod(1, "x")  # nodeSelector zone=a
    assert _ask(engine, state, asking).passed.tolist() == [0]
    assert (cache.hits, cache.misses) == (0, 1)
    state.apply_pod(_pod(0, "placed", node_name="n0"))  # a bind: static answers stand
    assert _ask(engine, state, asking).passed.tolist() == [0]
    assert (cache.hits, cache.misses) == (1, 1)
    state.apply_node(node("n1", labels={"zone": "a"}))  # a label change: asked afresh
    assert _ask(engine, state, asking).passed.tolist() == [0, 1]
    assert (cache.hits, cache.misses) == (1, 2)
    state.apply_node(node("n1", labels={"zone": "a"}, taints=[TAINTS[0]]))
    out = _ask(engine, state, asking)
    assert out.passed.tolist() == [0]
    assert out.unresolvable == {"n1": "node(s) had untolerated taint {dedicated: gpu}"}
    state.apply_node(node("n1", labels={"zone": "a"}, unschedulable=True))
    assert _ask(engine, state, asking).unresolvable == {"n1": "node(s) were unschedulable"}
    state.remove_node("n0")
    view, _, unknown = state.view(["n0", "n1"])
    assert unknown == ["n0"]
    assert engine.filter(make_pod(asking), view).passed.tolist() == []
    assert cache.misses == 5  # one per node change


def test_a_node_added_is_judged():
    engine = Engine(default_configuration())
    state = _zone_state()
    assert _ask(engine, state, _pod(1, "x")).passed.tolist() == [0]
    state.apply_node(node("n2", labels={"zone": "a"}))
    view, _, _ = state.view(["n0", "n1", "n2"])
    assert engine.filter(make_pod(_pod(1, "y")), view).passed.tolist() == [0, 2]


def test_dynamic_policies_are_asked_on_every_request():
    engine = Engine(_config(["NodeName", "TestCounting"], [("TestCounting", 1)]))
    state = _zone_state()
    _Counting.calls = 0
    for i in range(3):
        view, _, _ = state.view(["n0", "n1"])
        engine.prioritize(make_pod(_pod(0, f"p{i}")), view)
    assert _Counting.calls == 6  # a filter and a score per request
    assert engine.spec_cache.hits == 2


def test_pods_built_by_hand_and_sent_nodes_are_not_cached():
    engine = Engine(default_configuration())
    state = _zone_state()
    by_hand = PodInfo(
        uid="u", name="p", namespace="d", requests={}, nonzero_cpu=0, nonzero_memory=0
    )
    view, _, _ = state.view(["n0", "n1"])
    assert engine.filter(by_hand, view).passed.tolist() == [0, 1]
    objects = make_objects_view([node("n0", labels={"zone": "b"})])
    assert engine.filter(make_pod(_pod(1, "x")), objects).passed.tolist() == []
    assert len(engine.spec_cache) == 0
    assert (engine.spec_cache.hits, engine.spec_cache.misses) == (0, 0)


def test_the_answer_handed_out_is_the_callers_own():
    engine = Engine(default_configuration())
    state = _zone_state()
    first = _ask(engine, state, _pod(1, "x"))
    first.unresolvable["intruder"] = "x"
    first.failed["intruder"] = "x"
    again = _ask(engine, state, _pod(1, "y"))
    assert "intruder" not in again.unresolvable and "intruder" not in again.failed


def test_the_cache_is_bounded_in_entries_and_bytes():
    cache = SpecCache(max_entries=2, max_bytes=10**9)
    pods = [make_pod(_pod(i, f"p{i}")) for i in range(4)]
    for p in pods:
        cache.put(p, 7, StaticVerdicts(10, 4))
    assert len(cache) == 2
    assert cache.get(pods[0], 7) is None and cache.get(pods[3], 7) is not None
    small = SpecCache(max_entries=100, max_bytes=20_000)
    for i in range(20):
        spec = dataclasses.replace(pods[0], spec_id=10_000 + i)
        small.put(spec, 7, StaticVerdicts(100, 4))  # ~1,556 bytes each
    assert 10 <= len(small) < 20 and small._memo.bytes <= 20_000
    assert small.get(pods[3], 8) is None and len(small) == 0  # a new version empties it


def test_a_node_removed_outside_the_candidates_rescales_image_locality():
    """ImageLocality reads how many nodes hold an image and how many there are:
    removing a node no request names still changes its score."""
    config = _config(["NodeName"], [("ImageLocality", 1)])
    cached, plain = Engine(config), Engine(config, spec_cache=False)
    state = make_state([node("n0", images=[IMAGES[0]]), node("n1", images=[IMAGES[0]]), node("n2")])

    def scores(engine, uid):
        view, _, _ = state.view(["n0", "n1"])
        return engine.score(make_pod(_pod(0, uid)), view)[1][0].tolist()

    before = scores(cached, "a")
    assert scores(cached, "b") == before == scores(plain, "c")
    state.remove_node("n2")
    after = scores(plain, "d")
    assert after != before
    assert scores(cached, "e") == after


class _StaticSizes(_StaticSplit):
    """Static, and notes how many nodes each call judges."""

    sizes: list[int] = []

    def filter(self, pod, nodes):
        type(self).sizes.append(nodes.n)
        return super().filter(pod, nodes)


def test_a_request_judges_only_the_nodes_it_names_and_no_node_twice():
    registry.register("TestStaticSizes", _StaticSizes)
    try:
        engine = Engine(_config(["TestStaticSizes"], []))
    finally:
        registry.unregister("TestStaticSizes")
    state = make_state([node(f"n{i}") for i in range(8)])
    _StaticSizes.sizes = []
    for uid, names in (("a", ["n0", "n1"]), ("b", ["n1", "n2", "n3"]), ("c", ["n3", "n0"])):
        view, _, _ = state.view(names)
        out = engine.filter(make_pod(_pod(0, uid)), view)
    assert _StaticSizes.sizes == [2, 2]  # n0 n1, then n2 n3; the third is all known
    assert out.passed.tolist() == [1] and out.failed == {"n3": "odd n3"}
    assert (engine.spec_cache.hits, engine.spec_cache.misses) == (1, 2)


def test_a_few_scored_node_sets_are_kept_most_recent_first():
    """A dynamic filter taking turns leaving out different nodes (a zone at its skew
    limit, a host with an anti-affine pod) alternates the scored sets: each of the
    last SCORE_SETS sets is answered from the cache, the least recently used goes."""
    from extender.engine.speccache import SCORE_SETS

    entry = StaticVerdicts(16, 0)
    sets = [np.delete(np.arange(8, dtype=np.int64), skip) for skip in range(SCORE_SETS + 1)]
    for k, ids in enumerate(sets[:SCORE_SETS]):
        entry.keep_scores(ids, {0: np.full(len(ids), k, np.int64)})
    for k, ids in enumerate(sets[:SCORE_SETS]):
        found = entry.scores_for(ids.copy())  # a fresh array with the same nodes
        assert found is not None and int(found[0][0]) == k
    assert entry.scores_for(sets[SCORE_SETS]) is None
    assert entry.scores_for(np.arange(3, dtype=np.int64)) is None  # another length
    # sets[0] was the least recently used (asked first above): it goes
    entry.keep_scores(sets[SCORE_SETS], {0: np.zeros(7, np.int64)})
    assert entry.scores_for(sets[0].copy()) is None
    assert entry.scores_for(sets[SCORE_SETS - 1].copy()) is not None
    assert entry.nbytes() > StaticVerdicts(16, 0).nbytes()


def test_raw_scores_are_kept_by_node_for_any_later_set_of_scored_nodes():
    """A split static score is computed once per node and spec: a later pod scoring
    another set of nodes computes only the nodes not seen yet, and its scores are
    normalized over exactly its own set (the same as the uncached engine's)."""
    config = _config(["NodeUnschedulable"], [("TestStaticRaw", 1)])
    cached, plain = Engine(config, check_all=True), Engine(config, spec_cache=False)
    state = make_state([node(f"n{i}") for i in range(8)])
    _StaticRaw.raw_calls = 0
    asked = [["n0", "n1", "n2"], ["n2", "n3"], ["n1", "n3", "n0"], ["n7", "n0"]]
    for k, names in enumerate(asked):
        view, _, _ = state.view(names)
        got = cached.prioritize(make_pod(_pod(0, f"a{k}")), view).tolist()
        view, _, _ = state.view(names)
        assert got == plain.prioritize(make_pod(_pod(0, f"b{k}")), view).tolist()
    # n0 n1 n2, then n3, then none, then n7: each node once (plain asked 10 more)
    assert _StaticRaw.raw_calls == 5 + 10
    view, _, _ = state.view(["n1", "n3"])
    assert cached.prioritize(make_pod(_pod(0, "c")), view).tolist() == [1, 10]  # 1 and 9 of 9
    # the same set again: the kept weighted sum answers, nothing is normalized afresh
    _StaticRaw.normalize_calls = 0
    for verb in ("prioritize", "select"):
        view, _, _ = state.view(["n1", "n3"])
        getattr(cached, verb)(make_pod(_pod(0, f"d{verb}")), view)
    assert _StaticRaw.normalize_calls == 0


def test_a_raw_score_of_the_wrong_shape_names_the_policy():
    class Short(_StaticRaw):
        def raw_score(self, pod, nodes):
            return np.zeros(max(nodes.n - 1, 0), np.int64)

    registry.register("TestShortRaw", Short)
    try:
        engine = Engine(_config(["NodeUnschedulable"], [("TestShortRaw", 1)]))
        view, _, _ = make_state([node("n0"), node("n1")]).view(["n0", "n1"])
        with pytest.raises(PolicyError, match=r"TestShortRaw: raw_score\(\) must return"):
            engine.prioritize(make_pod(_pod(0, "a")), view)
    finally:
        registry.unregister("TestShortRaw")
