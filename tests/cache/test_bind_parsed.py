"""`ClusterState.bind_parsed` (the planner's bind of the copies it holds) checks and
commits exactly what `bind` does for a remembered pod: the same state after, the
same refusals in the same words, nothing changed by a refusal."""

from __future__ import annotations

import pytest

from extender.cache.state import ClusterState
from extender.model.errors import BindError
from extender.model.pod import parse_pod
from tests.cache.test_bulkload import fingerprint
from tests.helpers import node, pod


def _with_port(obj: dict) -> dict:
    obj["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    return obj


PODS = [
    _with_port(pod("a", cpu="600m", labels={"app": "x"})),
    pod("b", cpu="600m", labels={"app": "x"}),  # no room left for it on n0
    _with_port(pod("c", cpu="100m")),  # host port taken on n0
    pod("d", cpu="100m", labels={"app": "y"}),
]


def _outcomes(bind) -> tuple[list[str], ClusterState]:
    state = ClusterState()
    state.load_items([node("n0", cpu="1"), node("n1", cpu="1")])
    out = []
    for obj in PODS:
        info = parse_pod(obj)
        try:
            bind(state, info, "n0")
            out.append("bound")
        except BindError as exc:
            out.append(str(exc))
    try:  # the first one again, elsewhere
        bind(state, parse_pod(PODS[0]), "n1")
    except BindError as exc:
        out.append(str(exc))
    return out, state


def _remembered(state: ClusterState, info, node_name: str) -> None:
    state.remember(info)
    state.bind(info.uid, node_name)


def test_bind_parsed_is_bind_of_a_remembered_pod() -> None:
    got, state = _outcomes(lambda s, info, n: s.bind_parsed(info, n))
    want, reference = _outcomes(_remembered)
    assert got == want
    assert got[0] == "bound" and got[3] == "bound"
    assert got[1].startswith("pod default/b no longer fits on n0: ")
    assert got[2] == "pod default/c no longer fits on n0: host port in use"
    assert got[4] == "pod default/a is already bound to n0"
    assert fingerprint(state) == fingerprint(reference)


def test_a_refused_bind_parsed_changes_nothing() -> None:
    state = ClusterState()
    state.load_items([node("n0", cpu="1")])
    before = fingerprint(state)
    with pytest.raises(BindError, match="no longer fits on n0"):
        state.bind_parsed(parse_pod(pod("big", cpu="2")), "n0")
    with pytest.raises(BindError, match="'gone' is not known"):
        state.bind_parsed(parse_pod(pod("x", cpu="1m")), "gone")
    assert fingerprint(state) == before
