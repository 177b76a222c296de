"""A node as it would be after evicting some of its pods: what /preempt evaluates."""

from __future__ import annotations

from collections import Counter

import numpy as np

from extender.nodetable import PODS, port_key
from extender.state import ClusterState
from extender.view import NodeView, StateView


class WhatIfView(StateView):
    """One node as it would be after evicting some of its pods (for /preempt)."""

    def __init__(self, state: ClusterState, nid: int, victims: set[str]) -> None:
        super().__init__(state.table, np.array([nid], np.int64))
        node = state.table.names_arr[nid]
        self._victims = [
            r for u, r in state.pods.items() if u in victims and r.node_name == node and r.attached
        ]
        self._remaining_ports = Counter()
        for r in state.pods.values():
            if r.node_name == node and r.attached and r.uid not in victims:
                for p in r.ports:
                    self._remaining_ports[port_key(p)] += 1

    def requested(self, resource: str) -> np.ndarray:
        arr = super().requested(resource).copy()
        col = self._t.resource_col.get(resource)
        for r in self._victims:
            if col == PODS:
                arr[0] -= 1
            else:
                arr[0] -= sum(a for c, a in r.vector if c == col)
        return arr

    def nonzero_requested(self, resource: str) -> np.ndarray:
        if resource not in ("cpu", "memory"):
            return self.requested(resource)
        arr = super().nonzero_requested(resource).copy()
        for r in self._victims:
            arr[0] -= r.nonzero_cpu if resource == "cpu" else r.nonzero_mem
        return arr

    def port_conflicts(self, host_ports) -> np.ndarray:
        used = self._remaining_ports
        for p in host_ports:
            ip, proto, port = port_key(p)
            for uip, uproto, uport in used:
                if (uproto, uport) == (proto, port) and (
                    ip == "0.0.0.0" or uip == "0.0.0.0" or uip == ip
                ):
                    return np.ones(1, bool)
        return np.zeros(1, bool)

    def subset(self, positions: np.ndarray) -> NodeView:
        return self
