"""Placed pods matching a label selector, counted per node and per topology domain.

PodTopologySpread asks, for a pod's namespace and a constraint's selector, how
many placed pods match on every node and in every domain of a topology key.
kube-scheduler's PreFilter answers by walking every pod of every node; here the
answer is kept as state instead:

- placed pods are grouped by namespace and label set (`add`, called by
  ClusterState whenever it counts a pod on a node or stops counting it), so
  the pods of one Deployment form one group whatever their number;
- the first time a (namespace, selector) is asked about, each label set of the
  namespace is matched once (verdicts cached per (selector, label set)) and the
  matching groups fill an int64 column over node ids; from then on every `add`
  updates the tracked columns it matches, one integer each (a group keeps the
  list of those columns, so a bind matches no selector);
- per topology key asked about, the column's sums per domain (the label
  index's value ids of that key) are kept too, updated by the same `add`, and
  rebuilt from the node column only when node labels changed.

Tracked selectors are bounded (least recently asked dropped first); a dropped
one is rebuilt from the groups on its next use. Terminating pods are never
added (upstream skips pods with a deletionTimestamp). Callers hold the state
lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from extender.cache.labelindex import LabelIndex
from extender.model.memo import Memo

TRACKED_SELECTORS = 1024  # (namespace, selector) columns kept up to date
MATCH_VERDICTS = 65536  # (selector, label set) -> bool


class _Tracked:
    __slots__ = ("nodes", "domains")

    def __init__(self, nodes: np.ndarray) -> None:
        self.nodes = nodes  # int64 per node id
        # topology key -> [label index version it was built at, int64 per value id]
        self.domains: dict[str, list[Any]] = {}


class _Group:
    """Placed pods of one namespace with one label set, and the tracked columns they
    count in (valid while the set of tracked selectors stays the same: `epoch`)."""

    __slots__ = ("labels", "per_node", "epoch", "tracked")

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels
        self.per_node: dict[int, int] = {}
        self.epoch = -1
        self.tracked: list[_Tracked] = []


class PodCounts:
    def __init__(self, labels: LabelIndex) -> None:
        self._labels = labels
        # namespace -> label set key -> the group
        self._groups: dict[str, dict[Hashable, _Group]] = {}
        # bumped whenever a (namespace, selector) column starts or stops being tracked:
        # each group's list of the columns it matches is then recomputed on its next add
        self._epoch = 0
        self._tracked: OrderedDict[tuple[str, Hashable], _Tracked] = OrderedDict()
        self._by_namespace: dict[str, dict[Hashable, _Tracked]] = {}
        self._verdicts = Memo("spread_selector_verdicts", MATCH_VERDICTS, 16 * 1024 * 1024)
        self._all_ids: tuple[int, np.ndarray, bool] | None = None

    def matches(self, selector: Any, label_key: Hashable, labels: Mapping[str, str]) -> bool:
        """`selector.matches(labels)`, computed once per (selector, label set)."""
        key = (selector, label_key)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = selector.matches(labels)
            self._verdicts.put(key, verdict, 64)
        return verdict

    # ---- mutation (ClusterState) ----------------------------------------
    def add(
        self,
        namespace: str,
        label_key: Hashable,
        labels: Mapping[str, str],
        node_id: int,
        delta: int,
        where: dict[str, int] | None = None,
    ) -> None:
        """Count (`delta` 1) or uncount (-1) one placed pod on a node. `where` caches
        the node's domain id per label key for the caller (ClusterState shares one
        between this and the affinity index for one pod)."""
        groups = self._groups.get(namespace)
        if groups is None:
            groups = self._groups[namespace] = {}
        group = groups.get(label_key)
        if group is None:
            group = groups[label_key] = _Group(labels)
        per_node = group.per_node
        count = per_node.get(node_id, 0) + delta
        if count:
            per_node[node_id] = count
        else:
            per_node.pop(node_id, None)
            if not per_node:
                del groups[label_key]
                if not groups:
                    del self._groups[namespace]
        if group.epoch != self._epoch:  # one selector match per (column, group), not per bind
            tracked = self._by_namespace.get(namespace)
            group.tracked = (
                [e for sel, e in tracked.items() if self.matches(sel, label_key, labels)]
                if tracked
                else []
            )
            group.epoch = self._epoch
        if not group.tracked:
            return
        labels = self._labels
        version = labels.version
        if where is None:
            where = {}
        # one-cell updates through Python ints (`item`): a numpy scalar's `+=` costs more
        for entry in group.tracked:
            nodes = entry.nodes
            if node_id >= len(nodes):
                nodes = entry.nodes = _grown(nodes, node_id + 1)
            nodes[node_id] = nodes.item(node_id) + delta
            for key, built in entry.domains.items():
                if built[0] != version:
                    continue  # stale: rebuilt on its next read
                domain = where.get(key)
                if domain is None:
                    domain = where[key] = labels.value_id_of(key, node_id)
                if domain < 0:
                    continue
                sums = built[1]
                if domain >= len(sums):
                    sums = built[1] = _grown(sums, domain + 1)
                sums[domain] = sums.item(domain) + delta

    # ---- reading ----------------------------------------------------------
    def _entry(self, namespace: str, selector: Hashable, capacity: int) -> _Tracked:
        key = (namespace, selector)
        entry = self._tracked.get(key)
        if entry is not None:
            self._tracked.move_to_end(key)
            if len(entry.nodes) < capacity:
                entry.nodes = _grown(entry.nodes, capacity)
            return entry
        nodes = np.zeros(capacity, np.int64)
        for label_key, group in self._groups.get(namespace, {}).items():
            if self.matches(selector, label_key, group.labels):
                for node_id, count in group.per_node.items():
                    if node_id >= len(nodes):
                        nodes = _grown(nodes, node_id + 1)
                    nodes[node_id] += count
        entry = self._tracked[key] = _Tracked(nodes)
        self._by_namespace.setdefault(namespace, {})[selector] = entry
        self._epoch += 1
        while len(self._tracked) > TRACKED_SELECTORS:
            (old_namespace, old_selector), _ = self._tracked.popitem(last=False)
            by_selector = self._by_namespace[old_namespace]
            del by_selector[old_selector]
            if not by_selector:
                del self._by_namespace[old_namespace]
        return entry

    def node_counts(self, namespace: str, selector: Hashable, capacity: int) -> np.ndarray:
        """int64[>= capacity]: matching pods per node id (the live column: read only)."""
        return self._entry(namespace, selector, capacity).nodes

    def domain_counts(
        self, namespace: str, selector: Hashable, key: str, capacity: int
    ) -> np.ndarray:
        """int64[number of value ids of `key`]: matching pods per topology domain, over
        every node with the label (the live array: read only)."""
        entry = self._entry(namespace, selector, capacity)
        ids, domains = self._labels.value_ids(key)
        built = entry.domains.get(key)
        version = self._labels.version
        if built is None or built[0] != version:
            sums = np.zeros(domains, np.int64)
            n = min(len(ids), len(entry.nodes))
            ids, counts = ids[:n], entry.nodes[:n]
            present = (ids >= 0) & (counts != 0)
            np.add.at(sums, ids[present], counts[present])
            built = entry.domains[key] = [version, sums]
        elif len(built[1]) < domains:
            built[1] = _grown(built[1], domains)
        return built[1]

    def all_node_ids(self, version: int, id_of: Mapping[str, int]) -> tuple[np.ndarray, bool]:
        """(every node id in order, whether they are 0..n-1), cached per node-set version
        of the table (`NodeTable.version`), so `NodeView.all_nodes` costs a lookup."""
        cached = self._all_ids
        if cached is None or cached[0] != version:
            ids = np.fromiter(sorted(id_of.values()), np.int64, len(id_of))
            ids.setflags(write=False)
            contiguous = bool(len(ids)) and int(ids[-1]) == len(ids) - 1
            cached = self._all_ids = (version, ids, contiguous)
        return cached[1], cached[2]

    def tracked(self) -> int:
        """How many (namespace, selector) columns are kept up to date."""
        return len(self._tracked)


def _grown(column: np.ndarray, needed: int) -> np.ndarray:
    size = max(needed, 2 * len(column), 16)
    out = np.zeros(size, column.dtype)
    out[: len(column)] = column
    return out
