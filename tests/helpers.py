"""Test helpers: build real NodeViews from plain Node/Pod dicts."""

from __future__ import annotations

from collections.abc import Iterable

from extender.podinfo import PodInfo, parse_pod
from extender.state import ClusterState
from extender.view import NodeView


def make_state(nodes: Iterable[dict], pods: Iterable[dict] = ()) -> ClusterState:
    """A ClusterState holding `nodes`; pods with spec.nodeName count on their node.

    Pods without metadata.uid get one made up from their name.
    """
    fixed = []
    for i, p in enumerate(pods):
        p = dict(p)
        meta = dict(p.get("metadata") or {})
        meta.setdefault("uid", f"uid-{meta.get('name', 'pod')}-{i}")
        p["metadata"] = meta
        fixed.append(p)
    state = ClusterState()
    state.replace_all(list(nodes), fixed)
    return state


def make_view(
    nodes: Iterable[dict], pods: Iterable[dict] = (), names: list[str] | None = None
) -> NodeView:
    """A view over `names` (default: every node, in the order given)."""
    nodes = list(nodes)
    state = make_state(nodes, pods)
    if names is None:
        names = [n["metadata"]["name"] for n in nodes]
    view, known, unknown = state.view(names)
    assert not unknown, f"unknown nodes {unknown}"
    return view


def make_pod(obj: dict) -> PodInfo:
    return parse_pod(obj)


def node(
    name: str,
    cpu="4",
    memory="8Gi",
    pods="110",
    labels=None,
    taints=None,
    unschedulable=False,
    images=None,
    extra=None,
) -> dict:
    """A v1.Node dict with the usual fields."""
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    obj = {
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"allocatable": alloc, "capacity": alloc, "images": images or []},
    }
    return obj


def pod(name: str, cpu=None, memory=None, node_name=None, uid=None, **spec_extra) -> dict:
    """A v1.Pod dict with one container requesting cpu/memory."""
    requests = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    spec = {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": requests}}]}
    if node_name:
        spec["nodeName"] = node_name
    spec.update(spec_extra)
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"},
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending"},
    }
