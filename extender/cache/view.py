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
from extender.model.podselector import PodSelector
from extender.model.selectors import CompiledNodeSelector, CompiledPreferredTerms
from extender.model.taints import Taint


def read_only(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _per_candidate(by_domain: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """by_domain[domains], where by_domain ends with a 0 read for -1 (no label): a
    domain id past the known ones (a value only a request's own Node objects
    have) holds no pods either, and reads that 0 too."""
    if len(domains) and int(domains.max()) >= len(by_domain) - 1:
        domains = np.where(domains >= len(by_domain) - 1, -1, domains)
    return by_domain[domains]


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
        # `take`, not `column[self.ids]`: the same rows (bounds checked alike) in a
        # tighter loop, ~15% fewer instructions at 1,000 candidates
        arr = column.take(self.ids)
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

    def allocatable_bounds(self, resource: str) -> tuple[int, int]:
        """(low, high) with low <= `allocatable(resource)` <= high at every candidate.

        Not always the candidates' own minimum and maximum: for the cache's nodes
        they are the whole cluster's, kept until a node object changes, so the call
        is a dict lookup and no reduction over the candidates. For a fast path: low
        > 0 means every candidate has the resource, and high bounds a product."""
        return self._t.alloc_bounds(resource)

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
        return self._per_candidate(by_domain, topology_key), int(by_domain.sum())

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
        return [(w, t, self._per_candidate(counts, t.topology_key)) for w, t, counts in found]

    # ---- the same per domain, for a policy that sums before it gathers ----
    # A candidate's count is then its domain's count, read with `per_candidate`:
    # terms of one topology key are summed over the few domains (or once per
    # node for the hostname) and gathered once, instead of a gather per term.
    # False in a /preempt view (cache/whatif.py), whose candidates each lose
    # their own victims: a policy reads the per-candidate forms there.
    counts_by_domain = True

    def domain_slots(self, key: str) -> int:
        """How many entries of a per-domain array of `key` the readers below use:
        every domain id the cache numbered, and one more, read by id -1 (a
        candidate without the label), always 0."""
        return self._t.labels.domain_count(key) + 1

    def pods_matching_by_domain(
        self, terms: tuple[AffinityTerm, ...], topology_key: str
    ) -> np.ndarray:
        """`pods_matching`'s counts per domain id of `topology_key` (read-only, at
        least `domain_slots(topology_key)` long, 0 from that slot on)."""
        return self._t.affinity.matching_by_domain(terms, topology_key)

    def pods_carrying_by_domain(
        self, kinds: tuple[str, ...], pod: PodInfo
    ) -> list[tuple[str, int, AffinityTerm, np.ndarray]]:
        """`pods_carrying` of each of `kinds`, in one call: (kind, weight, term, the
        carriers per domain id of the term's topology key, as `pods_matching_by_domain`)."""
        return self._t.affinity.carried_matching_kinds(kinds, pod.namespace, pod.labels)

    def per_candidate(self, by_domain: np.ndarray, topology_key: str) -> np.ndarray:
        """int64[n]: `by_domain` read at each candidate's domain of `topology_key`
        (0 where it lacks the label), for an array of at least `domain_slots`
        entries, 0 from that slot on; a new array."""
        return self._per_candidate(by_domain, topology_key)

    def _per_candidate(self, by_domain: np.ndarray, topology_key: str) -> np.ndarray:
        """by_domain[each candidate's domain of `topology_key`]: affinity counts per
        domain are one slot longer than the label index's ids (index -1 reads 0), so
        ids the index numbered need no bounds check."""
        domains = self.domain_ids(topology_key)
        if not self.domains_numbered:
            return _per_candidate(by_domain, domains)
        return by_domain[domains]

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
        """A bound on the table's node ids (every id is below it) until its static
        version moves: a node added takes a new id and moves it."""
        return self._t.id_bound

    def _static_version(self) -> int | None:
        """The node table's static version when this view's node objects are the
        table's own (so answers of STATIC policies for a node id stay valid until
        it changes); None when the view brings its own node objects."""
        return self._t.static_version

    def _state_view(self, ids: np.ndarray) -> NodeView:
        """A view of the table's nodes `ids`, as a NodeNames request of them sees them."""
        return StateView(self._t, ids)

    # ---- placed pods by label, topology domains (PodTopologySpread, issue 12) ----
    def all_nodes(self) -> NodeView:
        """Every node of the cluster as podsift's cache holds it (not only the
        candidates), in the cache's order; one per request."""
        found = self._cache.get("all_nodes")
        if found is None:
            t = self._t
            ids, contiguous = t.pod_counts.all_node_ids(t.version, t.id_of)
            found = self._cache["all_nodes"] = StateView(t, ids, contiguous)
        return found

    def cluster_version(self) -> int:
        """A token of the cache's nodes: it changes whenever a node comes, goes or
        changes its labels or taints, and is never reused (not even by another
        table), so a policy may keep what it derives from `all_nodes()`' labels
        and taints alone (which nodes a spec may use, say) until it changes."""
        return self._t.static_version

    # Whether every domain id `domain_ids` gives is one the cache numbered (below
    # `domain_slots(key) - 1`): False for a view of full Node objects, whose labels
    # may hold values no cached node has (per-domain counts, sized by the label
    # index, are then read with a bounds check).
    domains_numbered = True

    def matching_pods(self, namespace: str, selector: PodSelector) -> np.ndarray:
        """int64[n]: per node, the placed pods of `namespace` whose labels `selector`
        matches (terminating pods left out). Kept incrementally per selector."""
        key = ("matching", namespace, selector)
        arr = self._cache.get(key)
        if arr is None:
            t = self._t
            column = t.pod_counts.node_counts(namespace, selector, t.capacity)
            arr = self._cache[key] = read_only(column.take(self.ids))
        return arr

    def domain_ids(self, key: str) -> np.ndarray:
        """int32[n]: each node's topology domain for label `key` (a number per
        distinct value, stable while the cluster lives), -1 where it lacks the label."""
        arr = self._cache.get(("domain", key))  # spelled out: asked ~10 times a pod
        if arr is None:
            arr = self._cache[("domain", key)] = self._gather(self._t.labels.value_ids(key)[0])
        return arr

    def domain_counts(self, namespace: str, selector: PodSelector, key: str) -> np.ndarray:
        """int64[>= every domain id]: per domain of `key`, the placed pods of
        `namespace` matching `selector` on all the cluster's nodes with the label.
        A domain id past its end has no such pods. Kept incrementally."""
        arr = self._cache.get(("domain_counts", namespace, selector, key))
        if arr is None:
            t = self._t
            arr = read_only(t.pod_counts.domain_counts(namespace, selector, key, t.capacity).copy())
            self._cache[("domain_counts", namespace, selector, key)] = arr
        return arr

    def evicted_matching(self, namespace: str, selector: PodSelector) -> np.ndarray | None:
        """In a /preempt view, per candidate the pods `matching_pods` counts that its
        eviction would remove; None in every other view (nothing is evicted)."""
        return None

    def default_spread_selector(self, pod: PodInfo) -> PodSelector | None:
        """The selector kube-scheduler deduces for a pod from the Services that select
        it and its ReplicationController, ReplicaSet or StatefulSet; None when empty."""
        labels = pod.labels
        return self._t.owners.default_selector(
            pod.namespace, labels, tuple(labels.items()), pod.controller
        )


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
        arr = column.take(self._rows)
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

    def allocatable_bounds(self, resource: str) -> tuple[int, int]:
        """The candidates' own minimum and maximum (the objects are authoritative)."""
        key = ("alloc_bounds", resource)
        found = self._cache.get(key)
        if found is None:
            arr = self.allocatable(resource)
            found = (int(arr.min()), int(arr.max())) if self.n else (0, 0)
            self._cache[key] = found
        return found

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

    def subset(self, positions: np.ndarray) -> NodeView:
        if len(positions) == self.n:
            return self
        return ObjectsView(self._t, self.ids[positions], self._o, self._rows[positions])

    domains_numbered = False

    def domain_ids(self, key: str) -> np.ndarray:
        """The objects' own label values, numbered as the cache numbers them; a value
        no cached node has gets one id past every known one (a domain without pods)."""

        def build() -> np.ndarray:
            labels = self._t.labels
            unknown = labels.value_ids(key)[1]
            ids = [
                -1 if v is None else labels.known_value_id(key, v)
                for v in self.label_values(key).tolist()
            ]
            out = np.array(
                [
                    unknown if (i < 0 and v is not None) else i
                    for i, v in zip(ids, self.label_values(key).tolist(), strict=True)
                ],
                dtype=np.int32,
            )
            return read_only(out)

        return self._column(("domain", key), build)
