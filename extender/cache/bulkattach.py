"""Counting many pod records on their nodes at once (a snapshot load, a relist).

Attaching a record one by one (`ClusterState._attach`) writes each of its
resource cells, its PodTopologySpread group and its InterPodAffinity group:
30,000 pods make 30,000 rounds of numpy scalar writes and dict updates. The
pods of one Deployment on one node share all of it, so here the records are
grouped first (usage summed per node; label groups counted per node) and each
group is added once, with its count as the delta. Every count is a sum, so the
result is the state the one-by-one attach gives (tests/cache/test_bulkload.py
compares them).

Before that, a snapshot's placed pods are grouped as they are read
(`group_key`, `PlacedGroups`): the pods of one Deployment share all of their
record but uid, name and node, so only a group's first pod is parsed
(model/pod.py's parse_pod: its spec key, identity and label interning cost
about 10 us a pod) and the others copy its record (1 us), each group counted on
each node at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from extender.cache.nodetable import NodeTable
from extender.cache.podindex import PodParts, PodRecord


class _NodeUsage:
    """Usage summed per node before it is written: one `NodeTable.add_summed_usage`
    (a numpy read and write per cell) per node, however many groups it holds."""

    __slots__ = ("sums",)

    def __init__(self) -> None:
        # node id -> [resource column -> amount, non-zero cpu, non-zero memory, pods]
        self.sums: dict[int, list] = {}

    def add(self, nid: int, parts: PodParts, count: int) -> None:
        """Count `count` pods of `parts` (no host ports) on node `nid`."""
        sums = self.sums.get(nid)
        if sums is None:
            sums = self.sums[nid] = [{}, 0, 0, 0]
        cells = sums[0]
        for col, amount in parts.vector:
            cells[col] = cells.get(col, 0) + amount * count
        sums[1] += parts.nonzero_cpu * count
        sums[2] += parts.nonzero_mem * count
        sums[3] += count

    def write(self, table: NodeTable) -> None:
        for nid, (cells, nonzero_cpu, nonzero_mem, pods) in self.sums.items():
            table.add_summed_usage(nid, cells, nonzero_cpu, nonzero_mem, pods)
        self.sums.clear()


def attach_all(table: NodeTable, records: Iterable[PodRecord]) -> int:
    """Attach every record not attached yet whose node `table` knows; returns how many.

    Records sharing their objects (vector, label key, affinity: the bulk load
    shares them per spec and label set) fall into one group; others are
    simply groups of one."""
    id_of = table.id_of
    usage = _NodeUsage()
    # (namespace, id(label key), node id) -> [a record, pods]
    spread: dict[tuple, list] = {}
    # (namespace, id(label key), id(affinity), node id) -> [a record, pods]
    affinity: dict[tuple, list] = {}
    attached = 0
    for rec in records:
        if rec.attached:
            continue
        nid = id_of.get(rec.node_name)
        if nid is None:
            continue  # waits in by_node until its node arrives
        if rec.ports:  # host ports are counted per pod: the one-by-one path
            table.add_usage(nid, rec.vector, rec.nonzero_cpu, rec.nonzero_mem, rec.ports, 1)
        else:
            usage.add(nid, rec.parts, 1)
        label_id = id(rec.label_key)
        if rec.spreads:
            key = (rec.namespace, label_id, nid)
            group = spread.get(key)
            if group is None:
                spread[key] = [rec, 1]
            else:
                group[1] += 1
        key = (rec.namespace, label_id, id(rec.affinity), nid)
        group = affinity.get(key)
        if group is None:
            affinity[key] = [rec, 1]
        else:
            group[1] += 1
        rec.attached = True
        attached += 1
    usage.write(table)
    for (_, _, nid), (rec, pods) in spread.items():
        table.pod_counts.add(rec.namespace, rec.label_key, rec.labels, nid, pods)
    for (_, _, _, nid), (rec, pods) in affinity.items():
        table.affinity.add(rec.namespace, rec.labels, rec.affinity, nid, pods, rec.label_key)
    return attached


# A pending pod's status: nothing about resources yet (model/pod.py's parse_pod reads a
# status only for the container resources a resize reports).
_NO_STATUSES = (None, [])


def _plain_strings(value: Any) -> bool:
    """Whether metadata.annotations passes parse_pod as it is: absent, or a map of strings."""
    if value is None:
        return True
    if value.__class__ is not dict:
        return False
    for item in value.values():
        if item.__class__ is not str:
            return False
    return True


def group_key(obj: dict, spec: dict) -> bytes | None:
    """The key under which a placed pod (`spec` its spec, holding its nodeName) shares
    its record with the listing's other pods but for uid, name and node; None for a
    pod the caller must parse on its own.

    parse_pod reads of a pod: its spec (nodeName aside, which only `node_name` takes),
    the status's container resources, and of the metadata uid, name, namespace,
    labels, annotations, ownerReferences and deletionTimestamp. A record keeps of
    those, besides uid, name and node, what the spec gives, the namespace, the labels
    and whether the pod is terminating, so the key is those, exactly (as JSON text:
    true, 1 and 1.0 are told apart, and a dict's order only splits a group; marshal
    is as exact but a third slower here, its table of shared objects filled anew
    for every pod). The rest is checked here instead, as parse_pod would pass it: a
    status without container statuses, annotations a map of strings (they vary per
    pod in a live cluster, and a record does not keep them); ownerReferences only
    name the controller, never refused and not kept."""
    meta = obj.get("metadata")
    if meta.__class__ is not dict:
        return None
    status = obj.get("status")
    if status is not None and (
        status.__class__ is not dict
        or status.get("containerStatuses") not in _NO_STATUSES
        or status.get("initContainerStatuses") not in _NO_STATUSES
    ):
        return None
    if not _plain_strings(meta.get("annotations")):
        return None
    unbound = dict(spec)
    del unbound["nodeName"]
    try:
        return orjson.dumps(
            (
                unbound,
                meta.get("namespace"),
                meta.get("labels"),
                meta.get("deletionTimestamp") is not None,
            )
        )
    except (TypeError, orjson.JSONEncodeError):  # nested too deep: parsed on its own
        return None


def record_copy(proto: PodRecord, uid: str, name: str, node_name: str) -> PodRecord:
    """`proto` as another pod's record: its uid, name and node, its shared `parts` the
    same object (every slot of PodRecord, in its order; tests/cache/test_bulkload.py
    checks each). A quarter of building the record afresh, on every pod of a snapshot."""
    return PodRecord(uid, proto.namespace, name, node_name, proto.parts)


# the bytes of a group key (cache/bulkattach.py group_key) its groups are found by
TAIL = 64


class PlacedGroups:
    """A listing's placed pods by `group_key`, and the records of each group per node,
    counted on their nodes at the end (`attach`) with one write per group and node.

    The records are not counted while the listing is read: a pod listed twice or
    ending terminal can drop or replace a record on the way, so `attach` counts
    only those still held."""

    def __init__(self) -> None:
        # key's tail -> [(key, the record of its first pod)]: a key is the JSON text of a
        # spec (~1 KB), and hashing it whole was 7 % of a snapshot's load; its tail
        # (namespace, labels) tells the groups apart, the whole key is compared on a hit
        self.protos: dict[bytes, list[tuple[bytes, PodRecord]]] = {}
        # (id of the group's first record, node id) -> it and the group's records there
        self.members: dict[tuple[int, int], tuple[PodRecord, list[PodRecord]]] = {}

    def proto(self, key: bytes) -> PodRecord | None:
        """The record of the group's first pod, None before it."""
        for known, rec in self.protos.get(key[-TAIL:], ()):
            if known == key:
                return rec
        return None

    def first(self, key: bytes, rec: PodRecord) -> PodRecord:
        """The group's first record, `rec` if it is the first (dict.setdefault's rule)."""
        found = self.proto(key)
        if found is not None:
            return found
        self.protos.setdefault(key[-TAIL:], []).append((key, rec))
        return rec

    def add(self, proto: PodRecord, nid: int, rec: PodRecord) -> None:
        entry = self.members.get((id(proto), nid))
        if entry is None:
            self.members[(id(proto), nid)] = (proto, [rec])
        else:
            entry[1].append(rec)

    def attach(self, table: NodeTable, held: dict[str, PodRecord]) -> int:
        """Count on its node every member `held` still holds (by UID); returns how many."""
        attached = 0
        usage = _NodeUsage()
        pod_counts, affinity = table.pod_counts, table.affinity
        for (_, nid), (proto, members) in self.members.items():
            live = [rec for rec in members if held.get(rec.uid) is rec]
            if not live:
                continue
            count = len(live)
            # what attach_alike counts, the usage summed per node first
            usage.add(nid, proto.parts, count)
            if proto.spreads:
                pod_counts.add(proto.namespace, proto.label_key, proto.labels, nid, count)
            affinity.add(proto.namespace, proto.labels, proto.affinity, nid, count, proto.label_key)
            for rec in live:
                rec.attached = True
            attached += count
        usage.write(table)
        self.members.clear()
        return attached


def attach_alike(table: NodeTable, rec: PodRecord, nid: int, count: int) -> None:
    """Count `count` records alike to `rec` (its vector, labels, namespace, affinity;
    no host ports) on node `nid`: what `count` one-by-one attaches add, at once."""
    cells: dict[int, int] = {}
    for col, amount in rec.vector:
        cells[col] = cells.get(col, 0) + amount * count
    table.add_summed_usage(nid, cells, rec.nonzero_cpu * count, rec.nonzero_mem * count, count)
    if rec.spreads:
        table.pod_counts.add(rec.namespace, rec.label_key, rec.labels, nid, count)
    table.affinity.add(rec.namespace, rec.labels, rec.affinity, nid, count, rec.label_key)
