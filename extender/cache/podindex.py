"""Pods by UID and by node: which node each counts on and what it uses, nothing more.

A cluster holds a record per placed pod (150,000 at 5,000 nodes), so a record is
kept to what differs between pods: its identity, its node and two flags. What the
pods of one spec and label set have in common (the request vector, the scoring
requests, host ports, labels, affinity terms) is one `PodParts` they all point
to, built once by `ClusterState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from extender.model.hostports import HostPort

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class PodParts:
    """What a record counts, shared by the records of one spec and label set.

    Never mutated once built: records and the counting indexes (bulkattach
    groups by these objects' identity) share it freely."""

    __slots__ = (
        "vector",
        "nonzero_cpu",
        "nonzero_mem",
        "ports",
        "requests",
        "labels",
        "label_key",
        "spreads",
        "affinity",
    )

    def __init__(
        self,
        vector: tuple[tuple[int, int], ...],  # (resource column, amount)
        nonzero_cpu: int,
        nonzero_mem: int,
        ports: tuple[HostPort, ...],
        requests: tuple[tuple[str, int], ...],  # the signature a watch event is compared against
        labels: Mapping[str, str] = _NO_LABELS,
        label_key: tuple = (),
        spreads: bool = True,
        affinity: Any = None,
    ) -> None:
        self.vector = vector
        self.nonzero_cpu = nonzero_cpu
        self.nonzero_mem = nonzero_mem
        self.ports = ports
        self.requests = requests
        # PodTopologySpread (issue 12): the pod's labels, their key (tuple of items) and
        # whether it counts for spreading (not terminating); see cache/podcounts.py
        self.labels = labels
        self.label_key = label_key
        self.spreads = spreads
        # InterPodAffinity (issue 12): the pod's resolved PodAffinity (or None)
        self.affinity = affinity

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in PodParts.__slots__)

    def __eq__(self, other: object) -> bool:  # by value, as the dataclass record compared
        if other.__class__ is not PodParts:
            return NotImplemented
        return self is other or self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class PodRecord:
    """One placed (or assumed) pod: 7 slots, 88 bytes, the rest in its `parts`.

    Its strings are shared where they can be: the namespace is interned (model/pod.py)
    and `node_name` is the node table's own string when the node is known."""

    __slots__ = ("uid", "namespace", "name", "node_name", "parts", "attached", "assumed")

    def __init__(
        self,
        uid: str,
        namespace: str,
        name: str,
        node_name: str,
        parts: PodParts,
        attached: bool = False,  # counted on its node (False while the node is unknown)
        assumed: bool = False,  # placed by /bind, not yet confirmed by the API server
    ) -> None:
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.node_name = node_name
        self.parts = parts
        self.attached = attached
        self.assumed = assumed

    def __eq__(self, other: object) -> bool:  # by value, as the dataclass it was compared
        if other.__class__ is not PodRecord:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in PodRecord.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"PodRecord({self.namespace}/{self.name} uid={self.uid!r} on {self.node_name!r}, "
            f"attached={self.attached}, assumed={self.assumed})"
        )

    # the shared parts, read as the record's own (readers outside the hot paths)
    @property
    def vector(self) -> tuple[tuple[int, int], ...]:
        return self.parts.vector

    @property
    def nonzero_cpu(self) -> int:
        return self.parts.nonzero_cpu

    @property
    def nonzero_mem(self) -> int:
        return self.parts.nonzero_mem

    @property
    def ports(self) -> tuple[HostPort, ...]:
        return self.parts.ports

    @property
    def requests(self) -> tuple[tuple[str, int], ...]:
        return self.parts.requests

    @property
    def labels(self) -> Mapping[str, str]:
        return self.parts.labels

    @property
    def label_key(self) -> tuple:
        return self.parts.label_key

    @property
    def spreads(self) -> bool:
        return self.parts.spreads

    @property
    def affinity(self) -> Any:
        return self.parts.affinity

    def same_usage(self, node_name: str, requests, nonzero_cpu, nonzero_mem, ports) -> bool:
        parts = self.parts
        return (
            self.node_name == node_name
            and parts.requests == requests
            and parts.nonzero_cpu == nonzero_cpu
            and parts.nonzero_mem == nonzero_mem
            and parts.ports == ports
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
