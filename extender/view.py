"""NodeView: what a policy sees of the candidate nodes of one request.

A view is columnar: every accessor returns a numpy array aligned with
`view.names` (the candidates, in request order). Columns are gathered from
the node table lazily and cached for the life of the view, so a policy pays
only for what it reads. Views are read-only and live for one request, under
the state lock.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.nodeinfo import NodeInfo, Taint
from extender.nodetable import PODS, NodeTable
from extender.podinfo import HostPort
from extender.selectors import LabelIndex


class NodeView:
    """Base of the two views; subclasses supply where each field comes from."""

    def __init__(self, table: NodeTable, ids: np.ndarray, contiguous: bool = False) -> None:
        self._t = table
        self.ids = ids
        self.n = len(ids)
        self._cache: dict[Any, np.ndarray] = {}
        # When the candidates are table rows 0..n-1 in order (a full NodeNames list in
        # the table's order), columns are read-only slices instead of gathered copies.
        self._sel: Any = slice(0, self.n) if contiguous else ids

    def _gather(self, column: np.ndarray) -> np.ndarray:
        arr = column[self._sel]
        if arr.base is column:
            arr.flags.writeable = False
        return arr

    # ---- identity --------------------------------------------------------
    @property
    def names_array(self) -> np.ndarray:
        arr = self._cache.get("names")
        if arr is None:
            arr = self._cache["names"] = self._gather(self._t.names_arr)
        return arr

    @property
    def names(self) -> list[str]:
        return self.names_array.tolist()

    @property
    def total_nodes(self) -> int:
        return len(self._t)

    def resource_names(self) -> list[str]:
        return list(self._t.resources)

    # ---- resources -------------------------------------------------------
    def allocatable(self, resource: str) -> np.ndarray:
        key = ("alloc", resource)
        arr = self._cache.get(key)
        if arr is None:
            col = self._t.resource_col.get(resource)
            arr = np.zeros(self.n, np.int64) if col is None else self._gather(self._t.alloc[col])
            self._cache[key] = arr
        return arr

    def requested(self, resource: str) -> np.ndarray:
        key = ("req", resource)
        arr = self._cache.get(key)
        if arr is None:
            col = self._t.resource_col.get(resource)
            arr = np.zeros(self.n, np.int64) if col is None else self._gather(self._t.req[col])
            self._cache[key] = arr
        return arr

    def nonzero_requested(self, resource: str) -> np.ndarray:
        if resource == "cpu":
            key, src = ("nz", "cpu"), self._t.nonzero_cpu
        elif resource == "memory":
            key, src = ("nz", "memory"), self._t.nonzero_mem
        else:
            return self.requested(resource)
        arr = self._cache.get(key)
        if arr is None:
            arr = self._cache[key] = self._gather(src)
        return arr

    @property
    def pod_count(self) -> np.ndarray:
        return self.requested(self._t.resources[PODS])

    # ---- node properties -------------------------------------------------
    @property
    def unschedulable(self) -> np.ndarray:
        arr = self._cache.get("unsched")
        if arr is None:
            arr = self._cache["unsched"] = self._gather(self._t.unschedulable)
        return arr

    def taint_sets(self) -> tuple[np.ndarray, list[tuple[Taint, ...]]]:
        arr = self._cache.get("taints")
        if arr is None:
            arr = self._cache["taints"] = self._gather(self._t.taint_set)
        return arr, self._t.taint_sets

    def label_mask(self, selector: Any) -> np.ndarray:
        return self._gather(self._t.labels.mask(selector))

    def preferred_weights(self, preferred: Any) -> np.ndarray:
        return self._gather(self._t.labels.weights(preferred))

    def port_conflicts(self, host_ports: tuple[HostPort, ...]) -> np.ndarray:
        if not host_ports:
            return np.zeros(self.n, bool)
        return self._gather(self._t.port_conflict_mask(host_ports))

    def image_sizes(self, image: str) -> np.ndarray:
        arr = self._t.image_column(image)
        return np.zeros(self.n, np.int64) if arr is None else self._gather(arr)

    def image_spread(self, image: str) -> int:
        return self._t.image_spread(image)

    # ---- narrowing -------------------------------------------------------
    def subset(self, positions: np.ndarray) -> NodeView:
        """The view of the nodes at `positions` (sorted, unique indices into this view).

        Every position kept is this view itself, with the columns it already read."""
        if len(positions) == self.n:
            return self
        return StateView(self._t, self.ids[positions])


class StateView(NodeView):
    """Candidates named by NodeNames: everything comes from the cache."""


class ObjectsView(NodeView):
    """Candidates sent as full Node objects: the objects are authoritative for
    labels, taints, allocatable and the unschedulable flag; the pods on each
    node (requested, ports) still come from the cache."""

    def __init__(self, table: NodeTable, ids: np.ndarray, infos: list[NodeInfo]) -> None:
        super().__init__(table, ids)
        self._infos = infos
        self._labels: LabelIndex | None = None
        self._taint_sets: list[tuple[Taint, ...]] | None = None

    @property
    def names_array(self) -> np.ndarray:
        arr = self._cache.get("names")
        if arr is None:
            arr = np.empty(self.n, object)
            arr[:] = [i.name for i in self._infos]
            self._cache["names"] = arr
        return arr

    def resource_names(self) -> list[str]:
        names = list(self._t.resources)
        seen = set(names)
        for info in self._infos:
            for res, _ in info.allocatable:
                if res not in seen:
                    seen.add(res)
                    names.append(res)
        return names

    def allocatable(self, resource: str) -> np.ndarray:
        key = ("alloc", resource)
        arr = self._cache.get(key)
        if arr is None:
            arr = np.fromiter(
                (dict(i.allocatable).get(resource, 0) for i in self._infos), np.int64, self.n
            )
            self._cache[key] = arr
        return arr

    @property
    def unschedulable(self) -> np.ndarray:
        arr = self._cache.get("unsched")
        if arr is None:
            arr = np.fromiter((i.unschedulable for i in self._infos), bool, self.n)
            self._cache["unsched"] = arr
        return arr

    def taint_sets(self) -> tuple[np.ndarray, list[tuple[Taint, ...]]]:
        arr = self._cache.get("taints")
        if arr is None:
            index: dict[tuple[Taint, ...], int] = {}
            arr = np.fromiter(
                (index.setdefault(i.taints, len(index)) for i in self._infos), np.int32, self.n
            )
            self._cache["taints"] = arr
            self._taint_sets = list(index)
        return arr, self._taint_sets  # type: ignore[return-value]

    def _label_index(self) -> LabelIndex:
        if self._labels is None:
            self._labels = LabelIndex.from_nodes(
                [i.name for i in self._infos], [dict(i.labels) for i in self._infos]
            )
        return self._labels

    def label_mask(self, selector: Any) -> np.ndarray:
        return self._label_index().mask(selector)[: self.n]

    def preferred_weights(self, preferred: Any) -> np.ndarray:
        return self._label_index().weights(preferred)[: self.n]

    def subset(self, positions: np.ndarray) -> NodeView:
        if len(positions) == self.n:
            return self
        view = ObjectsView(self._t, self.ids[positions], [self._infos[p] for p in positions])
        return view
