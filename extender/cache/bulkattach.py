"""Counting many pod records on their nodes at once (a snapshot load, a relist).

Attaching a record one by one (`ClusterState._attach`) writes each of its
resource cells, its PodTopologySpread group and its InterPodAffinity group:
30,000 pods make 30,000 rounds of numpy scalar writes and dict updates. The
pods of one Deployment on one node share all of it, so here the records are
grouped first (usage summed per node; label groups counted per node) and each
group is added once, with its count as the delta. Every count is a sum, so the
result is the state the one-by-one attach gives (tests/cache/test_bulkload.py
compares them).
"""

from __future__ import annotations

from collections.abc import Iterable

from extender.cache.nodetable import NodeTable
from extender.cache.podindex import PodRecord


def attach_all(table: NodeTable, records: Iterable[PodRecord]) -> int:
    """Attach every record not attached yet whose node `table` knows; returns how many.

    Records sharing their objects (vector, label key, affinity: the bulk load
    shares them per spec and label set) fall into one group; others are
    simply groups of one."""
    id_of = table.id_of
    # node id -> [resource column -> amount, non-zero cpu, non-zero memory, pods]
    usage: dict[int, list] = {}
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
            sums = usage.get(nid)
            if sums is None:
                sums = usage[nid] = [{}, 0, 0, 0]
            cells = sums[0]
            for col, amount in rec.vector:
                cells[col] = cells.get(col, 0) + amount
            sums[1] += rec.nonzero_cpu
            sums[2] += rec.nonzero_mem
            sums[3] += 1
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
    for nid, (cells, nonzero_cpu, nonzero_mem, pods) in usage.items():
        table.add_summed_usage(nid, cells, nonzero_cpu, nonzero_mem, pods)
    for (_, _, nid), (rec, pods) in spread.items():
        table.pod_counts.add(rec.namespace, rec.label_key, rec.labels, nid, pods)
    for (_, _, _, nid), (rec, pods) in affinity.items():
        table.affinity.add(rec.namespace, rec.labels, rec.affinity, nid, pods, rec.label_key)
    return attached
