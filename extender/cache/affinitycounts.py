"""Placed pods counted per topology domain, for inter-pod affinity, kept incrementally.

kube-scheduler's InterPodAffinity walks every placed pod for every pod it
schedules (PreFilter and PreScore). podsift keeps instead, as pods are
attached to and detached from nodes:

- **groups**: the placed pods by (namespace, labels), with their count per
  node. Pods of one Deployment share a group, so a selector is matched
  against a group once, never against each pod.
- **counters**, for the incoming pod's terms: the placed pods matching a
  conjunction of terms (one anti-affinity term, or all the required affinity
  terms together as upstream counts them), per node and per topology domain.
  Built lazily, on the first pod that asks, from the groups; kept up to date
  from then on; least-recently-used past `MAX_COUNTERS`.
- **carriers**, for the symmetric rules: per distinct term that placed pods
  carry (required anti-affinity, required affinity for `hardPodAffinityWeight`,
  preferred affinity and anti-affinity with their weights), how many carry it
  per node and per domain. An incoming pod is matched against the distinct
  terms (few), each verdict cached per (term, namespace, labels), never
  against the pods.

A domain is one value of a node label (`LabelIndex.domain_of`); counts per
domain are int64 arrays indexed by domain id, one slot longer than the ids
so that index -1 (a node without the label) reads 0. They are updated in
place on each pod event and rebuilt from the per-node counts after any node
label change (the label index's `version`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from extender.cache.labelindex import LabelIndex
from extender.cache.namespaces import NamespaceLabels
from extender.model.podaffinity import AffinityTerm, PodAffinity

MAX_COUNTERS = 512
# verdicts of one carried term over incoming pods' (namespace, labels), before starting afresh
MAX_VERDICTS = 4096

# what a placed pod carries, for the symmetric rules
# required anti-affinity: the incoming pod may not join its domain
POD_ANTI_AFFINITY_REQUIRED = "required anti-affinity"
POD_AFFINITY_REQUIRED = "required affinity"  # scores hardPodAffinityWeight
POD_AFFINITY_PREFERRED = "preferred affinity"  # +weight
POD_ANTI_AFFINITY_PREFERRED = "preferred anti-affinity"  # -weight
KINDS = (
    POD_ANTI_AFFINITY_REQUIRED,
    POD_AFFINITY_REQUIRED,
    POD_AFFINITY_PREFERRED,
    POD_ANTI_AFFINITY_PREFERRED,
)

_NO_LABELS: Mapping[str, str] = {}


class _Domains:
    """Counts per domain of one label key, derived from per-node counts."""

    __slots__ = ("key", "version", "counts", "_read_only")

    def __init__(self, key: str) -> None:
        self.key = key
        self.version = -1  # the label index version the counts agree with
        self.counts = np.zeros(1, np.int64)
        # a read-only view of `counts`, handed out until `counts` is replaced (it
        # sees the in-place updates): no new view per read
        self._read_only: np.ndarray | None = None

    def update(self, labels: LabelIndex, node_id: int, delta: int, where: dict[str, int]) -> None:
        """Count `delta` pods more on node `node_id` (`where`: the node's domain id per
        key, filled as keys are met, for the caller's other counts of the same pod)."""
        if self.version != labels.version:
            return  # stale anyway: rebuilt on the next read
        domain = where.get(self.key)
        if domain is None:
            domain = where[self.key] = labels.domain_of(self.key, node_id)
        if domain >= 0:
            if domain + 1 >= len(self.counts):
                self._grow(domain + 2)
            counts = self.counts
            counts[domain] = counts.item(domain) + delta  # Python ints: no numpy scalar

    def _grow(self, size: int) -> None:
        grown = np.zeros(max(size, 2 * len(self.counts)), np.int64)
        grown[: len(self.counts)] = self.counts
        self.counts = grown
        self._read_only = None

    def read(self, labels: LabelIndex, per_node: Mapping[int, int]) -> np.ndarray:
        """int64[>= domains + 1], read-only for the caller, valid until the next change."""
        if self.version != labels.version:
            counts = np.zeros(labels.domain_count(self.key) + 1, np.int64)
            for node_id, count in per_node.items():
                domain = labels.domain_of(self.key, node_id)
                if domain >= 0:
                    counts[domain] += count
            self.counts = counts
            self._read_only = None
            self.version = labels.version
        elif len(self.counts) <= labels.domain_count(self.key):
            self._grow(labels.domain_count(self.key) + 1)
        view = self._read_only
        if view is None:
            view = self._read_only = self.counts.view()
            view.flags.writeable = False
        return view


class _NodeCounts:
    """Pods per node (sparse), and per domain for the label keys someone asked about."""

    __slots__ = ("per_node", "total", "domains")

    def __init__(self) -> None:
        self.per_node: dict[int, int] = {}
        self.total = 0
        self.domains: dict[str, _Domains] = {}

    def add(self, labels: LabelIndex, node_id: int, delta: int, where: dict[str, int]) -> None:
        count = self.per_node.get(node_id, 0) + delta
        if count:
            self.per_node[node_id] = count
        else:
            self.per_node.pop(node_id, None)
        self.total += delta
        for domains in self.domains.values():
            domains.update(labels, node_id, delta, where)

    def by_domain(self, labels: LabelIndex, key: str) -> np.ndarray:
        domains = self.domains.get(key)
        if domains is None:
            domains = self.domains[key] = _Domains(key)
        return domains.read(labels, self.per_node)


class _Group(_NodeCounts):
    """Placed pods of one namespace with one label set."""

    __slots__ = ("namespace", "labels", "counters")

    def __init__(self, namespace: str, labels: Mapping[str, str]) -> None:
        super().__init__()
        self.namespace = namespace
        self.labels = labels
        self.counters: dict[int, _Counter] = {}  # id -> the counters this group matches


class _Counter(_NodeCounts):
    """Placed pods matching every one of `terms` (their topology keys aside)."""

    __slots__ = ("terms", "groups")

    def __init__(self, terms: tuple[AffinityTerm, ...]) -> None:
        super().__init__()
        self.terms = terms
        self.groups: set[tuple] = set()

    def matches(self, group: _Group, namespaces: NamespaceLabels) -> bool:
        # the incoming pod's terms: a namespace podsift does not know is in no
        # namespaceSelector's list (upstream lists the namespaces that match)
        ns_labels = namespaces.get(group.namespace)
        for term in self.terms:
            if not term.matches(group.namespace, group.labels, ns_labels):
                return False
        return True


class _Carrier(_NodeCounts):
    """Placed pods carrying one term of one kind (with one weight)."""

    __slots__ = ("kind", "weight", "term", "verdicts", "verdict_epoch")

    def __init__(self, kind: str, weight: int, term: AffinityTerm) -> None:
        super().__init__()
        self.kind = kind
        self.weight = weight
        self.term = term
        self.verdicts: dict[tuple, bool] = {}
        self.verdict_epoch = -1


def _pods_key(term: AffinityTerm) -> tuple:
    """What decides which pods a term matches (its topology key aside)."""
    return term.key[:3]


def carried(affinity: PodAffinity) -> Iterable[tuple[str, int, AffinityTerm]]:
    """(kind, weight, term) of every term a placed pod carries, once per occurrence."""
    for term in affinity.required_anti_affinity:
        yield POD_ANTI_AFFINITY_REQUIRED, 1, term
    for term in affinity.required_affinity:
        yield POD_AFFINITY_REQUIRED, 1, term
    for weight, term in affinity.preferred_affinity:
        yield POD_AFFINITY_PREFERRED, weight, term
    for weight, term in affinity.preferred_anti_affinity:
        yield POD_ANTI_AFFINITY_PREFERRED, weight, term


class PodAffinityIndex:
    """Groups, counters and carriers over one node table's label index.

    Not thread-safe: ClusterState's lock guards every call."""

    def __init__(self, labels: LabelIndex, namespaces: NamespaceLabels) -> None:
        self.labels = labels
        self.namespaces = namespaces
        self._groups: dict[tuple, _Group] = {}
        self._counters: OrderedDict[tuple, _Counter] = OrderedDict()
        self._counters_epoch = namespaces.epoch
        self._carriers: dict[str, dict[tuple, _Carrier]] = {kind: {} for kind in KINDS}
        # per incoming pod's (namespace, labels), the carriers of each kind matching it, valid while
        # the set of distinct carried terms and the namespace labels stay the same
        self._carriers_epoch = 0
        self._matching: dict[tuple, tuple[int, int, dict[str, list[_Carrier]]]] = {}
        # the same by the labels object: (id(labels), namespace) -> (labels, both epochs,
        # kind -> matching carriers); a pod asks about each kind, in filter or in score
        self._by_labels: dict[tuple[int, str], tuple] = {}

    def stats(self) -> dict[str, int]:
        return {
            "pod_affinity_groups": len(self._groups),
            "pod_affinity_counters": len(self._counters),
            "pod_affinity_carried_terms": sum(len(c) for c in self._carriers.values()),
        }

    # ---- pod events -------------------------------------------------------
    def add(
        self,
        namespace: str,
        labels: Mapping[str, str],
        affinity: PodAffinity | None,
        node_id: int,
        delta: int,
        label_key: tuple | None = None,
        where: dict[str, int] | None = None,
    ) -> None:
        """A pod attached to (delta 1) or detached from (delta -1) node `node_id`.
        `label_key` is `tuple(labels.items())` when the caller keeps it already (the
        pod's record does), so a bind does not rebuild it. `where` caches the node's
        domain id per label key (shared with the caller's other counts of the pod)."""
        index = self.labels
        if where is None:
            where = {}
        if labels is None:  # a record built without labels (none carries any)
            labels, label_key = _NO_LABELS, ()
        group_key = (namespace, tuple(labels.items()) if label_key is None else label_key)
        group = self._groups.get(group_key)
        if group is None:
            group = self._groups[group_key] = _Group(namespace, labels)
            self._check_epoch()
            for counter in self._counters.values():
                if counter.matches(group, self.namespaces):
                    group.counters[id(counter)] = counter
                    counter.groups.add(group_key)
        group.add(index, node_id, delta, where)
        for counter in group.counters.values():
            counter.add(index, node_id, delta, where)
        if not group.total:
            del self._groups[group_key]
            for counter in group.counters.values():
                counter.groups.discard(group_key)
        if affinity is not None:
            for kind, weight, term in carried(affinity):
                carriers = self._carriers[kind]
                key = (weight, term)
                carrier = carriers.get(key)
                if carrier is None:
                    carrier = carriers[key] = _Carrier(kind, weight, term)
                    self._carriers_epoch += 1
                carrier.add(index, node_id, delta, where)
                if not carrier.total:
                    del carriers[key]
                    self._carriers_epoch += 1

    # ---- the incoming pod's terms ----------------------------------------
    def _check_epoch(self) -> None:
        """Namespace labels changed: every counter's namespaceSelector verdicts may
        be wrong, so all start afresh (rare: namespaces seldom change labels)."""
        if self._counters_epoch != self.namespaces.epoch:
            self._counters.clear()
            for group in self._groups.values():
                group.counters.clear()
            self._counters_epoch = self.namespaces.epoch

    def _counter(self, terms: tuple[AffinityTerm, ...]) -> _Counter:
        self._check_epoch()
        key = tuple(_pods_key(t) for t in terms)
        counter = self._counters.get(key)
        if counter is not None:
            self._counters.move_to_end(key)
            return counter
        counter = _Counter(terms)
        index = self.labels
        for group_key, group in self._groups.items():
            if counter.matches(group, self.namespaces):
                counter.groups.add(group_key)
                group.counters[id(counter)] = counter
                for node_id, count in group.per_node.items():
                    counter.add(index, node_id, count, {})
        self._counters[key] = counter
        if len(self._counters) > MAX_COUNTERS:
            _, old = self._counters.popitem(last=False)
            for group_key in old.groups:
                group = self._groups.get(group_key)
                if group is not None:
                    group.counters.pop(id(old), None)
        return counter

    def matching_by_domain(self, terms: tuple[AffinityTerm, ...], topology_key: str) -> np.ndarray:
        """int64 per domain id of `topology_key` (index -1 reads 0): the placed pods
        matching every one of `terms` (namespaces and selector)."""
        return self._counter(terms).by_domain(self.labels, topology_key)

    def pod_matches(
        self, terms: tuple[AffinityTerm, ...], namespace: str, labels: Mapping[str, str]
    ) -> bool:
        """Whether one placed pod counts for `terms` (as a counter would count it)."""
        ns_labels = self.namespaces.get(namespace)
        return all(t.matches(namespace, labels, ns_labels) for t in terms)

    # ---- what placed pods carry ------------------------------------------
    def carried_matching(
        self, kind: str, namespace: str, labels: Mapping[str, str]
    ) -> list[tuple[int, AffinityTerm, np.ndarray]]:
        """(weight, term, carriers per domain of the term's topology key) for every
        distinct term of `kind` placed pods carry that matches the incoming pod
        (in `namespace` with `labels`; an unknown namespace has no labels, as
        upstream's GetNamespaceLabelsSnapshot)."""
        if not self._carriers[kind]:
            return []
        index = self.labels
        return [
            (c.weight, c.term, c.by_domain(index, c.term.topology_key))
            for c in self._carriers_of(namespace, labels)[kind]
        ]

    def carried_matching_kinds(
        self, kinds: tuple[str, ...], namespace: str, labels: Mapping[str, str]
    ) -> list[tuple[str, int, AffinityTerm, np.ndarray]]:
        """`carried_matching` of several kinds in one call, as (kind, weight, term,
        carriers per domain), kinds in the order given: a pod's score asks about
        three kinds, and most pods match no carried term of any."""
        carriers = self._carriers
        for kind in kinds:
            if carriers[kind]:
                break
        else:
            return []
        by_kind = self._carriers_of(namespace, labels)
        index = self.labels
        return [
            (kind, c.weight, c.term, c.by_domain(index, c.term.topology_key))
            for kind in kinds
            for c in by_kind[kind]
        ]

    def _carriers_of(self, namespace: str, labels: Mapping[str, str]) -> dict[str, list[_Carrier]]:
        """kind -> the carriers matching a pod in `namespace` with `labels`."""
        epoch = self.namespaces.epoch
        # by the label mapping's identity first (a pod's labels are interned per label
        # set, so the pods of a spec share them): no tuple of the labels to hash
        ident = (id(labels), namespace)
        last = self._by_labels.get(ident)
        if (
            last is not None
            and last[0] is labels
            and last[1] == self._carriers_epoch
            and last[2] == epoch
        ):
            by_kind = last[3]
        else:
            by_kind = self._matching_carriers(namespace, labels, epoch)
            if len(self._by_labels) >= MAX_VERDICTS:
                self._by_labels.clear()
            # the mapping is held with its entry, so its id is not reused meanwhile
            self._by_labels[ident] = (labels, self._carriers_epoch, epoch, by_kind)
        return by_kind

    def _matching_carriers(
        self, namespace: str, labels: Mapping[str, str], epoch: int
    ) -> dict[str, list[_Carrier]]:
        """kind -> the carriers whose term matches a pod in `namespace` with `labels`,
        cached per (namespace, label set) while the carried terms and the namespace
        labels stay the same."""
        group_key = (namespace, tuple(labels.items()))
        cached = self._matching.get(group_key)
        if cached is not None and cached[0] == self._carriers_epoch and cached[1] == epoch:
            return cached[2]
        ns_labels = self.namespaces.get(namespace)
        if ns_labels is None:
            ns_labels = _NO_LABELS
        by_kind: dict[str, list[_Carrier]] = {}
        for kind, carriers in self._carriers.items():
            matching = by_kind[kind] = []
            for carrier in carriers.values():
                if carrier.verdict_epoch != epoch or len(carrier.verdicts) > MAX_VERDICTS:
                    carrier.verdicts.clear()
                    carrier.verdict_epoch = epoch
                verdict = carrier.verdicts.get(group_key)
                if verdict is None:
                    verdict = carrier.verdicts[group_key] = carrier.term.matches(
                        namespace, labels, ns_labels
                    )
                if verdict:
                    matching.append(carrier)
        if len(self._matching) > MAX_VERDICTS:
            self._matching.clear()
        self._matching[group_key] = (self._carriers_epoch, epoch, by_kind)
        return by_kind
