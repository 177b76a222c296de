"""Helpers for podsift's own tests; plugin tests need only `extender.testing`."""

from __future__ import annotations

from collections.abc import Iterable

from extender.cache.state import ClusterState
from extender.testing import _state, make_pod, make_view, node, pod

__all__ = ["make_pod", "make_state", "make_view", "node", "pod"]


def make_state(nodes: Iterable[dict], pods: Iterable[dict] = ()) -> ClusterState:
    """The ClusterState behind `extender.testing.make_view`: `nodes`, and the pods
    with a spec.nodeName counted on their node (a missing metadata.uid is made up
    from the name). podsift's own tests reach into the state; plugin tests do not."""
    return _state(list(nodes), pods)
