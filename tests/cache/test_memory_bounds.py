"""The state's own tables are bounded in bytes too: remembered pods, pending pods,
resolved name lists and rows of full Node objects."""

from __future__ import annotations

import pytest

from extender.cache import state as state_module
from extender.cache.podmemory import POD_BYTES, PodMemory
from extender.model import pod as podinfo
from extender.model import selectors
from tests.helpers import make_pod, make_state, node, pod


def test_pod_memory_is_bounded_in_bytes() -> None:
    mem: PodMemory[int] = PodMemory(1000, ttl=1e9, max_bytes=10 * (POD_BYTES + 100))
    for i in range(100):
        mem.put(f"u{i}", i, 100)
    assert len(mem) == 10 and mem.bytes == 10 * (POD_BYTES + 100)
    assert mem.get("u99") == 99 and mem.get("u0") is None
    mem.put("huge", -1, 1 << 30)  # bigger than the whole bound: not remembered
    assert mem.get("huge") is None and mem.bytes <= mem.max_bytes


def _big_selector_pod(i: int) -> dict:
    obj = pod(f"p{i}", cpu="1", uid=f"u{i}")
    obj["spec"]["nodeSelector"] = {f"k{j}-{i}.example.com/x": "v" for j in range(4000)}
    return obj


def test_remembered_pods_charge_their_footprint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "REMEMBERED_BYTES", 8 * 1024 * 1024)
    state = make_state([node("n1")])
    for i in range(40):  # each selector is charged ~2.5 MB
        state.remember(make_pod(_big_selector_pod(i)))
    assert state._seen.bytes <= 8 * 1024 * 1024
    assert len(state._seen) < 40
    assert state._seen.get("u39") is not None  # the newest are kept
    selectors.clear_cache()
    podinfo.clear_cache()


def test_pending_pods_past_the_bound_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "PENDING_PODS", 5)
    state = make_state([node("n1")])
    for i in range(8):
        state.apply_pod(pod(f"p{i}", cpu="1", uid=f"u{i}"))
    assert sorted(state.pending) == [f"u{i}" for i in range(5)]
    assert state.pending_refused == 3
    assert state.stats()["pending_refused"] == 3
    # an update of a kept pod still applies; a removal gives its room back
    state.apply_pod(pod("p0", cpu="2", uid="u0"))
    assert state.pending["u0"].requests["cpu"] == 2000
    state.remove_pod("u1")
    state.apply_pod(pod("p9", cpu="1", uid="u9"))
    assert "u9" in state.pending
    assert state.pending_bytes == sum(POD_BYTES + p.footprint for p in state.pending.values())
    # a refused pending pod binds with the spec its /filter left
    state.remember(make_pod(pod("p7", cpu="1", uid="u7")))
    state.bind("u7", "n1")
    assert state.pods["u7"].node_name == "n1"


def test_pending_bytes_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "PENDING_BYTES", 3 * 1024 * 1024)
    state = make_state([node("n1")])
    for i in range(10):
        state.apply_pod(_big_selector_pod(i))
    assert 0 < len(state.pending) < 10
    assert state.pending_bytes <= 3 * 1024 * 1024
    selectors.clear_cache()
    podinfo.clear_cache()


def test_resolved_name_lists_are_bounded_in_bytes() -> None:
    state = make_state([node("n1")])
    with state.lock:
        for i in range(30):
            _, _, unknown = state.view(["n1", "x" * (4 << 20) + str(i)])
            assert len(unknown) == 1
    cache = state._resolve_cache
    assert len(cache) <= state_module.NAME_LISTS
    assert cache.bytes <= state_module.NAME_LISTS_BYTES


def test_node_object_rows_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "OBJECT_ROWS_BYTES", 2 * 1024 * 1024)
    state = make_state([node("n1")])
    with state.lock:
        for i in range(20):  # one node a request, each with a 256 KiB label value
            obj = node(f"big-{i}", labels={"k": "v" * 60 + str(i), "a" * 250_000: "b"})
            state.view_of_objects([obj])
    objects = state.node_objects
    assert objects.bytes <= 2 * 1024 * 1024 and len(objects) < 20
