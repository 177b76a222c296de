"""Pods by UID and by node: which node each counts on and what it uses, nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from extender.model.hostports import HostPort

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class PodRecord:
    uid: str
    namespace: str
    name: str
    node_name: str
    vector: tuple[tuple[int, int], ...]  # (resource column, amount)
    nonzero_cpu: int
    nonzero_mem: int
    ports: tuple[HostPort, ...]
    requests: tuple[tuple[str, int], ...]  # the signature a watch event is compared against
    attached: bool = False  # counted on its node (False while the node is unknown)
    assumed: bool = False  # placed by /bind, not yet confirmed by the API server
    # PodTopologySpread (issue 12): the pod's labels, their key (tuple of items) and
    # whether it counts for spreading (not terminating); see cache/podcounts.py
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    label_key: tuple = ()
    spreads: bool = True

    def same_usage(self, node_name: str, requests, nonzero_cpu, nonzero_mem, ports) -> bool:
        return (
            self.node_name == node_name
            and self.requests == requests
            and self.nonzero_cpu == nonzero_cpu
            and self.nonzero_mem == nonzero_mem
            and self.ports == ports
        )


_NO_PODS: Mapping[str, PodRecord] = MappingProxyType({})


class PodsByNode:
    """Every pod record grouped by the node it names, by UID.

    A record is here from the moment it enters the state until it leaves,
    whether or not its node is known yet (`PodRecord.attached` tells which), so
    a node's arrival or removal and a /preempt's victims touch only that node's
    pods instead of scanning the whole cluster. ClusterState keeps it in step
    with its `pods` dict on every mutation.
    """

    __slots__ = ("_by_node",)

    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, PodRecord]] = {}

    def add(self, rec: PodRecord) -> None:
        pods = self._by_node.get(rec.node_name)
        if pods is None:
            pods = self._by_node[rec.node_name] = {}
        pods[rec.uid] = rec

    def discard(self, rec: PodRecord) -> None:
        pods = self._by_node.get(rec.node_name)
        if pods is not None and pods.get(rec.uid) is rec:
            del pods[rec.uid]
            if not pods:
                del self._by_node[rec.node_name]

    def on(self, node_name: str) -> Mapping[str, PodRecord]:
        """The records naming `node_name`, by UID (read-only; empty if none)."""
        pods = self._by_node.get(node_name)
        return _NO_PODS if pods is None else pods

    def node_names(self) -> list[str]:
        """Every node name some record names (known to the table or not)."""
        return list(self._by_node)
