"""topologySpreadConstraints parsed once per spec: defaults, selectors, precise errors."""

import pytest

from extender.model.errors import InvalidInput
from extender.model.pod import parse_pod
from extender.model.podselector import EVERYTHING, NOTHING, compile_pod_selector
from extender.model.spread import parse_spread_constraints


def constraint(**fields):
    base = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
    base.update(fields)
    return base


def test_defaults_as_upstream():
    (c,) = parse_spread_constraints([constraint(labelSelector={})]).constraints
    assert (c.max_skew, c.topology_key, c.hard, c.min_domains) == (1, "zone", True, 1)
    assert c.honor_affinity is True and c.honor_taints is False
    assert c.selector is EVERYTHING


def test_nil_selector_matches_nothing_and_empty_everything():
    assert compile_pod_selector(None, "s") == (NOTHING, ())
    assert not NOTHING.matches({})
    assert EVERYTHING.matches({"a": "b"})


@pytest.mark.parametrize(
    "expressions,labels,want",
    [
        ([{"key": "a", "operator": "In", "values": ["1", "2"]}], {"a": "2"}, True),
        ([{"key": "a", "operator": "In", "values": ["1"]}], {}, False),
        ([{"key": "a", "operator": "NotIn", "values": ["1"]}], {}, True),
        ([{"key": "a", "operator": "NotIn", "values": ["1"]}], {"a": "1"}, False),
        ([{"key": "a", "operator": "Exists"}], {"a": ""}, True),
        ([{"key": "a", "operator": "DoesNotExist"}], {"a": ""}, False),
    ],
)
def test_selector_operators(expressions, labels, want):
    selector, errors = compile_pod_selector({"matchExpressions": expressions}, "s")
    assert errors == ()
    assert selector.matches(labels) is want


def test_selectors_are_interned():
    a, _ = compile_pod_selector({"matchLabels": {"app": "web"}}, "x")
    b, _ = compile_pod_selector(
        {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, "y"
    )
    assert a is b


def test_match_label_keys_merge_pod_values():
    (c,) = parse_spread_constraints(
        [constraint(labelSelector={"matchLabels": {"app": "web"}}, matchLabelKeys=["hash", "x"])]
    ).constraints
    resolved = c.resolved({"app": "web", "hash": "abc"})
    assert resolved.selector.matches({"app": "web", "hash": "abc"})
    assert not resolved.selector.matches({"app": "web", "hash": "def"})
    assert c.resolved({"app": "web"}) is c


@pytest.mark.parametrize(
    "fields,path,fragment",
    [
        ({"maxSkew": 0}, "[0].maxSkew", "greater than zero"),
        ({"topologyKey": ""}, "[0].topologyKey", "can not be empty"),
        ({"topologyKey": "a b"}, "[0].topologyKey", "not a valid label key"),
        ({"whenUnsatisfiable": "Maybe"}, "[0].whenUnsatisfiable", "unsupported value"),
        ({"minDomains": 0}, "[0].minDomains", "greater than zero"),
        (
            {"minDomains": 2, "whenUnsatisfiable": "ScheduleAnyway"},
            "[0].minDomains",
            "DoNotSchedule",
        ),
        ({"nodeAffinityPolicy": "Sometimes"}, "[0].nodeAffinityPolicy", "Honor or Ignore"),
        ({"nodeTaintsPolicy": "x"}, "[0].nodeTaintsPolicy", "Honor or Ignore"),
        (
            {
                "labelSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]
                }
            },
            "[0].labelSelector.matchExpressions[0].operator",
            "not a valid label selector operator",
        ),
        (
            {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "[0].labelSelector.matchExpressions[0].values",
            "at least one value",
        ),
        ({"matchLabelKeys": ["app"]}, "[0].matchLabelKeys", "labelSelector is not set"),
    ],
)
def test_invalid_constraints_are_errors_naming_the_field(fields, path, fragment):
    parsed = parse_spread_constraints([constraint(**fields)])
    assert parsed.constraints == ()
    ((where, message),) = parsed.errors
    assert where == "spec.topologySpreadConstraints" + path
    assert fragment in message


def test_duplicate_pair_is_an_error():
    parsed = parse_spread_constraints([constraint(), constraint(maxSkew=2)])
    assert len(parsed.constraints) == 1
    assert "duplicate {zone, DoNotSchedule}" in parsed.error_message()


@pytest.mark.parametrize(
    "value,field",
    [
        ({"x": 1}, "spec.topologySpreadConstraints"),
        (["x"], "spec.topologySpreadConstraints[0]"),
        ([constraint(maxSkew="1")], "spec.topologySpreadConstraints[0].maxSkew"),
        ([constraint(labelSelector=[])], "spec.topologySpreadConstraints[0].labelSelector"),
    ],
)
def test_undecodable_shapes_raise(value, field):
    with pytest.raises(InvalidInput) as err:
        parse_pod({"metadata": {"name": "p"}, "spec": {"topologySpreadConstraints": value}})
    assert err.value.field == field


def test_pod_carries_controller_and_terminating():
    pod = parse_pod(
        {
            "metadata": {
                "name": "p",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "n"},
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": "rs",
                        "controller": True,
                    },
                ],
            },
            "spec": {"topologySpreadConstraints": [constraint()]},
        }
    )
    assert pod.controller == ("apps/v1", "ReplicaSet", "rs")
    assert pod.terminating
    assert pod.spread.constraints[0].selector is NOTHING
