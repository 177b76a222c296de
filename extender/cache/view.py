"""NodeView: what a policy sees of the candidate nodes of one request.

A view is columnar: every accessor returns a numpy array aligned with
`view.names` (the candidates, in request order). Columns are gathered from
the node table lazily and cached for the life of the view, so a policy pays
only for what it reads. Views live for one request, under the state lock.

Every array a view hands out is read-only. Some are slices of the node table
itself and the rest are shared by every policy of the request, so an in-place
edit by one plugin would corrupt the cache or the next plugin's input; numpy
refuses such an edit instead. Compute into new arrays (`a & b`, `a - b`).

The public part of this class is documented in docs/PLUGINS.md; plugin
authors import it from `extender.api`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from extender.cache.nodeobjects import NodeObjects
from extender.cache.nodetable import NodeTable
from extender.model.hostports import HostPort
from extender.model.pod import PodInfo
from extender.model.podaffinity import AffinityTerm
from extender.model.selectors import CompiledNodeSelector, CompiledPreferredTerms
from extender.model.taints import Taint


def read_only(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _zeros(n: int, dtype: Any = np.int64) -> np.ndarray:
    return read_only(np.zeros(n, dtype))


class TaintSets(NamedTuple):
    """The candidates' taints, grouped: nodes share few distinct taint sets.

    Node `i` has the taints `sets[ids[i]]`. `epoch` is a hashable token: while
    it stays the same, a set id keeps its meaning and `sets` only grows at the
    end, so a policy may judge each set once and cache the verdicts by
    `(epoch, set id)` across requests (TaintToleration does).
    """

    ids: np.ndarray  # int32[n], read-only
    sets: Sequence[tuple[Taint, ...]]
    epoch: Any


class NodeView:
    """The candidates of one request; subclasses say where each column comes from."""

    def __init__(self, table: NodeTable, ids: np.ndarray, contiguous: bool = False) -> None:
        self._t = table
        self._cols = table.read  # the table's columns, read-only
        self.ids = ids  # node table ids (internal: the engine's memo keys on them)
        self.n = len(ids)
        self._cache: dict[Any, Any] = {}  # columns and the TaintSets, per request
        # When the candidates are table rows 0..n-1 in order (a full NodeNames list in
        # the table's order), columns are slices instead of gathered copies.
        self._contiguous = contiguous

    def _gather(self, column: np.ndarray) -> np.ndarray:
        """The candidates' rows of a read-only per-node-id column, read-only."""
        if self._contiguous:
            return column[: self.n]  # a slice of a read-only array is read-only
        arr = column[self.ids]
        arr.setflags(write=False)
        return arr

    def _column(self, key: Any, build: Any) -> np.ndarray:
        arr = self._cache.get(key)
        if arr is None:
            arr = self._cache[key] = build()
        return arr

    # ---- identity --------------------------------------------------------
    @property
    def names_array(self) -> np.ndarray:
        """object[n]: the node names, read-only (compare it with `==` for a mask)."""
        arr = self._cache.get("names")
        if arr is None:
            arr = self._cache["names"] = self._gather(self._cols.names)
        return arr

    @property
    def names(self) -> list[str]:
        """The node names as a list, in request order."""
        return self.names_array.tolist()

    @property
    def total_nodes(self) -> int:
        """How many nodes the cluster has (not only the candidates)."""
        return len(self._t)

    def resource_names(self) -> list[str]:
        """Every resource some node has or some pod requested."""
        return list(self._t.resources)

    # ---- resources -------------------------------------------------------
    # The hot accessors spell the cache lookup out: no closure per call.
    def allocatable(self, resource: str) -> np.ndarray:
        """int64[n]: allocatable amount (cpu in millicores, else whole units); 0 if none."""
        key = ("alloc", resource)
        arr = self._cache.get(key)
        if arr is None:
            col = self._t.resource_col.get(resource)
            arr = _zeros(self.n) if col is None else self._gather(self._cols.alloc[col])
            self._cache[key] = arr
        return arr

    def requested(self, resource: str) -> np.ndarray:
        """int64[n]: sum of the requests of the pods on the node; "pods" is the pod count."""
        key = ("req", resource)
        arr = self._cache.get(key)
        if arr is None:
            col = self._t.resource_col.get(resource)
            arr = _zeros(self.n) if col is None else self._gather(self._cols.req[col])
            self._cache[key] = arr
        return arr

    def nonzero_requested(self, resource: str) -> np.ndarray:
        """int64[n]: as `requested`, with the scoring defaults for cpu and memory
        (100m and 200Mi for a container that requests none), as kube-scheduler scores."""
        if resource == "cpu":
            key, source = "nz_cpu", self._cols.nonzero_cpu
        elif resource == "memory":
            key, source = "nz_memory", self._cols.nonzero_mem
        else:
            return self.requested(resource)
        arr = self._cache.get(key)
        if arr is None:
            arr = self._cache[key] = self._gather(source)
        return arr

    # ---- node properties -------------------------------------------------
    @property
    def unschedulable(self) -> np.ndarray:
        """bool[n]: the node is cordoned (`spec.unschedulable`)."""
        arr = self._cache.get("unsched")
        if arr is None:
            arr = self._cache["unsched"] = self._gather(self._cols.unschedulable)
        return arr

    def taint_sets(self) -> TaintSets:
        """The candidates' taints as distinct sets (see TaintSets)."""
        found = self._cache.get("taint_sets")
        if found is None:  # one per view: the policies of a request share it
            ids = self._gather(self._cols.taint_set)
            found = TaintSets(ids, self._t.taint_sets, self._t.taint_epoch)
            self._cache["taint_sets"] = found
        return found

    def label_mask(self, selector: CompiledNodeSelector) -> np.ndarray:
        """bool[n]: the nodes a compiled selector matches (masks are cached per selector)."""
        return self._gather(self._t.labels.mask(selector))

    def preferred_weights(self, preferred: CompiledPreferredTerms) -> np.ndarray:
        """int64[n]: per node, the sum of the weights of the preferred terms it matches."""
        return self._gather(self._t.labels.weights(preferred))

    def label_values(self, key: str) -> np.ndarray:
        """object[n]: each node's value of label `key`, None where the node lacks it.

        For labels no selector can express (a numeric comparison a plugin does
        itself, say); a selector through `label_mask` is cheaper when one fits."""
        return self._column(("label", key), lambda: self._gather(self._t.labels.values(key)))

    def annotation_values(self, key: str) -> np.ndarray:
        """object[n]: each node's value of annotation `key`, None where absent.

        Annotations are not indexed: the first request for a key after a change
        walks the nodes once (about 0.2 ms at 1,000 nodes); later requests reuse it."""
        return self._column(
            ("annotation", key), lambda: self._gather(self._t.annotation_column(key))
        )

    def port_conflicts(self, host_ports: tuple[HostPort, ...]) -> np.ndarray:
        """bool[n]: one of `host_ports` is already in use on the node."""
        if not host_ports:
            return _zeros(self.n, bool)
        return self._gather(self._t.port_conflict_mask(host_ports))

    def image_sizes(self, image: str) -> np.ndarray:
        """int64[n]: size in bytes of the (normalized) image on the node, 0 if absent."""
        arr = self._t.image_column(image)
        return _zeros(self.n) if arr is None else self._gather(arr)

    def image_spread(self, image: str) -> int:
        """How many nodes of the whole cluster have the image."""
        return self._t.image_spread(image)

    # ---- inter-pod affinity (issue 12) -----------------------------------
    def domain_ids(self, topology_key: str) -> np.ndarray:
        """int32[n]: each candidate's topology domain for `topology_key` (an id of
        the node label's value), -1 where the node lacks the label."""
        return self._column(("domain", topology_key), lambda: self._domains_of(topology_key))

    def _domains_of(self, topology_key: str) -> np.ndarray:
        return self._gather(self._t.labels.domain_column(topology_key))

    def pods_matching(
        self, terms: tuple[AffinityTerm, ...], topology_key: str
    ) -> tuple[np.ndarray, int]:
        """(int64[n], total): per candidate, the placed pods that match every one of
        `terms` (namespaces and label selector; their topology keys aside) in the
        candidate's domain of `topology_key` (0 where it lacks the label); and how
        many such pods the cluster's nodes with that label hold in all.

        Kept per domain as pods come and go (cache/affinitycounts.py): no pod is
        scanned here."""
        by_domain = self._t.affinity.matching_by_domain(terms, topology_key)
        return by_domain[self.domain_ids(topology_key)], int(by_domain.sum())

    def namespace_labels(self, namespace: str) -> Any:
        """The labels of a namespace (a read-only mapping); None if podsift does not know it."""
        return self._t.affinity.namespaces.get(namespace)

    def pods_carrying(self, kind: str, pod: PodInfo) -> list[tuple[int, AffinityTerm, np.ndarray]]:
        """The symmetric rules: for every distinct term of `kind` (`POD_ANTI_AFFINITY_REQUIRED`,
        `POD_AFFINITY_REQUIRED`, `POD_AFFINITY_PREFERRED`, `POD_ANTI_AFFINITY_PREFERRED`
        of extender.api) that placed pods carry and
        that matches `pod`, (weight, term, int64[n]: the pods carrying it in each
        candidate's domain of the term's topology key)."""
        found = self._t.affinity.carried_matching(kind, pod.namespace, pod.labels)
        return [(w, t, counts[self.domain_ids(t.topology_key)]) for w, t, counts in found]

    # ---- narrowing -------------------------------------------------------
    def subset(self, positions: np.ndarray) -> NodeView:
        """The view of the nodes at `positions` (sorted, unique indices into this view).

        Every position kept is this view itself, with the columns it already read."""
        if len(positions) == self.n:
            return self
        return StateView(self._t, self.ids[positions])

    # ---- for the engine's spec cache (internal) ----------------------------
    # (underscored: not part of the plugin API, docs/PLUGINS.md)
    def _table_capacity(self) -> int:
        """How many node ids the table has room for (ids are below it)."""
        return self._t.capacity

    def _static_version(self) -> int | None:
        """The node table's static version when this view's node objects are the
        table's own (so answers of STATIC policies for a node id stay valid until
        it changes); None when the view brings its own node objects."""
        return self._t.static_version

    def _state_view(self, ids: np.ndarray) -> NodeView:
        """A view of the table's nodes `ids`, as a NodeNames request of them sees them."""
        return StateView(self._t, ids)


class StateView(NodeView):
    """Candidates named by NodeNames: everything comes from the cache."""


class ObjectsView(NodeView):
    """Candidates sent as full Node objects: the objects are authoritative for
    labels, annotations, taints, allocatable and the unschedulable flag, which come
    from their rows in a `NodeObjects` store (parsed once per object identity); the
    pods on each node (requested, ports) and its images still come from the cache."""

    def __init__(
        self, table: NodeTable, ids: np.ndarray, objects: NodeObjects, rows: np.ndarray
    ) -> None:
        super().__init__(table, ids)
        self._o = objects
        self._rows = rows  # the candidates' rows in `objects`, in request order

    def _own(self, column: np.ndarray) -> np.ndarray:
        """The candidates' entries of a per-row column of the store, read-only."""
        arr = column[self._rows]
        arr.setflags(write=False)
        return arr

    @property
    def names_array(self) -> np.ndarray:
        arr = self._cache.get("names")
        if arr is None:
            arr = self._cache["names"] = self._own(self._o.names)
        return arr

    def resource_names(self) -> list[str]:
        names = list(self._t.resources)
        seen = set(names)
        infos = self._o.infos
        for row in self._rows.tolist():
            for res, _ in infos[row].allocatable:
                if res not in seen:
                    seen.add(res)
                    names.append(res)
        return names

    def allocatable(self, resource: str) -> np.ndarray:
        key = ("alloc", resource)
        arr = self._cache.get(key)
        if arr is None:
            column = self._o.alloc_column(resource)
            arr = _zeros(self.n) if column is None else self._own(column)
            self._cache[key] = arr
        return arr

    @property
    def unschedulable(self) -> np.ndarray:
        arr = self._cache.get("unsched")
        if arr is None:
            arr = self._cache["unsched"] = self._own(self._o.unschedulable)
        return arr

    def taint_sets(self) -> TaintSets:
        found = self._cache.get("taint_sets")
        if found is None:
            o = self._o
            found = self._cache["taint_sets"] = TaintSets(
                self._own(o.taint_set), o.taint_sets, o.taint_epoch
            )
        return found

    def label_mask(self, selector: CompiledNodeSelector) -> np.ndarray:
        return self._own(self._o.labels.mask(selector))

    def preferred_weights(self, preferred: CompiledPreferredTerms) -> np.ndarray:
        return self._own(self._o.labels.weights(preferred))

    def label_values(self, key: str) -> np.ndarray:
        return self._column(("label", key), lambda: self._own(self._o.labels.values(key)))

    def annotation_values(self, key: str) -> np.ndarray:
        return self._column(("annotation", key), lambda: self._own(self._o.annotation_column(key)))

    def _static_version(self) -> int | None:
        return None  # the objects sent are authoritative, and change with no version

    def _domains_of(self, topology_key: str) -> np.ndarray:
        # the objects' own label values, as the node table's domain ids
        labels = self._t.labels
        values = self.label_values(topology_key).tolist()
        ids = np.fromiter(
            (-1 if v is None else labels.domain_id(topology_key, v) for v in values),
            np.int32,
            len(values),
        )
        ids.flags.writeable = False
        return ids

    def subset(self, positions: np.ndarray) -> NodeView:
        if len(positions) == self.n:
            return self
        return ObjectsView(self._t, self.ids[positions], self._o, self._rows[positions])
