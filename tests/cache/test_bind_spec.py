"""Issue 10 item 8: which spec /bind counts.

The API server's pending pod when the state holds one; otherwise the spec the last
/filter or /prioritize sent, provided the one before it sent the same spec.
"""

from __future__ import annotations

import pytest

from extender.cache.state import ClusterState
from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.model.errors import BindError
from extender.model.pod import clear_cache, parse_pod, same_spec
from extender.wire.service import Service
from tests.helpers import make_state, node, pod


def cpu_on(state: ClusterState, name: str) -> int:
    return state.truth()["nodes"][name].get("cpu", 0)


def test_the_issues_sequence_is_refused_then_binds_once_the_verbs_agree():
    state = make_state([node("a", cpu="16")])
    state.remember(parse_pod(pod("u", cpu="8")))
    state.remember(parse_pod(pod("u", cpu="1m")))
    before = state.truth()
    with pytest.raises(BindError, match="last two /filter or /prioritize requests carried"):
        state.bind("uid-u", "a")
    assert state.truth() == before
    state.remember(parse_pod(pod("u", cpu="1m")))  # the scheduler's next cycle
    assert state.bind("uid-u", "a") is not None
    assert cpu_on(state, "a") == 1


def test_metadata_changes_are_not_spec_changes():
    first = parse_pod(pod("u", cpu="1", labels={"v": "1"}))
    relabelled = parse_pod(pod("u", cpu="1", labels={"v": "2"}, annotations={"x": "y"}))
    assert same_spec(first, relabelled)
    clear_cache()  # parsed afresh: another template, other labels, another memory charge
    assert same_spec(first, parse_pod(pod("u", cpu="1", labels={"much": "longer" * 50})))
    assert not same_spec(first, parse_pod(pod("u", cpu="1", priority=5)))
    assert not same_spec(first, parse_pod(pod("u", cpu="1", nodeSelector={"zone": "a"})))
    state = make_state([node("a")])
    state.remember(first)
    state.remember(relabelled)
    assert state.bind("uid-u", "a") is not None


def test_the_pending_pod_the_state_holds_is_what_bind_counts():
    state = make_state([node("a", cpu="16")])
    state.apply_pod(pod("u", cpu="8"))  # pending, from the watch or the snapshot
    state.remember(parse_pod(pod("u", cpu="1m")))  # the /filter said otherwise
    before = state.truth()
    with pytest.raises(BindError, match="differs from the pending pod podsift holds"):
        state.bind("uid-u", "a")
    assert state.truth() == before
    state.remember(parse_pod(pod("u", cpu="8")))  # the next cycle carries the API's pod
    assert state.bind("uid-u", "a") is not None
    assert cpu_on(state, "a") == 8000


def test_with_a_pending_pod_an_earlier_different_spec_does_not_matter():
    """The pod was edited between two cycles: the latest one matches the API server."""
    state = make_state([node("a", cpu="16")])
    state.remember(parse_pod(pod("u", cpu="8")))
    state.apply_pod(pod("u", cpu="2"))  # the edit, seen by the watch
    state.remember(parse_pod(pod("u", cpu="2")))
    assert state.bind("uid-u", "a") is not None
    assert cpu_on(state, "a") == 2000


def service(state: ClusterState) -> Service:
    return Service(state, Engine(default_configuration()))


def test_service_filter_filter_bind_is_refused_and_explain_changes_nothing():
    svc = service(make_state([node("a", cpu="16")]))
    big, small = pod("u", cpu="8"), pod("u", cpu="1m")
    assert svc.filter({"Pod": big, "NodeNames": ["a"]})["NodeNames"] == ["a"]
    assert svc.filter({"Pod": small, "NodeNames": ["a"]})["NodeNames"] == ["a"]
    answer = svc.bind({"PodUID": "uid-u", "Node": "a"})
    assert "carried different specs" in answer["Error"]
    assert svc.state.truth()["pods"] == {}
    # one cycle whose verbs agree; an /explain of another spec in between is not one of them
    assert svc.filter({"Pod": big, "NodeNames": ["a"]})["NodeNames"] == ["a"]
    svc.explain({"Pod": small, "NodeNames": ["a"]})
    svc.prioritize({"Pod": big, "NodeNames": ["a"]})
    assert svc.bind({"PodUID": "uid-u", "Node": "a"}) == {"Error": ""}
    assert cpu_on(svc.state, "a") == 8000


def test_service_filter_then_prioritize_with_another_spec_is_refused():
    svc = service(make_state([node("a", cpu="16")]))
    svc.filter({"Pod": pod("u", cpu="1"), "NodeNames": ["a"]})
    tolerant = pod("u", cpu="1", tolerations=[{"operator": "Exists"}])
    svc.prioritize({"Pod": tolerant, "NodeNames": ["a"]})
    assert "carried different specs" in svc.bind({"PodUID": "uid-u", "Node": "a"})["Error"]
    assert svc.state.truth()["pods"] == {}
