"""`ClusterState.bind_parsed` (the planner's bind of the copies it holds) checks and
commits exactly what `bind` does for a remembered pod: the same state after, the
same refusals in the same words, nothing changed by a refusal."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# -- bind_alike: the copies that fit, bound at once -------------------------------

ALLOCATABLE = st.fixed_dictionaries(
    {
        "cpu": st.sampled_from(["0", "1", "2500m", "8"]),
        "memory": st.sampled_from(["0", "1Gi", "3Gi", "900P"]),  # 900P: near the bound
        "pods": st.sampled_from(["0", "1", "3", "110"]),
    }
)


@st.composite
def alike_case(draw: st.DrawFn) -> tuple:
    allocatable = draw(ALLOCATABLE)
    n0 = node("n0", cpu=allocatable["cpu"], memory=allocatable["memory"])
    n0["status"]["allocatable"]["pods"] = allocatable["pods"]
    before = [
        pod(f"b{i}", cpu=draw(st.sampled_from(["0", "300m", "1"])), node_name="n0")
        for i in range(draw(st.integers(0, 3)))
    ]
    extra = {}
    if draw(st.booleans()):
        extra["overhead"] = {"example.com/foo": draw(st.sampled_from(["0", "1"]))}
    template = pod(
        "web",
        cpu=draw(st.sampled_from([None, "0", "250m", "1", "3"])),
        memory=draw(st.sampled_from([None, "512Mi", "2Gi", "600P"])),
        labels={"app": "web"},
        **extra,
    )
    n = draw(st.integers(0, 12))
    uids = [f"c{draw(st.integers(0, 14))}" for _ in range(n)]  # now and then one twice
    if draw(st.booleans()):
        uids = [f"c{i}" for i in range(n)]
    taken = draw(st.sampled_from([None, "c3", "b0"]))  # a copy's UID already bound
    ignore = draw(st.sampled_from([None, "cpu", "memory"]))
    return n0, before, template, uids, taken, ignore


def _copies_bound(case: tuple, at_once: bool) -> tuple[int, str | None, dict]:
    n0, before, template, uids, taken, ignore = case
    state = ClusterState()
    state.load_items([n0, *before])
    if ignore:
        state.bind_ignores = lambda resource: resource == ignore
    info = parse_pod(template)
    if taken and taken not in state.pods:
        with contextlib.suppress(BindError):  # no room for it: not taken then
            state.bind_parsed(dataclasses.replace(info, uid=taken, name=taken), "n0")
    copies = [dataclasses.replace(info, uid=u, name=f"{u}-name") for u in uids]
    bound, why, rest = 0, None, copies
    if at_once:  # all that fit, then the next one refused (bind_parsed says why)
        bound = state.bind_alike(info, [(c.uid, c.name) for c in copies], "n0")
        rest = copies[bound : bound + 1]
    for c in rest:
        try:
            state.bind_parsed(c, "n0")
        except BindError as exc:
            why = str(exc)
            break
        bound += 1
    return bound, why, fingerprint(state)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alike_case())
def test_bind_alike_is_bind_parsed_copy_by_copy(case: tuple) -> None:
    """Copies bound at once, and the next refused, against every copy one by one
    until one is refused: as many bound, the same refusal, the same state."""
    assert _copies_bound(case, True) == _copies_bound(case, False)


def test_bind_alike_binds_what_fits_and_leaves_the_rest() -> None:
    state = ClusterState()
    state.load_items([node("n0", cpu="1")])
    info = parse_pod(pod("web", cpu="300m"))
    ids = [(f"c{i}", f"web-{i}") for i in range(5)]
    assert state.bind_alike(info, ids, "n0") == 3
    assert sorted(state.pods) == ["c0", "c1", "c2"]
    assert int(state.table.req[state.table.resource_col["cpu"]][0]) == 900
    assert state.bind_alike(info, ids[3:], "n0") == 0
    assert state.bind_alike(info, ids, "n1") == 0  # no such node: bind_parsed says so
