"""Candidate nodes as they would be after evicting some of their pods: what /preempt
evaluates, all candidates of a request in one view so the engine runs once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from extender.cache.nodetable import NONZERO_CPU, NONZERO_MEM, PODS, NodeTable
from extender.cache.podindex import PodRecord
from extender.cache.view import NodeView, StateView, read_only
from extender.model.hostports import HostPort, ip_conflicts, sanitize
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
        # plain Python ints while walking the victims: numpy scalar updates cost more,
        # and a sum of victims' amounts may pass int64 (they are each bounded, not
        # their sum); only what is bounded becomes an int64 array
        count = [0] * n
        nz_cpu = [0] * n
        nz_mem = [0] * n
        freed: dict[int, dict[int, int]] = {}  # column -> row -> amount freed
        self._port_rows: dict[int, list[tuple[str, str, int]]] = {}
        for row, recs in enumerate(victims):
            if not recs:
                continue
            count[row] = len(recs)
            cpu = mem = 0
            for r in recs:
                cpu += r.nonzero_cpu
                mem += r.nonzero_mem
                for col, amount in r.vector:
                    by_row = freed.setdefault(col, {})
                    by_row[row] = by_row.get(row, 0) + amount
                if r.ports:
                    self._port_rows.setdefault(row, []).extend(sanitize(p) for p in r.ports)
            nz_cpu[row] = cpu
            nz_mem[row] = mem
        # per column key (a resource column, NONZERO_CPU, NONZERO_MEM): row -> freed
        self._freed: dict[int, dict[int, int]] = {PODS: dict(enumerate(count)), **freed}
        self._freed[NONZERO_CPU] = {row: v for row, v in enumerate(nz_cpu) if v}
        self._freed[NONZERO_MEM] = {row: v for row, v in enumerate(nz_mem) if v}

    def _without_victims(self, key: int, base: np.ndarray) -> np.ndarray:
        """`base` (the table's column `key` for the candidates) less what the victims
        free. A cell the table holds saturated (its exact sum beyond OVER_MAX_AMOUNT)
        is recomputed from the exact sum; every other freed amount is at most the
        cell's own value, so the subtraction is exact and never negative."""
        by_row = self._freed.get(key)
        if not by_row:
            return base
        freed = np.zeros(self.n, np.int64)
        over = self._t.over
        if not over:  # the usual case: every freed amount is at most its cell's value
            rows = np.fromiter(by_row.keys(), np.intp, len(by_row))
            freed[rows] = np.fromiter(by_row.values(), np.int64, len(by_row))
            return read_only(base - freed)
        patched = []
        for row, amount in by_row.items():
            if over and (key, int(self.ids[row])) in over:
                patched.append(row)
            else:
                freed[row] = amount
        out = base - freed
        for row in patched:
            exact = self._t.exact_usage(key, int(self.ids[row])) - by_row[row]
            out[row] = min(exact, OVER_MAX_AMOUNT)
        return read_only(out)

    def requested(self, resource: str) -> np.ndarray:
        key = ("req", resource)
        arr = self._cache.get(key)
        if arr is None:
            arr = super().requested(resource)
            col = self._t.resource_col.get(resource)
            if col is not None:
                arr = self._without_victims(col, arr)
            self._cache[key] = arr
        return arr

    def nonzero_requested(self, resource: str) -> np.ndarray:
        if resource == "cpu":
            column = NONZERO_CPU
        elif resource == "memory":
            column = NONZERO_MEM
        else:
            return self.requested(resource)
        key = ("nz", resource)
        arr = self._cache.get(key)
        if arr is None:
            arr = super().nonzero_requested(resource)
            arr = self._cache[key] = self._without_victims(column, arr)
        return arr

    def port_conflicts(self, host_ports: tuple[HostPort, ...]) -> np.ndarray:
        conflicts = super().port_conflicts(host_ports)
        if not self._port_rows or not conflicts.any():
            return conflicts
        # Evicting pods only frees ports: re-judge the rows that conflict now and
        # lose some host port with their victims, against what the rest still use.
        wanted = [sanitize(p) for p in host_ports]
        table_ports = self._t.ports
        out = conflicts.copy()
        for row, freed in self._port_rows.items():
            if not out[row]:
                continue
            nid = int(self.ids[row])
            conflict = False
            for ip, proto, port in wanted:
                in_use = table_ports.get((proto, port), {}).get(nid)
                if not in_use:
                    continue
                left = Counter(in_use)
                left.subtract(
                    v_ip for v_ip, v_proto, v_port in freed if (v_proto, v_port) == (proto, port)
                )
                if ip_conflicts(ip, +left):
                    conflict = True
                    break
            out[row] = conflict
        return read_only(out)

    def subset(self, positions: np.ndarray) -> NodeView:
        if len(positions) == self.n:
            return self
        return WhatIfView(self._t, self.ids[positions], [self._victims[p] for p in positions])
