"""`ClusterState.bind_chosen` (the in-process `schedule_one`'s bind of the node its
engine pass just chose) leaves exactly what `remember` then `bind` leave: the same
state, the same refusals in the same words, whatever the state already knows of
the pod (bound, pending, remembered with another spec)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.cache.state import ClusterState
from extender.model.errors import BindError
from extender.model.pod import parse_pod
from tests.cache.test_bind_parsed import PODS, _outcomes, _remembered
from tests.cache.test_bulkload import fingerprint
from tests.helpers import node, pod


def _chosen(state: ClusterState, info, node_name: str) -> None:
    state.bind_chosen(info, state.table.id_of[node_name], room_checked=False)


def test_bind_chosen_is_remember_then_bind() -> None:
    got, state = _outcomes(_chosen)
    want, reference = _outcomes(_remembered)
    assert got == want
    assert got[1].startswith("pod default/b no longer fits on n0: ")
    assert got[4] == "pod default/a is already bound to n0"
    assert fingerprint(state) == fingerprint(reference)
    assert len(state._seen) == len(reference._seen) == 3  # the refused ones, kept


# what the state may know of the pod before: nothing, its spec remembered (the same or
# another), it pending (from the watch), it bound already (here or elsewhere)
BEFORE = ("nothing", "remembered", "remembered-other", "pending", "bound-n0", "bound-n1")


def _run(before: str, which: int, target: str, fast: bool) -> tuple:
    state = ClusterState()
    state.load_items([node("n0", cpu="1"), node("n1", cpu="1")])
    obj = PODS[which]
    info = parse_pod(obj)
    if before == "remembered":
        state.remember(parse_pod(obj))
    elif before == "remembered-other":
        state.remember(parse_pod({**obj, "spec": {**obj["spec"], "priority": 7}}))
    elif before == "pending":
        state.apply_pod(obj)
    elif before.startswith("bound-"):
        state.remember(parse_pod(obj))
        state.bind(info.uid, before[len("bound-") :])
    outcome = "bound"
    try:
        if fast:
            _chosen(state, info, target)
        else:
            _remembered(state, info, target)
    except BindError as exc:
        outcome = str(exc)
    seen = state._seen.get(info.uid)
    return outcome, fingerprint(state), None if seen is None else seen[1], len(state.pending)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BEFORE), st.integers(0, len(PODS) - 1), st.sampled_from(["n0", "n1"]))
def test_bind_chosen_matches_the_general_path_whatever_came_before(
    before: str, which: int, target: str
) -> None:
    assert _run(before, which, target, True) == _run(before, which, target, False)


def test_room_checked_skips_only_the_room_test() -> None:
    """With `room_checked` the caller vouches for the room: a pod that does not fit
    is counted anyway (the engine's filters said it fits), and nothing else differs."""
    state = ClusterState()
    state.load_items([node("n0", cpu="1")])
    big = parse_pod(pod("big", cpu="2"))
    try:
        state.bind_chosen(big, 0, room_checked=False)
        raise AssertionError("a pod that does not fit was bound")
    except BindError as exc:
        assert "no longer fits on n0" in str(exc)
    state = ClusterState()  # (the refusal left the pod remembered: the general path now)
    state.load_items([node("n0", cpu="1")])
    state.bind_chosen(big, 0, room_checked=True)
    assert state.pods["uid-big"].node_name == "n0"


def test_schedule_one_remembers_what_it_does_not_place() -> None:
    """In-process, a pod no node takes, or whose pass raises, is remembered for a
    later /bind, as when schedule_one remembered every pod first; a placed one is
    bound and not remembered."""
    import pytest

    from extender.inprocess import InProcessExtender
    from extender.model.errors import InvalidInput

    ext = InProcessExtender([node("n0", cpu="1")])
    assert ext.schedule_one(pod("big", cpu="2"), ["n0"]) is None
    assert ext.state._seen.get("uid-big") is not None
    bad = pod("bad", cpu="1m", labels={"app": "x"})
    bad["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 0,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "x"}},
        }
    ]
    with pytest.raises(InvalidInput):
        ext.schedule_one(bad, ["n0"])
    assert ext.state._seen.get("uid-bad") is not None
    assert ext.schedule_one(pod("fine", cpu="1m"), ["n0"]) == "n0"
    assert ext.state._seen.get("uid-fine") is None
    assert ext.state.pods["uid-fine"].node_name == "n0"
