"""PodTopologySpread: keep matching pods spread over topology domains.

Mirrors kube-scheduler 1.34's plugin (README.md beside this file says what
differs). The counting is not done here: the cache keeps, per (namespace,
selector), the matching placed pods per node and per domain of a topology
key (`NodeView.matching_pods`, `domain_counts`), so a request costs vector
operations over the cluster's nodes, never a walk over its pods.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

import numpy as np

from extender.api import (
    DYNAMIC,
    MAX_NODE_SCORE,
    NO_EXECUTE,
    NO_SCHEDULE,
    InvalidInput,
    NodeView,
    PodInfo,
    Policy,
    SpreadConstraint,
    TolerationIndex,
)
from policies.helper.constants import all_false, all_true, zero_scores
from policies.pod_topology_spread.args import HOSTNAME, parse_args
from policies.pod_topology_spread.eligible import Eligible, EligibleCache

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

# The score's topology weight ln(domains + 2) in fixed point: an integer, the same
# on every machine (Decimal's ln is correctly rounded), 9 decimal places.
SCALE = 10**9
RESOLVED_CACHE = 4096
BLOCKED_CACHE = 1024
_LN_CONTEXT = Context(prec=40)
_weights: dict[int, int] = {}


def topology_weight(size: int) -> int:
    """round(ln(size + 2) * SCALE): upstream's topologyNormalizingWeight, in integers."""
    found = _weights.get(size)
    if found is None:
        ln = Decimal(size + 2).ln(_LN_CONTEXT) * SCALE
        found = int(ln.to_integral_value(rounding=ROUND_HALF_EVEN))
        if len(_weights) < 100_000:
            _weights[size] = found
    return found


def _lookup(counts: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """counts[domains], 0 where a domain id is -1 or past the end of `counts`."""
    padded = np.concatenate((counts, _ZERO))  # id -1 reads the 0 at the end
    if len(domains) and int(domains.max()) >= len(counts):  # ids no cached node has
        domains = np.where(domains < len(counts), domains, -1)
    return padded[domains]


_ZERO = np.zeros(1, dtype=np.int64)
# appended to per-domain verdicts: a domain past the known ones, then id -1 (no label)
_EMPTY_OK = np.array([True, False])
_EMPTY_SKEWED = np.array([False, False])


def _lookup_verdict(by_domain: np.ndarray, empty: bool, domains: np.ndarray) -> np.ndarray:
    """by_domain[domains]: False where a domain id is -1 (no label), `empty` (the
    verdict for a domain with no matching pods) where it is past the end of
    `by_domain` (a value only the request's own Node objects have)."""
    padded = np.concatenate((by_domain, _EMPTY_OK if empty else _EMPTY_SKEWED))  # -1: False
    if len(domains) and int(domains.max()) >= len(by_domain):
        domains = np.where(domains < len(by_domain), domains, len(by_domain))
    return padded[domains]


class PodTopologySpread(Policy):
    name = "PodTopologySpread"
    depends_on = DYNAMIC  # the pods placed in each topology domain

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        self.defaults, self.system_defaulted = parse_args(self.args)
        # default constraints need the owners' selectors: live mode then watches them
        self.needs_owners = bool(self.defaults)
        self._last: tuple | None = None  # (pod, nodes, passes, each constraint's verdicts)
        self._eligibility = EligibleCache()
        # (constraints, kind, pod labels) -> the constraints with matchLabelKeys merged
        self._resolved: dict[tuple, list[SpreadConstraint]] = {}
        # the same by (id(spread), kind, id(labels)) -> (spread, labels, constraints)
        self._resolved_ids: dict[tuple, tuple] = {}
        # the default constraints of each kind (hard or not), and with an owner's selector
        self._defaults = {h: [c for c in self.defaults if c.hard is h] for h in (True, False)}
        self._with_selector: dict[tuple, list[SpreadConstraint]] = {}
        # (tolerations, taint epoch) -> per taint set id, a taint the pod does not tolerate
        self._blocked: dict[tuple, np.ndarray] = {}

    # ---- which constraints apply -----------------------------------------
    def constraints(self, pod: PodInfo, nodes: NodeView, hard: bool) -> list[SpreadConstraint]:
        """The pod's own constraints of one kind (matchLabelKeys merged), else the
        default ones with the selector its owners give; InvalidInput for a
        constraint the API server would have refused."""
        spread = pod.spread
        if spread is not None:
            if spread.errors:
                path, message = spread.errors[0]
                if len(spread.errors) > 1:
                    rest = "; ".join(f"{p}: {m}" for p, m in spread.errors[1:])
                    message = f"{message}; {rest}"
                raise InvalidInput(message, path)
            labels = pod.labels
            # by identity first: a spec's pods share its `spread`, and labels are
            # interned per label set (no tuple of the labels, no hash of the spec)
            ident = (id(spread), hard, id(labels))
            hit = self._resolved_ids.get(ident)
            if hit is not None and hit[0] is spread and hit[1] is labels:
                return hit[2]
            key = (spread, hard, tuple(labels.items()))
            found = self._resolved.get(key)
            if found is None:
                found = [c.resolved(labels) for c in spread.constraints if c.hard is hard]
                if len(self._resolved) >= RESOLVED_CACHE:
                    self._resolved.clear()  # pods of a few thousand specs: rarely reached
                self._resolved[key] = found
            if len(self._resolved_ids) >= RESOLVED_CACHE:
                self._resolved_ids.clear()
            self._resolved_ids[ident] = (spread, labels, found)  # held: ids not reused
            return found
        if not self._defaults[hard]:
            return []
        selector = nodes.default_spread_selector(pod)
        if selector is None:
            return []
        key = (hard, selector)  # selectors are interned: the pods of an owner share one
        found = self._with_selector.get(key)
        if found is None:
            found = [c.with_selector(selector) for c in self._defaults[hard]]
            if len(self._with_selector) >= RESOLVED_CACHE:
                self._with_selector.clear()
            self._with_selector[key] = found
        return found

    # ---- eligibility of the cluster's nodes ------------------------------
    @staticmethod
    def _affinity_mask(pod: PodInfo, cluster: NodeView) -> np.ndarray:
        mask = np.ones(cluster.n, dtype=bool)
        for selector in (pod.node_selector, pod.required_affinity):
            if selector is not None:
                mask &= cluster.label_mask(selector)
        return mask

    def _tolerated_mask(self, pod: PodInfo, cluster: NodeView) -> np.ndarray:
        """Nodes without a NoSchedule/NoExecute taint the pod does not tolerate.

        Judged per taint set, the verdicts kept per (tolerations, taint epoch) and
        extended as sets appear (what the epoch allows), so the pods of one spec judge
        the cluster's few taint sets once."""
        ids, sets, epoch = cluster.taint_sets()
        key = (tuple(pod.tolerations), epoch)
        blocked = self._blocked.get(key)
        if blocked is None or len(blocked) < len(sets):
            index = TolerationIndex(pod.tolerations)
            start = 0 if blocked is None else len(blocked)
            more = np.fromiter(
                (
                    any(
                        t.effect in (NO_SCHEDULE, NO_EXECUTE) and not index.tolerates(t)
                        for t in sets[sid]
                    )
                    for sid in range(start, len(sets))
                ),
                dtype=bool,
                count=len(sets) - start,
            )
            blocked = more if blocked is None else np.concatenate((blocked, more))
            if len(self._blocked) >= BLOCKED_CACHE:
                self._blocked.clear()
            self._blocked[key] = blocked
        return ~blocked[ids]

    # ---- filter ------------------------------------------------------------
    def _eligible_entry(
        self, pod: PodInfo, cluster: NodeView, c: SpreadConstraint, keys: tuple[str, ...]
    ) -> Eligible:
        """The constraint's eligible nodes: those with every one of `keys`, matching the
        pod's node selector and affinity (Honor) and tolerating its taints (Honor);
        kept per node-table version by what decides them."""
        affinity = c.honor_affinity and (
            pod.node_selector is not None or pod.required_affinity is not None
        )
        signature = (
            keys,
            (pod.node_selector, pod.required_affinity) if affinity else None,
            tuple(pod.tolerations) if c.honor_taints else None,
        )

        def build() -> np.ndarray:
            mask = np.ones(cluster.n, dtype=bool)
            for key in keys:
                mask &= cluster.domain_ids(key) >= 0
            if affinity:
                mask &= self._affinity_mask(pod, cluster)
            if c.honor_taints:
                mask &= self._tolerated_mask(pod, cluster)
            return mask

        return self._eligibility.get(cluster, c.topology_key, signature, build)

    def _filter(self, pod: PodInfo, nodes: NodeView) -> tuple[np.ndarray, list | None]:
        """(passes per candidate, what `_missing` needs: each constraint's key and
        passes, None when every node passes)."""
        last = self._last
        if last is not None and last[0] is pod and last[1] is nodes:
            return last[2], last[3]
        constraints = self.constraints(pod, nodes, True)
        if not constraints:  # the common case: every node passes (shared read-only answers)
            self._last = (pod, nodes, all_true(nodes.n), None)
            return self._last[2], None
        cluster = nodes.all_nodes()
        keys = tuple(sorted({c.topology_key for c in constraints}))
        numbered = nodes.domains_numbered
        ok = None
        judged = []
        for c in constraints:  # the first constraint a node fails decides its reason
            entry = self._eligible_entry(pod, cluster, c, keys)
            key = c.topology_key
            counts = entry.counts(cluster, pod.namespace, c.selector, key)
            min_match = entry.minimum(counts, c.min_domains)
            self_match = 1 if c.selector.matches(pod.labels) else 0
            candidates = nodes.domain_ids(key)
            evicted = nodes.evicted_matching(pod.namespace, c.selector)
            if evicted is not None and evicted.any():
                in_domain, minimum = self._without_victims(
                    nodes, cluster, entry.mask, counts, entry.present, candidates, evicted, c
                )
                passes = (candidates >= 0) & (in_domain + self_match - minimum <= c.max_skew)
            else:  # judged per domain, then read per candidate: one gather
                limit = c.max_skew + min_match - self_match
                if numbered:
                    verdicts = entry.verdicts  # its last entry, for domain -1, stays False
                    np.less_equal(counts, limit, out=verdicts[: entry.slots])
                    passes = verdicts[candidates]
                else:
                    passes = _lookup_verdict(counts <= limit, 0 <= limit, candidates)
            judged.append((key, passes))
            if ok is None:
                ok = passes
            elif len(judged) == 2:
                ok = ok & passes  # a new array: the first constraint's stays as it was
            else:
                ok &= passes
        self._last = (pod, nodes, ok, judged)
        return ok, judged

    def _missing(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        """Per candidate: the first constraint it fails, it fails for lacking the
        constraint's topology label (for reasons only: not computed on the way)."""
        _, judged = self._filter(pod, nodes)
        if judged is None:
            return all_false(nodes.n)
        missing = ok = None
        for key, passes in judged:
            lacks = nodes.domain_ids(key) < 0
            if missing is None:
                missing, ok = lacks, passes
            else:
                missing |= ok & lacks
                ok = ok & passes
        return missing  # type: ignore[return-value]

    @staticmethod
    def _without_victims(
        nodes: NodeView,
        cluster: NodeView,
        eligible: np.ndarray,
        counts: np.ndarray,
        present: np.ndarray,
        candidates: np.ndarray,
        evicted: np.ndarray,
        c: SpreadConstraint,
    ) -> tuple[np.ndarray, np.ndarray]:
        """/preempt: (each candidate's domain count, the minimum) with that candidate's
        own victims gone, as upstream's RemovePod updates a per-node copy of the
        counts: only where the candidate is an eligible node."""
        positions = np.searchsorted(cluster.ids, nodes.ids)
        positions = np.minimum(positions, max(cluster.n - 1, 0))
        counted = (cluster.ids[positions] == nodes.ids) & eligible[positions]
        removed = np.where(counted, evicted, 0)
        in_domain = _lookup(counts, candidates) - removed
        domains_seen = int(present.sum())
        if domains_seen < c.min_domains or not domains_seen:
            return in_domain, np.zeros(nodes.n, dtype=np.int64)
        big = np.iinfo(np.int64).max
        ranked = np.where(present, counts, big)
        first = int(np.argmin(ranked))
        lowest = int(ranked[first])
        ranked[first] = big
        second = int(ranked.min())  # big when there is one domain only
        others = np.where(candidates == first, second, lowest)
        minimum = np.where(counted, np.minimum(others, in_domain), lowest)
        return in_domain, minimum

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        return self._filter(pod, nodes)[0]

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        missing = self._missing(pod, nodes)[np.asarray(failed, dtype=np.intp)]
        return [
            ERR_REASON_NODE_LABEL_NOT_MATCH if m else ERR_REASON_CONSTRAINTS_NOT_MATCH
            for m in missing.tolist()
        ]

    def unresolvable_mask(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> np.ndarray:
        """A missing topology label is UnschedulableAndUnresolvable; a skew is not
        (evicting pods can even it out)."""
        return self._missing(pod, nodes)[np.asarray(failed, dtype=np.intp)]

    # ---- score -------------------------------------------------------------
    def raw_scores(
        self, pod: PodInfo, nodes: NodeView
    ) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(upstream's Score per candidate, rounded to an integer; the ignored nodes,
        None when no candidate is), or None when the pod has no soft constraints
        (upstream skips the plugin)."""
        constraints = self.constraints(pod, nodes, False)
        if not constraints:
            return None
        require_all = pod.spread is not None or not self.system_defaulted
        keys = tuple(sorted({c.topology_key for c in constraints}))
        ignored = None
        if require_all and nodes.n:
            for key in keys:
                domains = nodes.domain_ids(key)
                if int(domains.min()) < 0:  # some candidate lacks the key: it is ignored
                    lacks = domains < 0
                    ignored = lacks if ignored is None else ignored | lacks
        # with no candidate ignored, no masking below, and math.Round's half is added
        # with the first constraint's constant
        masked = not (require_all and ignored is None)  # a candidate may lack the key
        considered = None if ignored is None else ~ignored
        numbered = nodes.domains_numbered
        eligible_keys = keys if require_all else ()
        half = 0 if masked else SCALE // 2
        total = None
        for c in constraints:
            key = c.topology_key
            candidates = nodes.domain_ids(key)
            constant = np.int64((c.max_skew - 1) * SCALE + half)
            half = 0
            if key == HOSTNAME:
                size = nodes.n if ignored is None else nodes.n - int(np.count_nonzero(ignored))
                part = nodes.matching_pods(pod.namespace, c.selector) * np.int64(
                    topology_weight(size)
                )
                part += constant
                if masked:
                    part = np.where(candidates >= 0, part, 0)
            else:
                # distinct domains among the scored candidates (a missing label reads
                # as the value "", one more domain, as upstream's map lookup does)
                scored = candidates if considered is None else candidates[considered]
                size = int(np.count_nonzero(np.bincount(scored + 1)))
                weight = np.int64(topology_weight(size))
                cluster = nodes.all_nodes()
                entry = self._eligible_entry(pod, cluster, c, eligible_keys)
                counts = entry.counts(cluster, pod.namespace, c.selector, key)
                if numbered:  # the part per domain, then one gather; domain -1 reads 0
                    by_domain = np.zeros(entry.slots + 1, np.int64)
                    head = by_domain[: entry.slots]
                    np.multiply(counts, weight, out=head)
                    head += constant
                    part = nodes.per_candidate(by_domain, key)
                else:
                    part = _lookup(counts, candidates) * weight + constant
                    if masked:
                        part = np.where(candidates >= 0, part, 0)
            if total is None:
                total = part  # a new array: added to in place below
            else:
                total += part
        if masked:
            total += SCALE // 2
        total //= SCALE  # math.Round of a non-negative sum
        return total, ignored

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        found = self.raw_scores(pod, nodes)
        if found is None or nodes.n == 0:
            return zero_scores(nodes.n)
        raw, ignored = found
        if ignored is None:  # every candidate scored: no masking
            low, high = int(raw.min()), int(raw.max())
            if high == 0:
                return np.full(nodes.n, MAX_NODE_SCORE, dtype=np.int64)
            return MAX_NODE_SCORE * (high + low - raw) // high
        considered = ~ignored
        if not considered.any():
            return np.zeros(nodes.n, dtype=np.int64)
        low, high = int(raw[considered].min()), int(raw[considered].max())
        if high == 0:
            return np.where(considered, MAX_NODE_SCORE, 0).astype(np.int64)
        scores = MAX_NODE_SCORE * (high + low - raw) // high
        return np.where(considered, scores, 0).astype(np.int64)
