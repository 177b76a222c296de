"""Test helpers for policy plugins: real NodeViews from plain Node and Pod dicts.

    from extender.testing import make_pod, make_view, node, pod, run_filter

    view = make_view([node("a", labels={"disk": "ssd"}), node("b")])
    assert run_filter(RequireLabel({"key": "disk"}), make_pod(pod("p")), view) == {
        "a": "",
        "b": "node(s) didn't have label disk",
    }

The views are the ones podsift builds for a request (the same cache, the same
columns), not imitations, and `run_filter` / `run_score` check a plugin's
answers exactly as the engine does, so a test passes here only if the plugin
would work inside `podsift serve`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from extender.cache.state import ClusterState
from extender.cache.view import NodeView
from extender.framework import registry
from extender.framework.checks import (
    checked_filter,
    checked_raw,
    checked_reasons,
    checked_scores,
    checked_unresolvable,
)
from extender.framework.policy import FilterPolicy, ScorePolicy
from extender.model.errors import PolicyError
from extender.model.pod import PodInfo, parse_pod

__all__ = [
    "node",
    "pod",
    "make_pod",
    "make_view",
    "make_objects_view",
    "load_policy",
    "run_filter",
    "run_unresolvable",
    "run_score",
]


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    taints: list[dict] | None = None,
    unschedulable: bool = False,
    images: list[dict] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict:
    """A v1.Node dict: allocatable cpu/memory/pods (plus `extra` resources), the
    `kubernetes.io/hostname` label plus `labels`, and the other fields as given."""
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/hostname": name, **(labels or {})},
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "kind": "Node",
        "metadata": metadata,
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"allocatable": alloc, "capacity": alloc, "images": images or []},
    }


def pod(
    name: str,
    cpu: str | None = None,
    memory: str | None = None,
    node_name: str | None = None,
    uid: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    **spec_extra: Any,
) -> dict:
    """A v1.Pod dict with one container requesting `cpu`/`memory` (if given).

    `node_name` places it (it then counts on that node in `make_view`); any
    other keyword goes into the spec as is (`tolerations=[...]`, `affinity={...}`)."""
    requests = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    spec = {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": requests}}]}
    if node_name:
        spec["nodeName"] = node_name
    spec.update(spec_extra)
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending"},
    }


def make_pod(obj: dict) -> PodInfo:
    """The PodInfo podsift parses from a v1.Pod dict (InvalidInput if it is malformed)."""
    return parse_pod(obj)


def _state(nodes: list[dict], pods: Iterable[dict]) -> ClusterState:
    placed = []
    for i, p in enumerate(pods):
        p = dict(p)
        meta = dict(p.get("metadata") or {})
        meta.setdefault("uid", f"uid-{meta.get('name', 'pod')}-{i}")
        p["metadata"] = meta
        placed.append(p)
    state = ClusterState()
    state.replace_all(nodes, placed)
    return state


def make_view(
    nodes: Iterable[dict], pods: Iterable[dict] = (), names: list[str] | None = None
) -> NodeView:
    """The view of a NodeNames request (nodeCacheCapable) over `names` (default: every
    node, in the order given); pods with `spec.nodeName` count on their node."""
    nodes = list(nodes)
    state = _state(nodes, pods)
    if names is None:
        names = [n["metadata"]["name"] for n in nodes]
    view, _, unknown = state.view(names)
    if unknown:
        raise ValueError(f"names not among the nodes: {unknown}")
    return view


def make_objects_view(nodes: Iterable[dict], pods: Iterable[dict] = ()) -> NodeView:
    """The view of a request carrying full Node objects (nodeCacheCapable false): the
    objects are authoritative for their labels, annotations, taints and allocatable."""
    nodes = list(nodes)
    state = _state(nodes, pods)
    view, _, _ = state.view_of_objects(nodes)  # every node was just loaded: all known
    return view


def load_policy(name: str, args: dict | None = None, kind: str = "filter") -> Any:
    """Build a policy by its registered name, through the `podsift.policies` entry
    points, as a policy configuration naming it would (ConfigError on bad args)."""
    return registry.create(name, args, kind)


def run_filter(policy: FilterPolicy, pod: PodInfo, nodes: NodeView) -> dict[str, str]:
    """{node name: "" if it passes, else its reason}, with the engine's checks of
    the filter's verdict and reasons (PolicyError if the plugin breaks them)."""
    name = policy.name or type(policy).__name__
    ok = checked_filter(name, policy.filter(pod, nodes), nodes.n)
    failed = np.flatnonzero(~ok)
    reasons = checked_reasons(name, policy.reasons(pod, nodes, failed), len(failed))
    result = dict.fromkeys(nodes.names, "")
    result.update(zip(nodes.names_array[failed].tolist(), reasons))
    return result


def run_unresolvable(policy: FilterPolicy, pod: PodInfo, nodes: NodeView) -> dict[str, bool]:
    """{failed node name: whether it goes to FailedAndUnresolvableNodes}, decided as the
    engine does: by `unresolvable_mask` when the policy has one (checked), else by its
    `unresolvable` flag. Passing nodes are not in the answer."""
    name = policy.name or type(policy).__name__
    ok = checked_filter(name, policy.filter(pod, nodes), nodes.n)
    failed = np.flatnonzero(~ok)
    names = nodes.names_array[failed].tolist()
    mask = getattr(policy, "unresolvable_mask", None)
    if callable(mask):
        verdicts = checked_unresolvable(name, mask(pod, nodes, failed), len(failed)).tolist()
    else:
        verdicts = [bool(getattr(policy, "unresolvable", False))] * len(failed)
    return dict(zip(names, verdicts))


def run_score(policy: ScorePolicy, pod: PodInfo, nodes: NodeView) -> dict[str, int]:
    """{node name: score}, with the engine's checks of the answer, and stricter: a
    value outside 0..100, which the engine would clamp, is a PolicyError here."""
    name = policy.name or type(policy).__name__
    scores = checked_scores(name, policy.score(pod, nodes), nodes.n, strict=True)
    if callable(getattr(policy, "raw_score", None)):
        _check_split(name, policy, pod, nodes, scores)
    return dict(zip(nodes.names, scores.tolist()))


def _check_split(name: str, policy: Any, pod: PodInfo, nodes: NodeView, scores: np.ndarray) -> None:
    """A policy splitting Score from NormalizeScore keeps the split's two promises
    (docs/PLUGINS.md): `score` is `normalize_score` of `raw_score` (or `raw_score`
    itself without one), and a node's raw value is the same whichever other nodes
    are asked with it (the engine keeps it by node)."""
    raw = checked_raw(name, policy.raw_score(pod, nodes), nodes.n)
    normalize = getattr(policy, "normalize_score", None)
    composed = raw if normalize is None else normalize(pod, nodes, raw)
    if np.asarray(composed).tolist() != scores.tolist():
        raise PolicyError(
            f"policy {name}: score() differs from normalize_score(raw_score()): "
            f"{scores.tolist()} != {np.asarray(composed).tolist()}"
        )
    for position, node_name in enumerate(nodes.names):
        alone = checked_raw(name, policy.raw_score(pod, nodes.subset(np.array([position]))), 1)
        if int(alone[0]) != int(raw[position]):
            raise PolicyError(
                f"policy {name}: raw_score() of node {node_name!r} is {int(alone[0])} alone "
                f"but {int(raw[position])} with the others: a raw score must depend on "
                "its node only"
            )
