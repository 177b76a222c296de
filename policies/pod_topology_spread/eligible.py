"""Which cluster nodes a spread constraint counts over, kept per node-table version.

A constraint counts matching pods over the cluster's eligible nodes: those with
its topology key (and, for the filter, every hard constraint's key; for the
score, every soft one's when upstream requires them all), that match the pod's
node selector and required node affinity when `nodeAffinityPolicy` is Honor,
and whose taints it tolerates when `nodeTaintsPolicy` is Honor. None of that
depends on placed pods, only on the nodes and the pod's spec: it is worked out
once per (topology key, required keys, selector, tolerations) and kept until a
node changes (`NodeView.cluster_version`), so a pod of a known spec pays for
the counts alone, and for no mask over the cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.api import NodeView

KEPT = 4096  # eligibility entries per node-table version, before starting afresh
BIG = np.iinfo(np.int64).max


class Eligible:
    """The eligible nodes of one constraint's kind, and what follows from them alone.

    `slots` is the key's domain count: per-domain arrays are read over `[:slots]`.
    `verdicts` is scratch space, `slots + 1` booleans whose last stays False: the
    filter writes a per-domain verdict into its head and gathers it per candidate,
    a candidate without the label (domain -1) reading that last False."""

    __slots__ = (
        "mask",
        "slots",
        "present",
        "seen",
        "all_present",
        "excluded",
        "excluded_domains",
        "verdicts",
    )

    def __init__(self, cluster: NodeView, key: str, mask: np.ndarray) -> None:
        domains = cluster.domain_ids(key)
        slots = cluster.domain_slots(key) - 1
        mask = mask & (domains >= 0)
        self.mask = mask  # over the cluster view's nodes
        self.slots = slots
        present = np.zeros(slots, dtype=bool)
        present[domains[mask]] = True
        self.present = present
        self.seen = int(np.count_nonzero(present))
        self.all_present = self.seen == slots
        # nodes with the key that are not eligible: the kept counts (over every node
        # with the key) lose their pods; None when there are none (the common case)
        excluded = np.flatnonzero((domains >= 0) & ~mask)
        self.excluded = excluded if len(excluded) else None
        self.excluded_domains = domains[excluded] if len(excluded) else None
        self.verdicts = np.zeros(slots + 1, dtype=bool)

    def counts(self, cluster: NodeView, namespace: str, selector: Any, key: str) -> np.ndarray:
        """Matching pods per domain over the eligible nodes, `[:slots]` (read only)."""
        kept = cluster.domain_counts(namespace, selector, key)[: self.slots]
        if self.excluded is None:
            return kept
        per_node = cluster.matching_pods(namespace, selector)
        counts = kept.copy()
        np.subtract.at(counts, self.excluded_domains, per_node[self.excluded])
        return counts

    def minimum(self, counts: np.ndarray, min_domains: int) -> int:
        """The fewest matching pods in a domain with an eligible node; 0 when fewer
        domains than `min_domains` (or none) have one, as upstream's global minimum."""
        if not self.seen or self.seen < min_domains:
            return 0
        if self.all_present:
            return int(counts.min())
        return int(counts.min(where=self.present, initial=BIG))


class EligibleCache:
    """`Eligible` entries by what decides them, for one node-table version at a time."""

    def __init__(self) -> None:
        self._version: Any = None
        self._entries: dict[tuple, Eligible] = {}

    def get(self, cluster: NodeView, key: str, signature: tuple, build_mask: Any) -> Eligible:
        """The entry of (key, signature), built from `build_mask()` (bool over the
        cluster view's nodes, before the key itself is required) on a miss."""
        version = cluster.cluster_version()
        if version != self._version or len(self._entries) >= KEPT:
            self._entries.clear()
            self._version = version
        found = self._entries.get((key, signature))
        if found is None:
            found = self._entries[(key, signature)] = Eligible(cluster, key, build_mask())
        return found
