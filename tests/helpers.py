"""Helpers for podsift's own tests; plugin tests need only `extender.testing`."""

from __future__ import annotations

from collections.abc import Iterable

from extender.cache.state import ClusterState
from extender.testing import make_pod, make_view, node, pod

__all__ = ["make_pod", "make_state", "make_view", "node", "pod"]


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
