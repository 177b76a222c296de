"""extender.cache.labelindex: selectors evaluated over every node at once.

The property tests compare `LabelIndex` with a reference evaluator written
here, independently of both the index and `CompiledNodeSelector.matches`.
"""

from __future__ import annotations

import re
import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache.labelindex import LabelIndex
from extender.model.selectors import (
    compile_label_map,
    compile_node_selector,
    compile_preferred_terms,
)
from tests.model.test_selectors import PREFERRED, REQUIRED, expr, name_field, terms


def test_values_per_node_with_none_where_absent():
    index = LabelIndex(capacity=2)
    index.set_node(0, "a", {"zone": "z1", "tier": "gold"})
    index.set_node(2, "c", {"zone": "z2"})
    assert index.values("zone").tolist()[:3] == ["z1", None, "z2"]
    assert index.values("tier").tolist()[:3] == ["gold", None, None]
    assert set(index.values("missing").tolist()) == {None}
    assert not index.values("zone").flags.writeable
    index.set_node(2, "c", {"zone": "z3"})
    assert index.values("zone").tolist()[2] == "z3"
    index.remove_node(0)
    assert index.values("zone").tolist()[0] is None


# --- LabelIndex -------------------------------------------------------------

ZONE_A = compile_label_map({"zone": "a"})


def test_mask_is_cached_until_a_change():
    index = LabelIndex()
    index.set_node(0, "n0", {"zone": "a"})
    index.set_node(1, "n1", {"zone": "b"})
    first = index.mask(ZONE_A)
    assert index.mask(ZONE_A) is first
    assert not first.flags.writeable
    assert first[:2].tolist() == [True, False]

    version = index.version
    index.set_node(1, "n1", {"zone": "b"})  # unchanged: caches stay valid
    assert index.version == version
    assert index.mask(ZONE_A) is first

    index.set_node(1, "n1", {"zone": "a"})
    assert index.version > version
    second = index.mask(ZONE_A)
    assert second is not first
    assert second[:2].tolist() == [True, True]


def test_label_removed_from_a_node():
    index = LabelIndex()
    index.set_node(0, "n0", {"zone": "a", "gpu": "1"})
    has_gpu = compile_node_selector(terms({"matchExpressions": [expr("gpu", "Exists")]}), REQUIRED)
    gpu_gt = compile_node_selector(terms({"matchExpressions": [expr("gpu", "Gt", "0")]}), REQUIRED)
    assert index.mask(has_gpu)[0] and index.mask(gpu_gt)[0]
    index.set_node(0, "n0", {"zone": "a"})
    assert not index.mask(has_gpu)[0]
    assert not index.mask(gpu_gt)[0]
    assert index.mask(ZONE_A)[0]


def test_remove_node_and_reuse_its_id():
    index = LabelIndex()
    index.set_node(0, "n0", {"zone": "a"})
    index.set_node(1, "n1", {"zone": "a"})
    by_name = compile_node_selector(terms({"matchFields": [name_field("In", "n1")]}), REQUIRED)
    not_b = compile_node_selector(
        terms({"matchExpressions": [expr("zone", "NotIn", "b")]}), REQUIRED
    )
    assert index.mask(ZONE_A)[:2].tolist() == [True, True]
    assert index.mask(by_name)[:2].tolist() == [False, True]

    index.remove_node(1)
    assert index.mask(ZONE_A)[:2].tolist() == [True, False]
    assert index.mask(by_name)[:2].tolist() == [False, False]
    assert index.mask(not_b)[:2].tolist() == [True, False]  # removed rows never match
    assert len(index) == 1

    index.set_node(1, "n9", {})  # id reused by another node
    assert index.mask(ZONE_A)[:2].tolist() == [True, False]
    assert index.mask(by_name)[:2].tolist() == [False, False]
    assert index.mask(not_b)[:2].tolist() == [True, True]
    index.remove_node(7)  # unknown id: no effect
    assert len(index) == 2


def test_capacity_grows_and_unused_rows_are_false():
    index = LabelIndex(capacity=2)
    index.set_node(0, "n0", {"zone": "a"})
    index.set_node(100, "n100", {"zone": "a"})
    assert index.capacity >= 101
    mask = index.mask(ZONE_A)
    assert len(mask) == index.capacity
    assert np.flatnonzero(mask).tolist() == [0, 100]
    anything = compile_node_selector(terms({"matchExpressions": [expr("x", "DoesNotExist")]}), "f")
    assert np.flatnonzero(index.mask(anything)).tolist() == [0, 100]
    weights = index.weights(
        compile_preferred_terms(
            [{"weight": 9, "preference": {"matchExpressions": [expr("x", "DoesNotExist")]}}], "p"
        )
    )
    assert weights.dtype == np.int64
    assert np.flatnonzero(weights).tolist() == [0, 100]
    assert weights[100] == 9


def test_unknown_label_key_and_value():
    index = LabelIndex.from_nodes(["n0", "n1"], [{"zone": "a"}, {}])
    cases = {
        ("nokey", "In", ("x",)): [False, False],
        ("nokey", "NotIn", ("x",)): [True, True],
        ("nokey", "Exists", ()): [False, False],
        ("nokey", "DoesNotExist", ()): [True, True],
        ("nokey", "Gt", ("1",)): [False, False],
        ("zone", "In", ("never-seen",)): [False, False],
        ("zone", "NotIn", ("never-seen",)): [True, True],
    }
    for (key, op, values), want in cases.items():
        selector = compile_node_selector(terms({"matchExpressions": [expr(key, op, *values)]}), "f")
        assert index.mask(selector).tolist() == want, (key, op, values)


def test_from_nodes_matches_incremental_build():
    names = [f"n{i}" for i in range(50)]
    labels = [{"zone": f"z{i % 3}", "rank": str(i)} for i in range(50)]
    bulk = LabelIndex.from_nodes(names, labels)
    incremental = LabelIndex()
    for i in reversed(range(50)):
        incremental.set_node(i, names[i], labels[i])
    selector = compile_node_selector(
        terms(
            {"matchExpressions": [expr("zone", "In", "z1"), expr("rank", "Lt", "20")]},
            {"matchFields": [name_field("In", "n42")]},
        ),
        "f",
    )
    want = [selector.matches(labels[i], names[i]) for i in range(50)]
    assert bulk.mask(selector)[:50].tolist() == want
    assert incremental.mask(selector)[:50].tolist() == want
    assert sum(want) == 8


def test_concurrent_readers_get_consistent_masks():
    index = LabelIndex.from_nodes(
        [f"n{i}" for i in range(200)], [{"zone": "ab"[i % 2], "i": str(i)} for i in range(200)]
    )
    selectors = [
        compile_node_selector(terms({"matchExpressions": [expr("i", "Gt", str(k))]}), "f")
        for k in range(0, 200, 10)
    ]
    errors = []

    def work():
        for _ in range(20):
            for k, selector in zip(range(0, 200, 10), selectors, strict=True):
                if int(index.mask(selector).sum()) != 199 - k:
                    errors.append(k)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- property tests against an independent reference ------------------------

KEYS = ["a", "b", "zone", "example.com/c"]
NODE_VALUES = ["", "x", "y", "1", "2", "10", "007", "-3", "abc", "99999999999999999999"]
SELECTOR_VALUES = ["", "x", "y", "1", "10", "abc", "z"]
BOUNDS = ["0", "1", "2", "5", "10", "007"]
NAMES = ["n0", "n1", "n2", "n3"]


def ref_int(value):
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        return None
    number = int(value)
    return number if -(2**63) <= number < 2**63 else None


def ref_requirement(req, labels):
    key, op, values = req["key"], req["operator"], req.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    number = ref_int(labels[key]) if present else None
    if number is None:
        return False
    return number > int(values[0]) if op == "Gt" else number < int(values[0])


def ref_term(term, labels, name):
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    if not all(ref_requirement(r, labels) for r in expressions):
        return False
    if name:
        for f in fields:
            if (name == f["values"][0]) != (f["operator"] == "In"):
                return False
    return True


def ref_selector(obj, labels, name):
    return any(ref_term(t, labels, name) for t in obj["nodeSelectorTerms"])


def ref_weight(preferred, labels, name):
    return sum(p["weight"] for p in preferred if ref_term(p["preference"], labels, name))


label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(NODE_VALUES), max_size=4)

label_requirement = st.one_of(
    st.builds(
        lambda k, op, vs: expr(k, op, *vs),
        st.sampled_from(KEYS),
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.sampled_from(SELECTOR_VALUES), min_size=1, max_size=3),
    ),
    st.builds(expr, st.sampled_from(KEYS), st.sampled_from(["Exists", "DoesNotExist"])),
    st.builds(expr, st.sampled_from(KEYS), st.sampled_from(["Gt", "Lt"]), st.sampled_from(BOUNDS)),
)
field_requirement = st.builds(name_field, st.sampled_from(["In", "NotIn"]), st.sampled_from(NAMES))
selector_terms = st.fixed_dictionaries(
    {},
    optional={
        "matchExpressions": st.lists(label_requirement, max_size=3),
        "matchFields": st.lists(field_requirement, max_size=2),
    },
)
node_selectors = st.builds(
    lambda ts: {"nodeSelectorTerms": ts}, st.lists(selector_terms, max_size=3)
)
preferred_lists = st.lists(
    st.fixed_dictionaries(
        {"weight": st.integers(min_value=0, max_value=100), "preference": selector_terms}
    ),
    min_size=1,
    max_size=4,
)
# A sequence of index mutations: (node id, name, labels) to set, or (node id, None, None) to remove.
operations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=9),
        st.one_of(st.none(), st.sampled_from(NAMES)),
        label_sets,
    ),
    min_size=1,
    max_size=25,
)


def apply_operations(ops):
    index = LabelIndex(capacity=2)
    model = {}
    for node_id, name, labels in ops:
        if name is None:
            index.remove_node(node_id)
            model.pop(node_id, None)
        else:
            index.set_node(node_id, name, labels)
            model[node_id] = (name, labels)
    return index, model


@settings(max_examples=300, deadline=None)
@given(ops=operations, selectors=st.lists(node_selectors, min_size=1, max_size=3))
def test_mask_equals_reference(ops, selectors):
    index, model = apply_operations(ops)
    for obj in selectors:
        compiled = compile_node_selector(obj, REQUIRED)
        mask = index.mask(compiled)
        assert len(mask) == index.capacity
        want = [
            node_id in model and ref_selector(obj, model[node_id][1], model[node_id][0])
            for node_id in range(index.capacity)
        ]
        assert mask.tolist() == want
        for node_id, (name, labels) in model.items():
            assert compiled.matches(labels, name) is want[node_id]


@settings(max_examples=300, deadline=None)
@given(ops=operations, preferred=preferred_lists)
def test_weights_equal_reference(ops, preferred):
    index, model = apply_operations(ops)
    compiled = compile_preferred_terms(preferred, PREFERRED)
    want = [
        ref_weight(preferred, model[i][1], model[i][0]) if i in model else 0
        for i in range(index.capacity)
    ]
    if compiled is None:
        assert all(w == 0 for w in want)
        return
    assert index.weights(compiled).tolist() == want
    for node_id, (name, labels) in model.items():
        assert compiled.weight(labels, name) == want[node_id]


@settings(max_examples=100, deadline=None)
@given(before=operations, after=operations, selector=node_selectors, preferred=preferred_lists)
def test_cached_results_follow_mutations(before, after, selector, preferred):
    """Masks computed (and cached) before a batch of changes are never served after it."""
    index, model = apply_operations(before)
    compiled = compile_node_selector(selector, REQUIRED)
    weighted = compile_preferred_terms(preferred, PREFERRED)
    index.mask(compiled)
    if weighted is not None:
        index.weights(weighted)
    for node_id, name, labels in after:
        if name is None:
            index.remove_node(node_id)
            model.pop(node_id, None)
        else:
            index.set_node(node_id, name, labels)
            model[node_id] = (name, labels)
    want = [
        i in model and ref_selector(selector, model[i][1], model[i][0])
        for i in range(index.capacity)
    ]
    assert index.mask(compiled).tolist() == want
    if weighted is not None:
        assert index.weights(weighted).tolist() == [
            ref_weight(preferred, model[i][1], model[i][0]) if i in model else 0
            for i in range(index.capacity)
        ]
