"""Tests for extender.model.selectors: upstream NodeAffinity semantics and caching.

The tables transcribe cases of kube-scheduler's nodeaffinity tests
(component-helpers nodeaffinity_test.go and the NodeAffinity plugin tests);
each case is evaluated both by `matches` and by the columnar index
(tests/cache/test_labelindex.py tests the index on its own).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache.labelindex import LabelIndex
from extender.model.errors import InvalidInput
from extender.model.selectors import (
    CompiledNodeSelector,
    CompiledPreferredTerms,
    compile_label_map,
    compile_node_selector,
    compile_preferred_terms,
)

REQUIRED = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"


def expr(key, operator, *values):
    out = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def name_field(operator, *values):
    return {"key": "metadata.name", "operator": operator, "values": list(values)}


def terms(*node_selector_terms):
    return {"nodeSelectorTerms": list(node_selector_terms)}


def evaluate(node_selector, affinity, labels, name):
    """Pod-level required affinity as the NodeAffinity filter sees it, two ways.

    Returns the single-node `matches` answer after checking the vectorized index
    (with the node placed among unrelated nodes) gives the same one.
    """
    compiled = [
        c
        for c in (
            compile_label_map(node_selector),
            None if affinity is None else compile_node_selector(affinity, REQUIRED),
        )
        if c is not None
    ]
    single = all(c.matches(labels, name) for c in compiled)
    index = LabelIndex(capacity=2)
    index.set_node(0, "other-a", {"unrelated": "1"})
    index.set_node(3, name, labels)
    index.set_node(5, "other-b", {})
    vector = bool(np.logical_and.reduce([index.mask(c)[3] for c in compiled] + [True]))
    assert vector == single
    return single


# --- upstream tables -------------------------------------------------------

# (description, spec.nodeSelector, required affinity, node labels, node name, want)
REQUIRED_CASES = [
    ("no selector", None, None, {}, "n", True),
    ("missing labels", {"foo": "bar"}, None, {}, "n", False),
    ("same labels", {"foo": "bar"}, None, {"foo": "bar"}, "n", True),
    ("node labels are superset", {"foo": "bar"}, None, {"foo": "bar", "baz": "blah"}, "n", True),
    ("node labels are subset", {"foo": "bar", "baz": "blah"}, None, {"foo": "bar"}, "n", False),
    (
        "In matches",
        None,
        terms({"matchExpressions": [expr("foo", "In", "bar", "value2")]}),
        {"foo": "bar"},
        "n",
        True,
    ),
    (
        "Gt matches (0206 > 0204)",
        None,
        terms({"matchExpressions": [expr("kernel-version", "Gt", "0204")]}),
        {"kernel-version": "0206"},
        "n",
        True,
    ),
    (
        "NotIn matches",
        None,
        terms({"matchExpressions": [expr("mem-type", "NotIn", "DDR", "DDR2")]}),
        {"mem-type": "DDR3"},
        "n",
        True,
    ),
    (
        "Exists matches",
        None,
        terms({"matchExpressions": [expr("GPU", "Exists")]}),
        {"GPU": "NVIDIA-GRID-K1"},
        "n",
        True,
    ),
    (
        "affinity does not match labels",
        None,
        terms({"matchExpressions": [expr("foo", "In", "value1", "value2")]}),
        {"foo": "bar"},
        "n",
        False,
    ),
    ("nil term list", None, {"nodeSelectorTerms": None}, {"foo": "bar"}, "n", False),
    ("empty term list", None, terms(), {"foo": "bar"}, "n", False),
    (
        "empty matchExpressions matches nothing",
        None,
        terms({"matchExpressions": []}),
        {"foo": "bar"},
        "n",
        False,
    ),
    (
        "multiple expressions ANDed, match",
        None,
        terms({"matchExpressions": [expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD", "INTER")]}),
        {"GPU": "NVIDIA-GRID-K1"},
        "n",
        True,
    ),
    (
        "multiple expressions ANDed, no match",
        None,
        terms({"matchExpressions": [expr("GPU", "Exists"), expr("GPU", "In", "AMD", "INTER")]}),
        {"GPU": "NVIDIA-GRID-K1"},
        "n",
        False,
    ),
    (
        "multiple terms ORed",
        None,
        terms(
            {"matchExpressions": [expr("foo", "In", "bar", "value2")]},
            {"matchExpressions": [expr("diffkey", "In", "wrong", "value2")]},
        ),
        {"foo": "bar"},
        "n",
        True,
    ),
    (
        "affinity and nodeSelector both satisfied",
        {"foo": "bar"},
        terms({"matchExpressions": [expr("foo", "Exists")]}),
        {"foo": "bar"},
        "n",
        True,
    ),
    (
        "affinity satisfied, nodeSelector not",
        {"foo": "bar"},
        terms({"matchExpressions": [expr("foo", "Exists")]}),
        {"foo": "barrrrrr"},
        "n",
        False,
    ),
    (
        "matchFields In matches the node",
        None,
        terms({"matchFields": [name_field("In", "node_1")]}),
        {},
        "node_1",
        True,
    ),
    (
        "matchFields In does not match the node",
        None,
        terms({"matchFields": [name_field("In", "node_1")]}),
        {},
        "node_2",
        False,
    ),
    (
        "two terms: fields do not match, expressions match",
        None,
        terms(
            {"matchFields": [name_field("In", "node_1")]},
            {"matchExpressions": [expr("foo", "In", "bar")]},
        ),
        {"foo": "bar"},
        "node_2",
        True,
    ),
    (
        "two terms: conflicting name fields ANDed, expressions match",
        None,
        terms(
            {"matchFields": [name_field("In", "node1"), name_field("In", "node2")]},
            {"matchExpressions": [expr("foo", "In", "bar")]},
        ),
        {"foo": "bar"},
        "node2",
        True,
    ),
    (
        "one term: fields do not match, expressions match",
        None,
        terms(
            {
                "matchFields": [name_field("In", "node_1")],
                "matchExpressions": [expr("foo", "In", "bar")],
            }
        ),
        {"foo": "bar"},
        "node_2",
        False,
    ),
    (
        "one term: fields and expressions match",
        None,
        terms(
            {
                "matchFields": [name_field("In", "node_1")],
                "matchExpressions": [expr("foo", "In", "bar")],
            }
        ),
        {"foo": "bar"},
        "node_1",
        True,
    ),
    (
        "two terms: neither matches",
        None,
        terms(
            {"matchFields": [name_field("In", "node_1")]},
            {"matchExpressions": [expr("foo", "In", "not-match-to-bar")]},
        ),
        {"foo": "bar"},
        "node_2",
        False,
    ),
    (
        "node matches field selector, not labels",
        None,
        terms(
            {
                "matchExpressions": [expr("label_1", "In", "label_1_val")],
                "matchFields": [name_field("In", "host_1")],
            }
        ),
        {},
        "host_1",
        False,
    ),
    (
        "second term (fields only) matches",
        None,
        terms(
            {"matchExpressions": [expr("label_1", "In", "label_1_val")]},
            {"matchFields": [name_field("In", "host_1")]},
        ),
        {},
        "host_1",
        True,
    ),
    (
        "matchFields NotIn excludes the node",
        None,
        terms({"matchFields": [name_field("NotIn", "host_1")]}),
        {},
        "host_1",
        False,
    ),
    (
        "matchFields NotIn keeps other nodes",
        None,
        terms({"matchFields": [name_field("NotIn", "host_1")]}),
        {},
        "host_2",
        True,
    ),
]


@pytest.mark.parametrize(
    "node_selector, affinity, labels, name, want",
    [case[1:] for case in REQUIRED_CASES],
    ids=[case[0] for case in REQUIRED_CASES],
)
def test_required_affinity_upstream_table(node_selector, affinity, labels, name, want):
    assert evaluate(node_selector, affinity, labels, name) is want


# (description, operator, bound, node labels, want): Gt/Lt and their parsing quirks.
COMPARISON_CASES = [
    ("Gt greater", "Gt", "1", {"foo": "2"}, True),
    ("Gt equal", "Gt", "2", {"foo": "2"}, False),
    ("Lt smaller", "Lt", "7", {"foo": "6"}, True),
    ("Lt equal", "Lt", "7", {"foo": "7"}, False),
    ("leading zeros compare as numbers", "Lt", "10", {"foo": "009"}, True),
    ("label absent", "Gt", "1", {}, False),
    ("label not an integer", "Gt", "1", {"foo": "abc"}, False),
    ("label with a decimal point", "Lt", "10", {"foo": "1.5"}, False),
    ("label with an underscore (Python int() would accept)", "Gt", "1", {"foo": "1_0"}, False),
    ("label beyond int64", "Gt", "1", {"foo": "9223372036854775808"}, False),
    ("label at int64 max", "Gt", "1", {"foo": "9223372036854775807"}, True),
    ("empty label value", "Lt", "5", {"foo": ""}, False),
]


@pytest.mark.parametrize(
    "operator, bound, labels, want",
    [case[1:] for case in COMPARISON_CASES],
    ids=[case[0] for case in COMPARISON_CASES],
)
def test_gt_lt(operator, bound, labels, want):
    affinity = terms({"matchExpressions": [expr("foo", operator, bound)]})
    assert evaluate(None, affinity, labels, "n") is want


def test_preferred_terms_upstream_first_and_third_match():
    preferred = compile_preferred_terms(
        [
            {"weight": 5, "preference": {"matchFields": [name_field("In", "host_1")]}},
            {
                "weight": 7,
                "preference": {
                    "matchExpressions": [expr("unknown_label", "In", "unknown_label_val")]
                },
            },
            {
                "weight": 11,
                "preference": {"matchExpressions": [expr("label_1", "In", "label_1_val")]},
            },
        ],
        PREFERRED,
    )
    labels = {"label_1": "label_1_val"}
    assert preferred.weight(labels, "host_1") == 16
    index = LabelIndex()
    index.set_node(0, "host_1", labels)
    index.set_node(1, "host_2", labels)
    index.set_node(2, "host_3", {})
    assert index.weights(preferred)[:3].tolist() == [16, 11, 0]


def test_preferred_weight_zero_is_skipped_without_validation():
    invalid_but_weightless = {
        "weight": 0,
        "preference": {"matchFields": [name_field("In", "host_1", "host_2")]},
    }
    assert compile_preferred_terms([invalid_but_weightless], PREFERRED) is None


def test_preferred_empty_preference_adds_nothing():
    preferred = compile_preferred_terms(
        [
            {"weight": 50, "preference": {}},
            {"weight": 3, "preference": {"matchExpressions": [expr("a", "Exists")]}},
        ],
        PREFERRED,
    )
    assert preferred.weight({"a": "1"}, "n") == 3
    assert preferred.weight({}, "n") == 0


def test_preferred_duplicate_terms_add_up():
    term = {"matchExpressions": [expr("a", "In", "x")]}
    preferred = compile_preferred_terms(
        [{"weight": 2, "preference": term}, {"weight": 3, "preference": term}], PREFERRED
    )
    assert preferred.weight({"a": "x"}, "n") == 5
    index = LabelIndex.from_nodes(["n0", "n1"], [{"a": "x"}, {"a": "y"}])
    assert index.weights(preferred).tolist() == [5, 0]


def test_none_and_empty_inputs():
    assert compile_label_map(None) is None
    assert compile_label_map({}) is None
    assert compile_node_selector(None, REQUIRED) is None
    assert compile_preferred_terms(None, PREFERRED) is None
    assert compile_preferred_terms([], PREFERRED) is None
    nothing = compile_node_selector({}, REQUIRED)
    assert isinstance(nothing, CompiledNodeSelector)
    assert not nothing.matches({"a": "b"}, "n")
    assert compile_node_selector(terms({}, None), REQUIRED) is nothing


def test_node_without_name_ignores_match_fields():
    # Upstream only evaluates matchFields against a node that has a name.
    selector = compile_node_selector(terms({"matchFields": [name_field("In", "x")]}), REQUIRED)
    assert selector.matches({}, "") is True
    index = LabelIndex()
    index.set_node(0, "", {})
    index.set_node(1, "y", {})
    assert index.mask(selector)[:2].tolist() == [True, False]


# --- invalid selectors ------------------------------------------------------

INVALID_REQUIRED = [
    (
        "unknown operator",
        terms({"matchExpressions": [expr("a", "Exists"), expr("a", "Equals", "x")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[1].operator",
    ),
    (
        "missing operator",
        terms({"matchExpressions": [{"key": "a", "values": ["x"]}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].operator",
    ),
    (
        "missing key",
        terms({}, {"matchExpressions": [{"operator": "Exists"}]}),
        f"{REQUIRED}.nodeSelectorTerms[1].matchExpressions[0].key",
    ),
    (
        "invalid key (upstream table)",
        terms({"matchExpressions": [expr("invalid key", "In", "label_value")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].key",
    ),
    (
        "invalid key prefix",
        terms({"matchExpressions": [expr("Example.com/a", "Exists")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].key",
    ),
    (
        "key not a string",
        terms({"matchExpressions": [{"key": 5, "operator": "Exists"}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].key",
    ),
    (
        "invalid value (upstream table: such a term never matches)",
        terms({"matchExpressions": [expr("foo", "NotIn", "invalid value: ___@#$%^")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values[0]",
    ),
    (
        "value not a string",
        terms({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", 3]}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values[1]",
    ),
    (
        "values not a list",
        terms({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "In without values",
        terms({"matchExpressions": [expr("a", "In")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "NotIn without values",
        terms({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "Exists with values (upstream table)",
        terms({"matchExpressions": [expr("foo", "Exists", "bar", "baz")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "DoesNotExist with values",
        terms({"matchExpressions": [expr("foo", "DoesNotExist", "bar")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "Gt with two values",
        terms({"matchExpressions": [expr("a", "Gt", "1", "2")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "Lt without values",
        terms({"matchExpressions": [expr("a", "Lt")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    (
        "Gt with a non-integer",
        terms({"matchExpressions": [expr("a", "Gt", "1.5")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values[0]",
    ),
    (
        "Lt beyond int64",
        terms({"matchExpressions": [expr("a", "Lt", "9223372036854775808")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values[0]",
    ),
    (
        "matchFields with two values (upstream table)",
        terms({"matchFields": [name_field("In", "host_1", "host_2")]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchFields[0].values",
    ),
    (
        "matchFields without values",
        terms({"matchFields": [{"key": "metadata.name", "operator": "NotIn"}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchFields[0].values",
    ),
    (
        "matchFields with Exists",
        terms({"matchFields": [{"key": "metadata.name", "operator": "Exists"}]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchFields[0].operator",
    ),
    ("selector not an object", ["a"], REQUIRED),
    ("terms not a list", {"nodeSelectorTerms": {"a": 1}}, f"{REQUIRED}.nodeSelectorTerms"),
    ("term not an object", terms("a"), f"{REQUIRED}.nodeSelectorTerms[0]"),
    (
        "matchExpressions not a list",
        terms({"matchExpressions": "a"}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions",
    ),
    (
        "requirement not an object",
        terms({"matchExpressions": [["a"]]}),
        f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0]",
    ),
]


@pytest.mark.parametrize(
    "obj, path", [case[1:] for case in INVALID_REQUIRED], ids=[case[0] for case in INVALID_REQUIRED]
)
def test_invalid_node_selector_names_the_field(obj, path):
    with pytest.raises(InvalidInput) as info:
        compile_node_selector(obj, REQUIRED)
    assert info.value.field == path
    assert str(info.value).startswith(path + ": ")


INVALID_PREFERRED = [
    ("not a list", {"weight": 1}, PREFERRED),
    ("item not an object", ["x"], f"{PREFERRED}[0]"),
    ("weight not an integer", [{"weight": "5", "preference": {}}], f"{PREFERRED}[0].weight"),
    ("weight a boolean", [{"weight": True, "preference": {}}], f"{PREFERRED}[0].weight"),
    ("weight beyond int32", [{"weight": 2**31, "preference": {}}], f"{PREFERRED}[0].weight"),
    (
        "preference not an object",
        [{"weight": 1, "preference": ["a"]}],
        f"{PREFERRED}[0].preference",
    ),
    (
        "bad operator inside a preference",
        [
            {"weight": 1, "preference": {"matchExpressions": [expr("a", "Exists")]}},
            {"weight": 2, "preference": {"matchExpressions": [expr("a", "Like", "x")]}},
        ],
        f"{PREFERRED}[1].preference.matchExpressions[0].operator",
    ),
]


@pytest.mark.parametrize(
    "obj, path",
    [case[1:] for case in INVALID_PREFERRED],
    ids=[case[0] for case in INVALID_PREFERRED],
)
def test_invalid_preferred_terms_name_the_field(obj, path):
    with pytest.raises(InvalidInput) as info:
        compile_preferred_terms(obj, PREFERRED)
    assert info.value.field == path


@pytest.mark.parametrize(
    "selector, path",
    [
        ({"a": 1}, "spec.nodeSelector[a]"),
        ({"a": None}, "spec.nodeSelector[a]"),
        ({1: "a"}, "spec.nodeSelector"),
        (["a"], "spec.nodeSelector"),
    ],
)
def test_invalid_label_map_names_the_field(selector, path):
    with pytest.raises(InvalidInput) as info:
        compile_label_map(selector)
    assert info.value.field == path


def test_label_map_does_not_check_label_syntax():
    # Upstream builds spec.nodeSelector with SelectorFromValidatedSet: no syntax check.
    selector = compile_label_map({"odd key": "odd value!"})
    assert selector.matches({"odd key": "odd value!"}, "n")
    assert not selector.matches({"odd key": "other"}, "n")


def test_strict_compilation_raises_every_time():
    bad = terms({"matchExpressions": [expr("a", "Gt", "x")]})
    for _ in range(2):
        with pytest.raises(InvalidInput):
            compile_node_selector(bad, REQUIRED)
    assert compile_node_selector(bad, REQUIRED, lazy=True).errors  # cached, errors kept


def test_strict_compilation_reports_every_problem():
    bad = terms(
        {"matchExpressions": [expr("a", "Gt", "x"), expr("b c", "In", "ok")]},
        {"matchFields": [name_field("In", "n1", "n2")]},
    )
    with pytest.raises(InvalidInput) as info:
        compile_node_selector(bad, REQUIRED)
    message = str(info.value)
    assert info.value.field == f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].values[0]"
    assert f"{REQUIRED}.nodeSelectorTerms[0].matchExpressions[1].key: invalid label key" in message
    assert f"{REQUIRED}.nodeSelectorTerms[1].matchFields[0].values: must have one" in message


# --- lazy compilation: how kube-scheduler reads a pod's own affinity ----------
#
# component-helpers' LazyErrorNodeSelector: a term that does not parse matches
# no node and the other terms still count (issue 9).

LAZY_CASES = [
    # (description, bad term, a good term or None, node labels, node name, want)
    (
        "invalid label value alone matches nothing (upstream table)",
        {"matchExpressions": [expr("foo", "NotIn", "invalid value: ___@#$%^")]},
        None,
        {"foo": "bar"},
        "n",
        False,
    ),
    (
        "invalid value beside a matching term",
        {"matchExpressions": [expr("foo", "In", "b@d")]},
        {"matchExpressions": [expr("foo", "In", "bar")]},
        {"foo": "bar"},
        "n",
        True,
    ),
    (
        "Gt with a non-integer beside a matching term",
        {"matchExpressions": [expr("gen", "Gt", "v2")]},
        {"matchExpressions": [expr("zone", "Exists")]},
        {"zone": "a", "gen": "9"},
        "n",
        True,
    ),
    (
        "a good requirement in a bad term does not match on its own",
        {"matchExpressions": [expr("zone", "Exists"), expr("gen", "Lt", "1.5")]},
        None,
        {"zone": "a", "gen": "1"},
        "n",
        False,
    ),
    (
        "matchFields with two values beside a matching term",
        {"matchFields": [name_field("In", "n", "m")]},
        {"matchFields": [name_field("In", "n")]},
        {},
        "n",
        True,
    ),
    (
        "unknown operator matches nothing",
        {"matchExpressions": [expr("zone", "Like", "a")]},
        None,
        {"zone": "a"},
        "n",
        False,
    ),
    (
        "invalid key beside a non-matching term",
        {"matchExpressions": [expr("a b", "Exists")]},
        {"matchExpressions": [expr("zone", "In", "b")]},
        {"zone": "a", "a b": "x"},
        "n",
        False,
    ),
    (
        "Exists with values matches nothing (upstream table)",
        {"matchExpressions": [expr("foo", "Exists", "bar", "baz")]},
        None,
        {"foo": "bar"},
        "n",
        False,
    ),
]


@pytest.mark.parametrize(
    "bad, good, labels, name, want",
    [case[1:] for case in LAZY_CASES],
    ids=[case[0] for case in LAZY_CASES],
)
def test_lazy_selector_ignores_terms_that_do_not_parse(bad, good, labels, name, want):
    obj = terms(bad) if good is None else terms(bad, good)
    with pytest.raises(InvalidInput):
        compile_node_selector(obj, REQUIRED)  # the strict form refuses it
    lazy = compile_node_selector(obj, REQUIRED, lazy=True)
    assert lazy.errors and lazy.errors[0][0].startswith(f"{REQUIRED}.nodeSelectorTerms[0].")
    assert lazy.matches(labels, name) is want
    index = LabelIndex.from_nodes(["other", name], [{}, labels])
    assert bool(index.mask(lazy)[1]) is want


def test_lazy_errors_follow_the_callers_field():
    bad = terms({"matchExpressions": [expr("a", "Gt", "x")]})
    first = compile_node_selector(bad, "spec.one", lazy=True)
    second = compile_node_selector(bad, "spec.two", lazy=True)
    assert first.errors[0][0].startswith("spec.one.")
    assert second.errors[0][0].startswith("spec.two.")
    assert first is not second and first != second


def test_lazy_preferred_terms_keep_errors_and_valid_terms():
    preferred = [
        {"weight": 3, "preference": {"matchExpressions": [expr("a", "Exists")]}},
        {"weight": 5, "preference": {"matchExpressions": [expr("b", "In", "no way")]}},
        {"weight": 0, "preference": {"matchExpressions": [expr("c", "Gt", "x")]}},  # skipped
    ]
    with pytest.raises(InvalidInput) as info:
        compile_preferred_terms(preferred, PREFERRED)
    assert info.value.field == f"{PREFERRED}[1].preference.matchExpressions[0].values[0]"
    lazy = compile_preferred_terms(preferred, PREFERRED, lazy=True)
    assert [path for path, _ in lazy.errors] == [
        f"{PREFERRED}[1].preference.matchExpressions[0].values[0]"
    ]
    assert lazy.weight({"a": "1", "b": "no way"}, "n") == 3


def test_lazy_preferred_terms_with_only_bad_terms_still_carry_the_errors():
    preferred = [{"weight": 2, "preference": {"matchFields": [name_field("In")]}}]
    lazy = compile_preferred_terms(preferred, PREFERRED, lazy=True)
    assert lazy is not None and lazy.terms == ()
    assert lazy.errors[0][0] == f"{PREFERRED}[0].preference.matchFields[0].values"


def test_preferred_weights_are_not_range_checked():
    # NewPreferredSchedulingTerms takes any int32 weight; only the API server's
    # validation of new pods keeps them in 1..100.
    preferred = compile_preferred_terms(
        [
            {"weight": 150, "preference": {"matchExpressions": [expr("a", "Exists")]}},
            {"weight": -20, "preference": {"matchExpressions": [expr("b", "Exists")]}},
        ],
        PREFERRED,
    )
    assert preferred.weight({"a": "1"}, "n") == 150
    assert preferred.weight({"a": "1", "b": "1"}, "n") == 130
    assert preferred.weight({"b": "1"}, "n") == -20


@pytest.mark.parametrize(
    "operator, value, name, want",
    [
        ("In", "x", "n", False),
        ("NotIn", "x", "n", True),
        ("In", "", "n", True),
        ("NotIn", "", "n", False),
        ("In", "x", "", True),  # a node without a name: fields are not checked
    ],
)
def test_match_fields_on_another_field_read_an_empty_value(operator, value, name, want):
    # Upstream builds a field selector on any key; a node's fields hold only
    # metadata.name, so another key reads "" (the API server refuses such keys
    # in new pods).
    requirement = {"key": "spec.unschedulable", "operator": operator, "values": [value]}
    selector = compile_node_selector(terms({"matchFields": [requirement]}), REQUIRED)
    assert selector.matches({}, name) is want
    index = LabelIndex()
    index.set_node(0, name, {})
    assert bool(index.mask(selector)[0]) is want


ADDED = "args.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution"


def test_error_path_follows_the_callers_field():
    bad = terms({"matchExpressions": [expr("a", "Nope")]})
    with pytest.raises(InvalidInput) as info:
        compile_node_selector(
            bad, "args.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        )
    assert info.value.field == (f"{ADDED}.nodeSelectorTerms[0].matchExpressions[0].operator")


# --- compile cache and canonical keys ---------------------------------------


def test_same_selector_compiles_to_the_same_object():
    obj = terms({"matchExpressions": [expr("zone", "In", "z1", "z2")]})
    first = compile_node_selector(obj, REQUIRED)
    assert compile_node_selector(obj, REQUIRED) is first
    assert compile_node_selector(eval(repr(obj)), "elsewhere") is first  # an equal copy


def test_equivalent_spellings_share_one_object():
    a = compile_node_selector(
        terms(
            {"matchExpressions": [expr("zone", "In", "z2", "z1", "z2"), expr("gpu", "Exists")]},
            {"matchFields": [name_field("In", "n1")]},
        ),
        REQUIRED,
    )
    b = compile_node_selector(
        terms(
            {"matchFields": [name_field("In", "n1")], "matchExpressions": None},
            {"matchExpressions": [expr("gpu", "Exists", *[]), expr("zone", "In", "z1", "z2")]},
            {"matchExpressions": [expr("zone", "In", "z1", "z2"), expr("gpu", "Exists")]},
            {},
        ),
        REQUIRED,
    )
    assert a is b
    assert hash(a) == hash(b) and a == b


def test_label_map_and_equivalent_affinity_share_one_object():
    from_map = compile_label_map({"b": "2", "a": "1"})
    from_affinity = compile_node_selector(
        terms({"matchExpressions": [expr("a", "In", "1"), expr("b", "In", "2")]}), REQUIRED
    )
    assert from_map is from_affinity


def test_integer_bounds_are_canonical():
    a = compile_node_selector(terms({"matchExpressions": [expr("k", "Gt", "0204")]}), REQUIRED)
    b = compile_node_selector(terms({"matchExpressions": [expr("k", "Gt", "204")]}), REQUIRED)
    assert a is b


def test_different_selectors_differ():
    a = compile_node_selector(terms({"matchExpressions": [expr("k", "In", "x")]}), REQUIRED)
    b = compile_node_selector(terms({"matchExpressions": [expr("k", "NotIn", "x")]}), REQUIRED)
    c = compile_node_selector(terms({"matchFields": [name_field("In", "x")]}), REQUIRED)
    assert len({a.key, b.key, c.key}) == 3
    assert a != b and a != c


def test_preferred_terms_cached_and_order_insensitive():
    t1 = {"weight": 3, "preference": {"matchExpressions": [expr("a", "Exists")]}}
    t2 = {"weight": 4, "preference": {"matchExpressions": [expr("b", "In", "x")]}}
    first = compile_preferred_terms([t1, t2], PREFERRED)
    assert isinstance(first, CompiledPreferredTerms)
    assert compile_preferred_terms([t1, t2], PREFERRED) is first
    assert compile_preferred_terms([t2, t1], PREFERRED) is first
    other = compile_preferred_terms([t1, {**t2, "weight": 5}], PREFERRED)
    assert other is not first and other.key != first.key


def test_compiled_objects_are_immutable():
    selector = compile_label_map({"a": "1"})
    with pytest.raises(AttributeError):
        selector.key = ("x",)
    with pytest.raises(AttributeError):
        selector.terms = ()


def test_concurrent_compilation_yields_one_object():
    obj = terms({"matchExpressions": [expr("concurrent", "In", "a", "b", "c")]})
    results = []

    def work():
        for _ in range(200):
            results.append(compile_node_selector(obj, REQUIRED))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in results}) == 1


# --- property: a lazy selector is the OR of its valid terms ------------------

_KEYS = ("a", "b", "zone")
_VALUES = ("1", "2", "x", "")
_NAMES = ("n0", "n1", "n2")

_valid_requirement = st.one_of(
    st.builds(
        lambda k, op, vs: expr(k, op, *vs),
        st.sampled_from(_KEYS),
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.sampled_from(_VALUES), min_size=1, max_size=2),
    ),
    st.builds(expr, st.sampled_from(_KEYS), st.sampled_from(["Exists", "DoesNotExist"])),
    st.builds(expr, st.sampled_from(_KEYS), st.sampled_from(["Gt", "Lt"]), st.sampled_from("015")),
)
_invalid_requirement = st.one_of(
    st.builds(expr, st.sampled_from(_KEYS), st.just("In"), st.sampled_from(["b@d", "-x", "a b"])),
    st.builds(
        expr, st.sampled_from(_KEYS), st.sampled_from(["Gt", "Lt"]), st.sampled_from(["x", "1.5"])
    ),
    st.builds(expr, st.sampled_from(_KEYS), st.sampled_from(["Like", "", "in"]), st.just("1")),
    st.builds(expr, st.sampled_from(_KEYS), st.just("Exists"), st.just("1")),
    st.builds(expr, st.sampled_from(_KEYS), st.sampled_from(["In", "NotIn", "Gt"])),
    st.builds(expr, st.sampled_from(["a b", "-a", "x/"]), st.just("Exists")),
)
_valid_field = st.builds(name_field, st.sampled_from(["In", "NotIn"]), st.sampled_from(_NAMES))
_invalid_field = st.one_of(
    st.builds(lambda op: name_field(op, "n0", "n1"), st.sampled_from(["In", "NotIn"])),
    st.builds(lambda op: name_field(op), st.sampled_from(["In", "NotIn"])),
    st.just({"key": "metadata.name", "operator": "Exists", "values": ["n0"]}),
)


@st.composite
def _term(draw):
    """(term object, whether it parses): a term parses iff every requirement does."""
    exprs = draw(st.lists(st.tuples(st.booleans(), st.data()), max_size=3))
    fields = draw(st.lists(st.booleans(), max_size=2))
    out, valid = {}, True
    if exprs:
        items = []
        for ok, data in exprs:
            items.append(data.draw(_valid_requirement if ok else _invalid_requirement))
            valid &= ok
        out["matchExpressions"] = items
    if fields:
        out["matchFields"] = [draw(_valid_field if ok else _invalid_field) for ok in fields]
        valid &= all(fields)
    return out, valid and bool(exprs or fields)


_node_labels = st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_VALUES + ("7", "-3")))


@settings(max_examples=300, deadline=None)
@given(st.lists(_term(), max_size=4), st.lists(_node_labels, min_size=3, max_size=3))
def test_lazy_selector_is_the_or_of_its_valid_terms(mixed, labels):
    selector = compile_node_selector(terms(*[t for t, _ in mixed]), REQUIRED, lazy=True)
    valid = [compile_node_selector(terms(t), REQUIRED) for t, ok in mixed if ok]
    assert bool(selector.errors) == any(
        not ok and (t.get("matchExpressions") or t.get("matchFields")) for t, ok in mixed
    )
    index = LabelIndex.from_nodes(list(_NAMES), labels)
    mask = index.mask(selector)
    for i, name in enumerate(_NAMES):
        want = any(v.matches(labels[i], name) for v in valid)
        assert selector.matches(labels[i], name) is want
        assert bool(mask[i]) is want


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_term(), st.integers(0, 100)), max_size=4),
    st.lists(_node_labels, min_size=3, max_size=3),
)
def test_lazy_preferred_terms_weigh_their_valid_terms_only(mixed, labels):
    items = [{"weight": w, "preference": t} for (t, _), w in mixed]
    lazy = compile_preferred_terms(items, PREFERRED, lazy=True)
    counted = [(w, t) for (t, ok), w in mixed if ok and w]
    skipped_bad = [
        t
        for (t, ok), w in mixed
        if not ok and w and (t.get("matchExpressions") or t.get("matchFields"))
    ]
    if lazy is None:
        assert not counted and not skipped_bad
        return
    assert bool(lazy.errors) == bool(skipped_bad)
    for i, name in enumerate(_NAMES):
        want = sum(
            w
            for w, t in counted
            if compile_node_selector(terms(t), REQUIRED).matches(labels[i], name)
        )
        assert lazy.weight(labels[i], name) == want
