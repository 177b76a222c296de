"""A node as it would be after evicting some of its pods: what /preempt evaluates."""

from __future__ import annotations

import numpy as np

from extender.cache.nodetable import PODS
from extender.cache.state import ClusterState
from extender.cache.view import NodeView, StateView, read_only
from extender.model.hostports import HostPort, ports_conflict


class WhatIfView(StateView):
    """One node as it would be after evicting some of its pods (for /preempt)."""

    def __init__(self, state: ClusterState, nid: int, victims: set[str]) -> None:
        super().__init__(state.table, np.array([nid], np.int64))
        node = state.table.names_arr[nid]
        on_node = [r for r in state.pods.values() if r.node_name == node and r.attached]
        self._victims = [r for r in on_node if r.uid in victims]
        self._remaining_ports = [p for r in on_node if r.uid not in victims for p in r.ports]

    def requested(self, resource: str) -> np.ndarray:
        arr = super().requested(resource).copy()
        col = self._t.resource_col.get(resource)
        for r in self._victims:
            if col == PODS:
                arr[0] -= 1
            else:
                arr[0] -= sum(a for c, a in r.vector if c == col)
        return read_only(arr)

    def nonzero_requested(self, resource: str) -> np.ndarray:
        if resource not in ("cpu", "memory"):
            return self.requested(resource)
        arr = super().nonzero_requested(resource).copy()
        for r in self._victims:
            arr[0] -= r.nonzero_cpu if resource == "cpu" else r.nonzero_mem
        return read_only(arr)

    def port_conflicts(self, host_ports: tuple[HostPort, ...]) -> np.ndarray:
        return read_only(np.array([ports_conflict(host_ports, self._remaining_ports)]))

    def subset(self, positions: np.ndarray) -> NodeView:
        return self
