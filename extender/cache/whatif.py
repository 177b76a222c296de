"""Candidate nodes as they would be after evicting some of their pods: what /preempt
evaluates, all candidates of a request in one view so the engine runs once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from extender.cache.affinitycounts import carried
from extender.cache.nodetable import NONZERO_CPU, NONZERO_MEM, PODS, NodeTable
from extender.cache.podindex import PodRecord
from extender.cache.view import NodeView, StateView, read_only
from extender.model.hostports import HostPort, group_conflicts, sanitize, wanted_by_key
from extender.model.podselector import PodSelector
from extender.model.quantity import OVER_MAX_AMOUNT


class WhatIfView(StateView):
    """The candidate nodes `ids`, each without its victims (`victims[i]` for row i).

    Columns come from the node table as for any view; the ones a pod's
    eviction changes are corrected by the victims' own amounts: requested
    resources and the pod count, the scoring (non-zero) cpu and memory, and
    host ports. Every victim must be a distinct pod counted on its row's node
    (the caller looks them up in the state's by-node index). The work is
    proportional to the victims, not to the pods on the nodes.
    """

    def __init__(
        self, table: NodeTable, ids: np.ndarray, victims: Sequence[Sequence[PodRecord]]
    ) -> None:
        super().__init__(table, ids)
        self._victims = victims
        n = self.n
        # plain Python ints while walking the victims: numpy scalar updates cost more
        count = [0] * n
        nz_cpu = [0] * n
        nz_mem = [0] * n
        rows: list[int] = []
        cols: list[int] = []
        amounts: list[int] = []
        # row -> (protocol, port) -> the victims' sanitized IPs on it, with multiplicity
        self._port_rows: dict[int, dict[tuple[str, int], Counter]] = {}
        for row, recs in enumerate(victims):
            if not recs:
                continue
            count[row] = len(recs)
            cpu = mem = 0
            for r in recs:
                cpu += r.nonzero_cpu
                mem += r.nonzero_mem
                for col, amount in r.vector:
                    rows.append(row)
                    cols.append(col)
                    amounts.append(amount)
                if r.ports:
                    freed = self._port_rows.setdefault(row, {})
                    for p in r.ports:
                        ip, proto, port = sanitize(p)
                        freed.setdefault((proto, port), Counter())[ip] += 1
            nz_cpu[row] = cpu
            nz_mem[row] = mem
        # key (a resource column, NONZERO_CPU, NONZERO_MEM) -> row -> value after the
        # evictions, for the cells the table holds saturated (see _exact_cells)
        self._patch: dict[int, dict[int, int]] = {}
        if table.over:
            self._exact_cells(table, rows, cols, amounts, nz_cpu, nz_mem)
        # freed[c] is what the victims give back of resource column c, per row
        self._freed: dict[int, np.ndarray] = {PODS: np.array(count, np.int64)}
        if rows:
            # one row per resource the victims hold, not per column the table has
            used = {col: i for i, col in enumerate(dict.fromkeys(cols))}
            by_col = np.zeros((len(used), n), np.int64)
            at = np.fromiter(map(used.__getitem__, cols), np.intp, len(cols))
            np.add.at(by_col, (at, np.array(rows)), np.array(amounts, np.int64))
            for col, i in used.items():
                self._freed[col] = by_col[i]
        self._freed_nonzero = {
            "cpu": np.array(nz_cpu, np.int64),
            "memory": np.array(nz_mem, np.int64),
        }

    def _exact_cells(
        self,
        table: NodeTable,
        rows: list[int],
        cols: list[int],
        amounts: list[int],
        nz_cpu: list[int],
        nz_mem: list[int],
    ) -> None:
        """The cells whose exact usage sum the table keeps beyond OVER_MAX_AMOUNT:
        what is left after the evictions, from the exact sum, into `_patch`; their
        victims' amounts are taken out of the lists, whose sums (at most their
        cell's value everywhere else) then stay inside int64."""
        over = table.over
        ids = self.ids
        freed: dict[tuple[int, int], int] = {}
        for i, (row, col) in enumerate(zip(rows, cols)):
            if (col, int(ids[row])) in over:
                freed[(col, row)] = freed.get((col, row), 0) + amounts[i]
                amounts[i] = 0
        for key, sums in ((NONZERO_CPU, nz_cpu), (NONZERO_MEM, nz_mem)):
            for row, amount in enumerate(sums):
                if amount and (key, int(ids[row])) in over:
                    freed[(key, row)] = amount
                    sums[row] = 0
        for (key, row), amount in freed.items():
            left = table.exact_usage(key, int(ids[row])) - amount
            self._patch.setdefault(key, {})[row] = min(left, OVER_MAX_AMOUNT)

    def _patched(self, key: int, arr: np.ndarray) -> np.ndarray:
        patch = self._patch.get(key)
        if patch:
            arr = arr.copy()
            for row, value in patch.items():
                arr[row] = value
        return read_only(arr)

    def requested(self, resource: str) -> np.ndarray:
        key = ("req", resource)
        arr = self._cache.get(key)
        if arr is None:
            arr = super().requested(resource)
            col = self._t.resource_col.get(resource, -1)
            freed = self._freed.get(col)
            if freed is not None:
                arr = self._patched(col, arr - freed)
            self._cache[key] = arr
        return arr

    def nonzero_requested(self, resource: str) -> np.ndarray:
        freed = self._freed_nonzero.get(resource)
        if freed is None:
            return self.requested(resource)
        key = ("nz", resource)
        arr = self._cache.get(key)
        if arr is None:
            column = NONZERO_CPU if resource == "cpu" else NONZERO_MEM
            arr = super().nonzero_requested(resource) - freed
            arr = self._cache[key] = self._patched(column, arr)
        return arr

    def port_conflicts(self, host_ports: tuple[HostPort, ...]) -> np.ndarray:
        conflicts = super().port_conflicts(host_ports)
        if not self._port_rows or not conflicts.any():
            return conflicts
        # Evicting pods only frees ports: re-judge the rows that conflict now and
        # lose some host port with their victims. Only the (protocol, port) keys
        # that conflict there can change, each judged once against what the rest
        # still use: the work follows the conflicts and the victims, not the
        # pod's ports times the rows.
        wanted = wanted_by_key(host_ports)
        at = self._t.ports
        keys_by_nid = self._t.port_conflict_keys(host_ports)
        out = conflicts.copy()
        for row, freed in self._port_rows.items():
            if not out[row]:
                continue
            nid = int(self.ids[row])
            conflict = False
            for key in keys_by_nid.get(nid, ()):
                gone = freed.get(key)
                if gone is None:
                    conflict = True
                    break
                left = Counter(at[key][nid])
                left.subtract(gone)
                if group_conflicts(wanted[key], +left):
                    conflict = True
                    break
            out[row] = conflict
        return read_only(out)

    # --- PodTopologySpread (issue 12) ---
    def evicted_matching(self, namespace: str, selector: PodSelector) -> np.ndarray | None:
        """int64[n]: per candidate, its victims that `matching_pods` counts."""
        out = np.zeros(self.n, dtype=np.int64)
        counts = self._t.pod_counts
        for row, recs in enumerate(self._victims):
            for r in recs:
                if (
                    r.spreads
                    and r.namespace == namespace
                    and counts.matches(selector, r.label_key, r.labels)
                ):
                    out[row] += 1
        return read_only(out)

    # --- end PodTopologySpread ---
    # ---- inter-pod affinity (issue 12): the victims leave the counts ----------
    # Each row is judged as if only its own victims were gone, and they sit on
    # the row's node, so they come out of that row's count only (when the node
    # has the topology key). The cluster-wide total stays: it only decides
    # required affinity, which preemption cannot help.

    def _victims_where(self, counts: np.ndarray, key: str, match: Any) -> np.ndarray:
        gone = np.zeros(self.n, np.int64)
        for row, recs in enumerate(self._victims):
            for rec in recs:
                gone[row] += match(rec)
        if not gone.any():
            return counts
        return read_only(counts - gone * (self.domain_ids(key) >= 0))

    counts_by_domain = False  # each row loses its own victims: read per candidate

    def pods_matching(self, terms: tuple, topology_key: str) -> tuple[np.ndarray, int]:
        counts, total = super().pods_matching(terms, topology_key)
        index = self._t.affinity
        return self._victims_where(
            counts, topology_key, lambda r: index.pod_matches(terms, r.namespace, r.labels)
        ), total

    def pods_carrying(self, kind: str, pod: Any) -> list:
        out = []
        for weight, term, counts in super().pods_carrying(kind, pod):
            wanted = (kind, weight, term)

            def match(rec: PodRecord, wanted: tuple = wanted) -> int:
                if rec.affinity is None:
                    return 0
                return sum(1 for c in carried(rec.affinity) if c == wanted)

            out.append((weight, term, self._victims_where(counts, term.topology_key, match)))
        return out

    def subset(self, positions: np.ndarray) -> NodeView:
        if len(positions) == self.n:
            return self
        return WhatIfView(self._t, self.ids[positions], [self._victims[p] for p in positions])
