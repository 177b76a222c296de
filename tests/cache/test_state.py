"""ClusterState: atomic mutations, binding rules, views."""

import numpy as np
import pytest

from extender.cache.state import ClusterState
from extender.model.errors import BindError, InvalidInput
from extender.model.pod import parse_pod
from tests.helpers import make_state, node, pod


def usage(state: ClusterState) -> dict:
    return state.truth()


def test_pods_count_on_their_node_and_terminal_pods_do_not():
    done = pod("done", cpu="1", node_name="a")
    done["status"]["phase"] = "Succeeded"
    state = make_state([node("a")], [pod("p", cpu="500m", memory="1Gi", node_name="a"), done])
    assert usage(state)["nodes"]["a"] == {"cpu": 500, "memory": 1024**3, "pods": 1}
    assert list(usage(state)["pods"]) == ["uid-p"]


def test_status_only_update_is_skipped_and_spec_change_applied():
    state = make_state([node("a")])
    p = pod("p", cpu="1", node_name="a")
    assert state.apply_pod(p) is True
    p2 = {**p, "status": {"phase": "Running", "conditions": [{"type": "Ready"}]}}
    assert state.apply_pod(p2) is False
    moved = pod("p", cpu="2", node_name="a")
    assert state.apply_pod(moved) is True
    assert usage(state)["nodes"]["a"]["cpu"] == 2000


def test_a_resize_in_progress_counts_the_larger_of_spec_and_allocation():
    # kube-scheduler 1.33+ (PodRequests with UseStatusResources): a running pod
    # being resized holds max(spec, status, allocated) on its node (issue 9).
    state = make_state([node("a", cpu="4")])
    p = pod("p", cpu="1", node_name="a")
    p["status"]["containerStatuses"] = [
        {"name": "c", "resources": {"requests": {"cpu": "1"}}, "allocatedResources": {"cpu": "1"}}
    ]
    assert state.apply_pod(p) is True
    assert usage(state)["nodes"]["a"]["cpu"] == 1000
    # a downsize to 500m: the spec changes first, the node still holds 1 cpu
    down = pod("p", cpu="500m", node_name="a")
    down["status"] = p["status"]
    assert state.apply_pod(down) is False  # the spec changed, the usage did not
    assert usage(state)["nodes"]["a"]["cpu"] == 1000
    # the kubelet allocates and actuates it: a status-only update frees the rest
    done = pod("p", cpu="500m", node_name="a")
    done["status"]["containerStatuses"] = [
        {
            "name": "c",
            "resources": {"requests": {"cpu": "500m"}},
            "allocatedResources": {"cpu": "500m"},
        }
    ]
    assert state.apply_pod(done) is True
    assert usage(state)["nodes"]["a"]["cpu"] == 500
    # an upsize the node cannot take: Infeasible, so only what it holds counts
    up = pod("p", cpu="8", node_name="a")
    up["status"] = {
        **done["status"],
        "conditions": [{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}],
    }
    assert state.apply_pod(up) is False  # the usage is unchanged
    assert usage(state)["nodes"]["a"]["cpu"] == 500


def test_pod_before_its_node_is_counted_when_the_node_arrives():
    state = make_state([])
    state.apply_pod(pod("p", cpu="1", node_name="late"))
    assert usage(state)["nodes"] == {}
    state.apply_node(node("late"))
    assert usage(state)["nodes"]["late"]["cpu"] == 1000
    state.remove_node("late")
    assert usage(state)["nodes"] == {}
    state.apply_node(node("late"))
    assert usage(state)["nodes"]["late"]["cpu"] == 1000
    state.remove_pod("uid-p")
    assert usage(state)["nodes"]["late"] == {}


def test_invalid_pod_changes_nothing():
    state = make_state([node("a")], [pod("p", cpu="1", node_name="a")])
    before = usage(state)
    bad = pod("q", cpu="lots", node_name="a")
    with pytest.raises(InvalidInput, match="cpu"):
        state.apply_pod(bad)
    assert usage(state) == before


def test_replace_all_is_atomic_on_error():
    state = make_state([node("a")], [pod("p", cpu="1", node_name="a")])
    before = usage(state)
    with pytest.raises(InvalidInput, match="node #1"):
        state.replace_all([node("b"), {"kind": "Node", "metadata": {}}], [])
    assert usage(state) == before


def test_bind_commits_remembered_pod_and_rejects_what_does_not_fit():
    state = make_state([node("a", cpu="2")])
    first = parse_pod(pod("p1", cpu="1500m"))
    second = parse_pod(pod("p2", cpu="1"))
    state.remember(first)
    state.remember(second)
    state.bind("uid-p1", "a")
    before = usage(state)
    with pytest.raises(BindError, match="no longer fits on a: Insufficient cpu"):
        state.bind("uid-p2", "a")
    assert usage(state) == before
    assert state.bind("uid-p1", "a") is None  # a retry of the same bind is harmless
    with pytest.raises(BindError, match="already bound to a"):
        state.apply_node(node("b"))
        state.bind("uid-p1", "b")
    with pytest.raises(BindError, match="neither a pending pod podsift knows"):
        state.bind("uid-nobody", "a")
    state.remember(parse_pod(pod("p3", cpu="1m")))
    with pytest.raises(BindError, match="not known"):
        state.bind("uid-p3", "ghost")
    assert usage(state)["pods"] == {"uid-p1": "a"}


def test_a_committed_bind_forgets_the_filtered_spec():
    """A bound pod's record holds what it uses: its /filter's spec is dropped at
    once instead of being held for its 10 minutes (256 MiB at 13,000 binds a
    minute), and a retried /bind still finds the record."""
    state = make_state([node("a", cpu="4"), node("b")])
    for i in range(3):
        state.remember(parse_pod(pod(f"p{i}", cpu="1")))
    assert state.stats()["remembered"] == 3
    before = state.stats()["remembered_bytes"]
    state.bind("uid-p0", "a")
    assert state.stats()["remembered"] == 2
    assert state.stats()["remembered_bytes"] < before
    assert state.bind("uid-p0", "a") is None  # the retry
    with pytest.raises(BindError, match="default/p0 is already bound to a"):
        state.bind("uid-p0", "b")
    state.assume("uid-p1", "a")  # until the API server confirms it, the spec stays
    assert state.stats()["remembered"] == 2
    assert usage(state)["pods"] == {"uid-p0": "a", "uid-p1": "a"}


def test_bind_refuses_a_host_port_in_use():
    ports = [{"containerPort": 80, "hostPort": 8080}]
    p1 = pod("p1", cpu="1m")
    p1["spec"]["containers"][0]["ports"] = ports
    p2 = pod("p2", cpu="1m")
    p2["spec"]["containers"][0]["ports"] = ports
    state = make_state([node("a")])
    state.remember(parse_pod(p1))
    state.remember(parse_pod(p2))
    state.bind("uid-p1", "a")
    with pytest.raises(BindError, match="host port"):
        state.bind("uid-p2", "a")


def test_too_many_pods():
    state = make_state([node("a", pods="1")], [pod("p", cpu="1m", node_name="a")])
    state.remember(parse_pod(pod("q", cpu="1m")))
    with pytest.raises(BindError, match="Too many pods"):
        state.bind("uid-q", "a")


def test_assume_and_forget():
    state = make_state([node("a")])
    state.remember(parse_pod(pod("p", cpu="1")))
    state.assume("uid-p", "a")
    assert state.is_assumed("uid-p")
    assert usage(state)["nodes"]["a"]["cpu"] == 1000
    state.forget("uid-p")
    assert not state.is_assumed("uid-p")
    assert usage(state)["nodes"]["a"] == {}


def test_watch_confirms_assumption():
    state = make_state([node("a")])
    state.remember(parse_pod(pod("p", cpu="1")))
    state.assume("uid-p", "a")
    assert state.apply_pod(pod("p", cpu="1", node_name="a")) is False
    assert not state.is_assumed("uid-p")
    assert usage(state)["nodes"]["a"]["cpu"] == 1000


def test_views_resolve_unknown_names_and_reuse_ids():
    state = make_state([node("a"), node("b", cpu="8")])
    view, known, unknown = state.view(["b", "zz", "a"])
    assert known == [0, 2] and unknown == ["zz"]
    assert view.names == ["b", "a"]
    assert view.allocatable("cpu").tolist() == [8000, 4000]
    state.remove_node("a")
    state.apply_node(node("c", cpu="1"))
    view, known, unknown = state.view(["a", "c"])
    assert unknown == ["a"] and view.names == ["c"]
    assert view.allocatable("cpu").tolist() == [1000]


def test_objects_view_takes_node_fields_from_the_objects():
    state = make_state([node("a", cpu="4")], [pod("p", cpu="1", node_name="a")])
    sent = node("a", cpu="16", labels={"x": "y"}, unschedulable=True)
    view, known, unknown = state.view_of_objects([sent])
    assert known is None and not unknown
    assert view.allocatable("cpu").tolist() == [16000]
    assert view.requested("cpu").tolist() == [1000]
    assert view.unschedulable.tolist() == [True]
    sub = view.subset(np.array([0]))
    assert sub.names == ["a"]


def test_load_file_yaml_and_json(tmp_path):
    import orjson
    import yaml

    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [node("a"), pod("p", cpu="1", node_name="a")],
    }
    j = tmp_path / "s.json"
    j.write_bytes(orjson.dumps(doc))
    y = tmp_path / "s.yaml"
    y.write_text(yaml.safe_dump(doc))
    for path in (j, y):
        state = ClusterState()
        loaded = state.load_file(str(path))
        assert (loaded.nodes, loaded.pods, loaded.counted) == (1, 1, 1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "List", "items": [{"kind": "Secret"}]}')
    with pytest.raises(InvalidInput, match="kind must be Node, Pod, Namespace, Service"):
        ClusterState().load_file(str(bad))
    bad.write_text('{"kind": "List", "items": [{"kind": "Service"}]}')
    with pytest.raises(InvalidInput, match=r"items\[0\] \(Service\): metadata.name: is required"):
        ClusterState().load_file(str(bad))


def test_load_counts_what_the_cache_holds_not_the_pod_items():
    """The startup log said "205 pods" where the cache held 4 assigned pods."""
    items = [node("a"), node("b")]
    items += [pod(f"run-{i}", cpu="100m", node_name="a") for i in range(4)]
    items += [pod(f"pending-{i}", cpu="100m") for i in range(200)]
    done = pod("done", cpu="100m", node_name="b")
    done["status"] = {"phase": "Succeeded"}
    lost = pod("lost", cpu="100m", node_name="gone")
    state = ClusterState()
    loaded = state.load_items([*items, done, lost])
    assert loaded == (2, 206, 4, 1, 200, 1, 0)
    assert len(state.pods) == 5 and state.stats()["pods"] == 5
    text = loaded.describe()
    assert "of 206 pods, 4 assigned and counted on their nodes" in text
    assert "200 pending" in text and "1 terminal (skipped)" in text
    assert "1 assigned to nodes not in the list" in text


def in_namespace(obj: dict, namespace: str) -> dict:
    obj["metadata"]["namespace"] = namespace
    return obj


@pytest.mark.parametrize(
    "bad, named",
    [
        (in_namespace(pod("web-3", cpu="1.2.3", node_name="a"), "shop"), "pod shop/web-3: "),
        (node("n-7", cpu="lots"), "node n-7: "),
        ({"kind": "Pod", "metadata": {}, "spec": {"nodeName": "a"}}, "pod #1 (no metadata.name)"),
    ],
)
def test_load_errors_name_the_object_and_the_field(bad, named):
    items = [node("a"), pod("ok", cpu="1", node_name="a"), bad]
    with pytest.raises(InvalidInput) as err:
        ClusterState().load_items(items)
    message = str(err.value)
    assert message.startswith(named), message
    assert "\n" not in message


def test_image_index_follows_node_changes_and_id_reuse():
    img = [{"names": ["repo/app:1", "repo/app@sha256:aa"], "sizeBytes": 500}]
    other = [{"names": ["repo/db:2"], "sizeBytes": 900}]
    state = make_state([node("a", images=img), node("b", images=img + other)])
    view, _, _ = state.view(["a", "b"])
    assert view.image_sizes("repo/app:1").tolist() == [500, 500]
    assert view.image_spread("repo/app:1") == 2
    assert view.image_sizes("repo/db:2").tolist() == [0, 900]
    state.remove_node("a")
    state.apply_node(node("c", images=other))  # takes a's id
    view, _, _ = state.view(["c", "b"])
    assert view.image_sizes("repo/app:1").tolist() == [0, 500]
    assert view.image_sizes("repo/db:2").tolist() == [900, 900]
    assert view.image_spread("repo/db:2") == 2 and view.image_spread("repo/app:1") == 1
    state.apply_node(node("b", images=[]))
    view, _, _ = state.view(["c", "b"])
    assert view.image_sizes("repo/app:1").tolist() == [0, 0]
    assert view.image_spread("repo/app:1") == 0


def test_a_pending_pod_from_the_watch_or_snapshot_can_be_bound_without_a_filter():
    """CONTRACT §1: any replica binds any pending pod it knows from its watch."""
    state = make_state([node("a", cpu="2")])
    state.apply_pod(pod("web", cpu="500m"))  # no spec.nodeName: pending
    assert set(state.pending) == {"uid-web"} and state.stats()["pending"] == 1
    assert usage(state)["pods"] == {}  # pending takes no room
    assert state.bind("uid-web", "a") is not None
    assert usage(state)["pods"] == {"uid-web": "a"}
    assert state.pending == {}  # committed in memory: no longer pending


def test_the_pending_store_follows_the_pod_through_its_life():
    state = make_state([node("a", cpu="4")])
    state.apply_pod(pod("p", cpu="1"))
    state.assume("uid-p", "a")  # live mode: the pod stays pending until the watch says so
    assert "uid-p" in state.pending
    state.apply_pod(pod("p", cpu="1", node_name="a"))  # the API server confirms the bind
    assert state.pending == {}
    state.apply_pod(pod("q", cpu="1"))
    state.remove_pod("uid-q")  # deleted while pending
    assert state.pending == {}
    done = pod("r", cpu="1")
    state.apply_pod(done)
    done["status"] = {"phase": "Failed"}
    state.apply_pod(done)  # terminal without ever being placed
    assert state.pending == {}
    state.replace_all([node("a", cpu="4")], [pod("s", cpu="1")])  # a relist
    assert set(state.pending) == {"uid-s"}


def test_a_pending_pod_that_does_not_parse_is_not_kept_and_fails_nothing():
    state = make_state([node("a")])
    good = pod("ok", cpu="1")
    state.apply_pod(good)
    broken = pod("ok", cpu="1")
    broken["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1.2.3"
    state.apply_pod(broken)  # the same pod updated into a shape podsift cannot read
    assert state.pending == {}  # the old spec is not kept either
    with pytest.raises(BindError, match="needs its spec"):
        state.bind("uid-ok", "a")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from extender.model.hostports import HostPort  # noqa: E402

_PORT = st.builds(
    HostPort,
    ip=st.sampled_from(["", "0.0.0.0", "10.0.0.1", "10.0.0.2"]),
    protocol=st.sampled_from(["TCP", "UDP"]),
    port=st.sampled_from([0, 80, 8080]),
)


@settings(max_examples=80, deadline=None)
@given(
    used=st.lists(st.tuples(st.integers(0, 4), st.lists(_PORT, max_size=3)), max_size=12),
    removed=st.sets(st.integers(0, 11)),
    wanted=st.lists(_PORT, min_size=1, max_size=4),
)
def test_one_nodes_port_check_is_the_masks_entry(used, removed, wanted):
    """/bind's per-node host-port check answers as the all-nodes mask does at that
    node, over pods added and some removed again."""
    state = make_state([node(f"n{i}") for i in range(5)])
    table = state.table
    nids = [table.id_of[f"n{i}"] for i in range(5)]
    for at, ports in used:
        table.add_usage(nids[at], (), 0, 0, tuple(ports), 1)
    for k in removed:
        if k < len(used):
            at, ports = used[k]
            table.add_usage(nids[at], (), 0, 0, tuple(ports), -1)
    mask = table.port_conflict_mask(tuple(wanted))
    assert set(np.flatnonzero(mask).tolist()) == set(table.port_conflict_keys(tuple(wanted)))
    assert [table.port_conflict_at(nid, tuple(wanted)) for nid in nids] == [
        bool(mask[nid]) for nid in nids
    ]
