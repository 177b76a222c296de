"""ClusterWatcher and ApiBinder against a real HTTP API server on loopback (tests/fakeapi.py).

Every scenario ends by comparing podsift's cache with the server's truth. Waits
poll a condition with a generous bound; nothing asserts how long anything took.
"""

from __future__ import annotations

import math
import time

import pytest

from extender.cache.state import ClusterState
from extender.live.binder import ApiBinder
from extender.live.client import KubeApi
from extender.live.watcher import POD_FIELD_SELECTOR, Backoff, ClusterWatcher
from extender.model.errors import BindError
from extender.model.pod import parse_pod
from tests.fakeapi import FakeApiServer, make_node, make_pod

BOUND = 20.0  # seconds a condition may take before the test fails (never reached normally)


def wait_until(predicate, bound: float = BOUND) -> bool:
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def cache_truth(state: ClusterState) -> dict:
    t = state.truth()
    return {"nodes": set(t["nodes"]), "pods": dict(t["pods"])}


def converged(server: FakeApiServer, state: ClusterState) -> bool:
    return cache_truth(state) == server.truth()


def assert_converged(server: FakeApiServer, state: ClusterState) -> None:
    wait_until(lambda: converged(server, state))
    assert cache_truth(state) == server.truth()


def requested_cpu(server: FakeApiServer) -> dict[str, int]:
    """Millicores requested per node, computed from the server's objects (simple pods)."""
    out: dict[str, int] = {}
    for uid, node in server.truth()["pods"].items():
        cpu = server.objects["pods"][uid]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
        out[node] = out.get(node, 0) + int(cpu.removesuffix("m"))
    return out


@pytest.fixture
def server():
    srv = FakeApiServer(bookmark_interval=0.1)  # quiet streams are not stalls (stall: 0.5 s)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def state():
    return ClusterState()


@pytest.fixture
def make_watcher(server, state):
    watchers = []

    def make(**overrides) -> ClusterWatcher:
        options = dict(
            page_size=3,
            timeout_seconds=5,
            stall_timeout=0.5,
            backoff_initial=0.01,
            backoff_max=0.05,
        )
        options.update(overrides)
        w = ClusterWatcher(state, KubeApi(server.url), **options)
        watchers.append(w)
        return w

    yield make
    for w in watchers:
        w.stop()


def populate(server: FakeApiServer, nodes: int = 4, pods: int = 10) -> None:
    for i in range(nodes):
        server.upsert_node(make_node(f"node-{i}"))
    for i in range(pods):
        server.upsert_pod(make_pod(f"pod-{i}", f"uid-{i}", node=f"node-{i % nodes}"))


def test_initial_sync_paginates_and_uses_the_scheduler_field_selector(server, state, make_watcher):
    populate(server, nodes=7, pods=20)
    server.upsert_pod(make_pod("pending", "uid-pending"))  # no node: not counted
    server.upsert_pod(make_pod("done", "uid-done", node="node-1", phase="Succeeded"))
    server.upsert_pod(make_pod("failed", "uid-failed", node="node-2", phase="Failed"))
    assert state.ready is False

    w = make_watcher(page_size=3)
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: state.ready)
    assert wait_until(lambda: w.stats()["watch_starts"] >= 3)  # nodes, pods, namespaces

    # 7 nodes in pages of 3; 21 non-terminal pods (20 placed + 1 pending) in pages of 3
    assert server.count("GET", "/api/v1/nodes", limit="3") == math.ceil(7 / 3)
    assert server.count("GET", "/api/v1/pods", limit="3", fieldSelector=POD_FIELD_SELECTOR) == 7
    assert server.count("GET", "/api/v1/pods", fieldSelector=POD_FIELD_SELECTOR, watch="1") >= 1
    assert server.count("GET", "/api/v1/pods", allowWatchBookmarks="true", watch="1") >= 1
    continued = [q for m, p, q in server.requests if p == "/api/v1/nodes" and "continue" in q]
    assert len(continued) == 2 and all("resourceVersion" not in q for q in continued)
    assert cache_truth(state) == server.truth()
    assert {n: v["cpu"] for n, v in state.truth()["nodes"].items() if "cpu" in v} == (
        requested_cpu(server)
    )
    assert w.stats()["relists"] == 1


def test_added_modified_deleted_events(server, state, make_watcher):
    populate(server, nodes=3, pods=6)
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert_converged(server, state)

    server.upsert_node(make_node("node-new"))
    server.upsert_pod(make_pod("new", "uid-new", node="node-new", cpu="700m"))
    server.update_pod(
        "uid-0",
        lambda p: p["spec"]["containers"][0]["resources"]["requests"].update(cpu="1500m"),
    )
    server.delete_pod("uid-1")
    server.update_pod("uid-2", lambda p: p["status"].update(phase="Succeeded"))  # leaves selector
    server.delete_pod("uid-5")
    server.delete_node("node-2")  # its last pod (uid-5) went first
    server.update_pod("uid-3", lambda p: p["status"].update(podIP="10.0.0.3"))  # status only

    assert_converged(server, state)
    cpu = {n: v.get("cpu", 0) for n, v in state.truth()["nodes"].items()}
    expected = requested_cpu(server)
    assert cpu == {n: expected.get(n, 0) for n in server.truth()["nodes"]}
    stats = w.stats()
    # node ADDED, node DELETED; pod ADDED, MODIFIED (requests), DELETED x2, terminal -> DELETED
    assert stats["events_applied_nodes"] == 2
    assert stats["events_applied_pods"] == 5
    assert stats["events_skipped_pods"] == 1


def test_ten_thousand_status_only_updates_are_skipped(server, state, make_watcher):
    populate(server, nodes=2, pods=4)
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert_converged(server, state)
    before = w.stats()

    for i in range(10_000):
        server.update_pod(
            f"uid-{i % 4}",
            lambda p, i=i: p["status"].update(
                conditions=[{"type": "Ready", "status": "True", "lastProbeTime": str(i)}]
            ),
        )
    server.update_pod(
        "uid-0", lambda p: p["spec"]["containers"][0]["resources"]["requests"].update(cpu="2")
    )

    assert wait_until(lambda: w.stats()["events_applied_pods"] == before["events_applied_pods"] + 1)
    after = w.stats()
    assert after["events_skipped_pods"] - before["events_skipped_pods"] == 10_000
    assert after["relists"] == before["relists"]
    assert_converged(server, state)
    assert state.truth()["nodes"]["node-0"]["cpu"] == 2000 + 100


@pytest.mark.parametrize("how", ["reset", "end"])
def test_stream_cut_mid_event_resumes_without_loss(server, state, make_watcher, how):
    populate(server, nodes=2, pods=2)
    server.cut_next_watch["pods"] = (2, how)  # the first pod watch: 2 events, half a line, cut
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    for i in range(5):
        server.upsert_pod(make_pod(f"late-{i}", f"late-{i}", node="node-1", cpu=f"{i + 1}00m"))

    assert_converged(server, state)
    stats = w.stats()
    assert stats["reconnects"] >= 1
    assert stats["relists"] == 1  # resumed from the last resourceVersion, no relist
    assert stats["events_applied_pods"] == 5  # nothing lost; the replayed event is not doubled
    assert wait_until(lambda: state.ready)


def test_stalled_stream_is_detected_and_reconnected(server, state, make_watcher):
    populate(server, nodes=2, pods=2)
    server.stall_next_watch["pods"] = 1
    w = make_watcher(stall_timeout=0.3)
    w.start()
    assert w.wait_synced(BOUND)
    server.upsert_pod(make_pod("after-stall", "uid-after", node="node-0"))

    assert_converged(server, state)
    assert w.stats()["reconnects"] >= 1
    assert w.stats()["relists"] == 1


@pytest.mark.parametrize("how", ["error", "cut"])
def test_410_gone_relists_and_drops_phantoms(server, state, make_watcher, how):
    """Changes lost to compaction (never delivered) are repaired by the relist."""
    populate(server, nodes=3, pods=6)
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert_converged(server, state)
    assert wait_until(lambda: w.stats()["watch_starts"] >= 3)

    with server.cond:  # mutate and compact at once: no watcher can see these events
        server.delete_pod("uid-0")  # would stay a phantom without the relist
        server.upsert_pod(make_pod("hidden", "uid-hidden", node="node-1"))  # would be lost
        server.delete_node("node-2")
        server.delete_pod("uid-2")
        server.delete_pod("uid-5")
        server.gone_as_status = how == "cut"  # reconnect meets HTTP 410 instead of an event
        server.compact(open_streams=how)

    assert wait_until(lambda: w.stats()["relists"] >= 2)
    assert_converged(server, state)
    assert wait_until(lambda: state.ready)
    # the relist after 410 is a consistent read: no resourceVersion on its first page
    fresh = [q for m, p, q in server.requests if p == "/api/v1/pods" and "watch" not in q]
    assert "resourceVersion" not in fresh[-1]
    # and the watch goes on from the relist
    server.upsert_pod(make_pod("later", "uid-later", node="node-0"))
    assert_converged(server, state)


def test_failing_lists_keep_not_ready_then_sync(server, state, make_watcher):
    populate(server, nodes=2, pods=3)
    server.fail_next_lists = 3
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: state.ready)
    assert w.stats()["relist_failures"] == 3
    assert_converged(server, state)


def test_lost_api_server_marks_not_ready(server, state, make_watcher):
    populate(server, nodes=1, pods=1)
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: state.ready)
    server.stop()
    assert wait_until(lambda: not state.ready)
    assert "interrupted" in state.ready_reason


def test_bookmarks_advance_the_resource_version(state, make_watcher):
    srv = FakeApiServer(bookmark_interval=0.05)
    srv.start()
    try:
        populate(srv, nodes=1, pods=1)
        w = ClusterWatcher(state, KubeApi(srv.url), timeout_seconds=5, stall_timeout=2.0)
        w.start()
        try:
            assert w.wait_synced(BOUND)
            assert wait_until(lambda: w.stats()["bookmarks"] >= 2)
            assert w.stats()["reconnects"] == 0
            assert cache_truth(state) == srv.truth()
        finally:
            w.stop()
    finally:
        srv.stop()


# -- binding -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def synced_with_pending_pod(server, state, make_watcher) -> ClusterWatcher:
    server.upsert_node(make_node("node-a", cpu="1"))
    server.upsert_node(make_node("node-b", cpu="1"))
    server.upsert_pod(make_pod("web", "uid-web", cpu="600m"))  # pending
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert_converged(server, state)
    return w


def test_bind_posts_binding_and_watch_confirms(server, state, make_watcher):
    synced_with_pending_pod(server, state, make_watcher)
    clock = FakeClock()
    binder = ApiBinder(state, KubeApi(server.url), assume_timeout=30, clock=clock)
    state.remember(parse_pod(server.objects["pods"]["uid-web"]))

    binder.bind("uid-web", "default", "web", "node-a")
    assert server.objects["pods"]["uid-web"]["spec"]["nodeName"] == "node-a"
    assert wait_until(lambda: not state.is_assumed("uid-web"))  # the watch confirmed it
    clock.now += 31
    assert binder.sweep() == []
    assert binder.stats()["binds_ok"] == 1
    assert_converged(server, state)


def test_assumed_capacity_is_taken_before_the_api_answers(server, state, make_watcher):
    synced_with_pending_pod(server, state, make_watcher)
    server.upsert_pod(make_pod("web2", "uid-web2", cpu="600m"))
    assert_converged(server, state)
    server.bind_applies = False  # the API accepts but the watch never shows the bind
    binder = ApiBinder(state, KubeApi(server.url), clock=FakeClock())
    for uid in ("uid-web", "uid-web2"):
        state.remember(parse_pod(server.objects["pods"][uid]))
    binder.bind("uid-web", "default", "web", "node-a")
    with pytest.raises(BindError, match="no longer fits"):
        binder.bind("uid-web2", "default", "web2", "node-a")  # 600m + 600m > 1 cpu
    assert server.count("POST", "/api/v1/namespaces/default/pods/web2/binding") == 0


@pytest.mark.parametrize("conflict", ["injected", "uid-mismatch"])
def test_bind_conflict_raises_and_leaves_state_unchanged(server, state, make_watcher, conflict):
    synced_with_pending_pod(server, state, make_watcher)
    binder = ApiBinder(state, KubeApi(server.url), clock=FakeClock())
    pod = server.objects["pods"]["uid-web"]
    uid = "uid-web"
    if conflict == "injected":
        server.bind_status = 409
    else:  # our remembered pod is an older incarnation of default/web
        uid = "uid-web-old"
        pod = {**pod, "metadata": {**pod["metadata"], "uid": uid}}
    state.remember(parse_pod(pod))
    before = state.truth()

    with pytest.raises(BindError) as err:
        binder.bind(uid, "default", "web", "node-a")
    assert "409" in str(err.value) and "Conflict" in str(err.value)
    assert "default/web" in str(err.value) and "node-a" in str(err.value)
    assert state.truth() == before
    assert not state.is_assumed(uid)
    assert binder.stats()["binds_failed"] == 1
    assert binder.pending() == 0
    assert_converged(server, state)


def test_bind_to_unreachable_api_forgets(state):
    server = FakeApiServer()
    server.start()
    url = server.url
    server.stop()
    state.apply_node(make_node("node-a"))
    pod = make_pod("web", "uid-web")
    state.remember(parse_pod(pod))
    before = state.truth()
    binder = ApiBinder(state, KubeApi(url), clock=FakeClock())
    with pytest.raises(BindError, match="unreachable"):
        binder.bind("uid-web", "default", "web", "node-a")
    assert state.truth() == before


def test_unconfirmed_assumption_expires(server, state, make_watcher):
    synced_with_pending_pod(server, state, make_watcher)
    server.bind_applies = False  # 201, but the pod never shows up bound (a lost write)
    clock = FakeClock()
    binder = ApiBinder(state, KubeApi(server.url), assume_timeout=30, clock=clock)
    state.remember(parse_pod(server.objects["pods"]["uid-web"]))

    binder.bind("uid-web", "default", "web", "node-a")
    assert state.is_assumed("uid-web")
    assert state.truth()["pods"] == {"uid-web": "node-a"}  # capacity taken at once
    clock.now += 29
    assert binder.sweep() == []
    assert state.is_assumed("uid-web")
    clock.now += 2
    assert binder.sweep() == ["uid-web"]
    assert not state.is_assumed("uid-web")
    assert binder.stats()["assumptions_expired"] == 1
    assert_converged(server, state)


def test_backoff_grows_with_jitter_and_resets():
    import random

    b = Backoff(initial=1.0, maximum=8.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert 0.5 <= b.next_delay() <= 1.0


def test_unparseable_objects_are_left_out_not_fatal(server, state, make_watcher, caplog):
    caplog.set_level("WARNING", logger="podsift")
    populate(server, nodes=2, pods=3)
    server.upsert_pod(make_pod("bad", "uid-bad", node="node-0", cpu="lots"))
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: state.ready)
    assert w.stats()["events_invalid"] == 1
    server.upsert_pod(make_pod("bad2", "uid-bad2", node="node-1", cpu="1x"))
    server.upsert_pod(make_pod("good", "uid-good", node="node-1"))
    assert wait_until(lambda: "uid-good" in state.truth()["pods"])
    assert w.stats()["events_invalid"] == 2
    # each warning names the object, not only the field
    text = caplog.text
    assert "pod default/bad left out of the cache: spec.containers[0]" in text
    assert "event for pod default/bad2 not applied: spec.containers[0]" in text
    truth = server.truth()
    del truth["pods"]["uid-bad"], truth["pods"]["uid-bad2"]
    assert cache_truth(state) == truth


def test_assumption_survives_a_status_update_of_the_pending_pod(server, state, make_watcher):
    w = synced_with_pending_pod(server, state, make_watcher)
    server.bind_applies = False  # the binding's own MODIFIED event is late
    binder = ApiBinder(state, KubeApi(server.url), clock=FakeClock())
    state.remember(parse_pod(server.objects["pods"]["uid-web"]))
    binder.bind("uid-web", "default", "web", "node-a")
    skipped = w.stats()["events_skipped_pods"] + w.stats()["events_applied_pods"]
    server.update_pod("uid-web", lambda p: p["status"].update(conditions=[{"type": "X"}]))
    assert wait_until(
        lambda: w.stats()["events_skipped_pods"] + w.stats()["events_applied_pods"] > skipped
    )
    assert state.is_assumed("uid-web")  # node-a's capacity stays taken until confirmed


def test_server_side_watch_timeout_rewatches_without_a_fault(server, state, make_watcher):
    populate(server, nodes=1, pods=1)
    w = make_watcher(timeout_seconds=1)  # each watch ends cleanly after 1-2 s
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: w.stats()["watch_starts"] >= 6)
    server.upsert_pod(make_pod("after", "uid-after", node="node-0"))
    assert_converged(server, state)
    stats = w.stats()
    assert stats["reconnects"] == 0 and stats["relists"] == 1
    assert state.ready
    watches = [q for m, p, q in server.requests if q.get("watch") == "1"]
    assert {q["timeoutSeconds"] for q in watches} <= {"1", "2"}
    assert all(q["resourceVersion"] for q in watches)


# ---- owners (PodTopologySpread's default constraints) ---------------------------------


def _owner_selector(state: ClusterState, labels: dict, controller=None):
    with state.lock:
        return state.table.owners.default_selector(
            "default", labels, tuple(labels.items()), controller
        )


def test_owners_are_listed_watched_and_survive_a_relist(server, state, make_watcher):
    populate(server, nodes=2, pods=2)
    service = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}},
    }
    server.upsert_owner("services", service)
    rs = {
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web", "hash": "1"}}},
    }
    server.upsert_owner("replicasets", rs)
    w = make_watcher(owners=True)
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: state.ready)
    labels = {"app": "web", "hash": "1"}
    owner = ("apps/v1", "ReplicaSet", "web-1")
    selector = _owner_selector(state, labels, owner)
    assert selector is not None
    assert selector.matches(labels) and not selector.matches({"app": "web", "hash": "2"})
    assert server.count("GET", "/apis/apps/v1/statefulsets", limit="3") == 1

    # a watched change: the service goes away, the ReplicaSet's selector stays
    server.delete_owner("services", "default/web")
    assert wait_until(lambda: not _owner_selector(state, {"app": "web"}))
    # a relist (410) keeps owners in step too
    server.upsert_owner("services", service)
    server.compact()
    assert wait_until(lambda: w.stats()["relists"] >= 2)
    assert wait_until(lambda: _owner_selector(state, {"app": "web"}) is not None)


def test_owners_are_not_watched_unless_asked(server, state, make_watcher):
    populate(server, nodes=1, pods=1)
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert server.count("GET", "/api/v1/services", limit="3") == 0
def test_namespace_labels_are_listed_and_watched(server, state, make_watcher):
    """Inter-pod affinity's namespaceSelector reads Namespace labels: listed at sync,
    then kept by the watch (added, relabelled, deleted)."""
    populate(server, nodes=1, pods=1)
    server.upsert_namespace({"metadata": {"name": "shop", "labels": {"team": "a"}}})
    w = make_watcher()
    w.start()
    assert w.wait_synced(BOUND)
    assert wait_until(lambda: state.namespaces.get("shop") == {"team": "a"})
    server.upsert_namespace({"metadata": {"name": "shop", "labels": {"team": "b"}}})
    server.upsert_namespace({"metadata": {"name": "ads", "labels": {}}})
    assert wait_until(lambda: state.namespaces.get("shop") == {"team": "b"})
    assert wait_until(lambda: state.namespaces.get("ads") == {})
    with server.cond:
        obj = server.objects["namespaces"].pop("ads")
        server._record("namespaces", "DELETED", obj, dict(obj))
    assert wait_until(lambda: state.namespaces.get("ads") is None)
    assert w.stats()["events_applied_namespaces"] >= 3
    assert_converged(server, state)


class _PagedState(ClusterState):
    """A ClusterState that records, as a relist hands it each pod, how many pod pages
    the server had answered by then; `on_first_pod` runs when the first one comes."""

    def __init__(self, server: FakeApiServer, on_first_pod=None) -> None:
        super().__init__()
        self.server = server
        self.on_first_pod = on_first_pod
        self.pages_seen: list[list[int]] = []  # per replace_all: pages answered, per pod
        self.after_failure: list[int] = []  # pods held after a replace_all that raised

    def _pod_pages(self) -> int:
        return self.server.count("GET", "/api/v1/pods", limit="3", fieldSelector=POD_FIELD_SELECTOR)

    def replace_all(self, nodes, pods, owners=None, namespaces=None):
        seen: list[int] = []
        self.pages_seen.append(seen)

        def watched():
            for pod in pods:
                if not seen and self.on_first_pod is not None:
                    self.on_first_pod()
                seen.append(self._pod_pages())
                yield pod

        try:
            return super().replace_all(nodes, watched(), owners, namespaces)
        except Exception:
            self.after_failure.append(len(self.truth()["pods"]))
            raise


def _watch(state: ClusterState, server: FakeApiServer) -> ClusterWatcher:
    return ClusterWatcher(
        state,
        KubeApi(server.url),
        page_size=3,
        timeout_seconds=5,
        stall_timeout=0.5,
        backoff_initial=0.01,
        backoff_max=0.05,
    )


def test_a_relist_parses_the_pods_page_by_page(server):
    # a listing held whole until parsed leaves its memory pinned (the watcher's _relist)
    populate(server, nodes=4, pods=20)  # 7 pages of 3
    state = _PagedState(server)
    w = _watch(state, server)
    w.start()
    try:
        assert w.wait_synced(BOUND)
        assert_converged(server, state)
        assert len(state.pages_seen) == 1
        seen = state.pages_seen[0]
        assert len(seen) == 20
        # pod k arrives when its own page has been answered, and no later page
        assert seen == [k // 3 + 1 for k in range(20)]
    finally:
        w.stop()


def test_a_pod_page_that_fails_mid_relist_changes_nothing_and_the_relist_retries(server):
    populate(server, nodes=4, pods=20)

    def fail_the_next_page() -> None:
        if len(state.pages_seen) == 1:  # the first relist only
            server.fail_next_lists = 1

    state = _PagedState(server, on_first_pod=fail_the_next_page)
    w = _watch(state, server)
    w.start()
    try:
        assert w.wait_synced(BOUND)
        assert_converged(server, state)
        assert w.stats()["relist_failures"] == 1
        assert len(state.pages_seen) == 2
        assert len(state.pages_seen[0]) == 3  # the first page's pods, then the failure
        assert state.after_failure == [0]  # nothing of the failed relist was kept
        assert w.stats()["relists"] == 1
    finally:
        w.stop()
