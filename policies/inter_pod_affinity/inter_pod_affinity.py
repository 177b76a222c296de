"""InterPodAffinity: required pod affinity and anti-affinity filter, preferred terms score.

Mirrors kube-scheduler 1.34's plugin (PreFilter/Filter, PreScore/Score/NormalizeScore):

- Filter, in upstream's order, a node fails on the first rule it breaks:
  1. the pod's required affinity: the node must have every term's topology
     key, and in each term's domain there must be a placed pod matching *all*
     the terms; unless no such pod exists anywhere and the pod matches all its
     own terms (the first pod of a group with affinity to itself). Reason
     "node(s) didn't match pod affinity rules", unresolvable: evicting pods
     cannot create a matching pod.
  2. the pod's required anti-affinity: no placed pod matching a term in the
     node's domain of that term. Reason "node(s) didn't match pod anti-affinity
     rules", resolvable.
  3. placed pods' required anti-affinity (symmetry): no placed pod whose term
     matches this pod in the node's domain of that term. Reason "node(s) didn't
     satisfy existing pods anti-affinity rules", resolvable.
  A pod whose terms do not parse fails every node with "parsing pod: ...",
  unresolvable, as upstream's PreFilter rejects it.
- Score: per node, the summed weights of the pod's preferred affinity terms
  times the matching pods in the node's domain, minus the same for its
  preferred anti-affinity; plus, from placed pods whose terms match this pod,
  `hardPodAffinityWeight` per required affinity term, the weight of each
  preferred affinity term, minus the weight of each preferred anti-affinity
  term, counted in their domains. Then min-max to 0..100 over the scored
  nodes. With `ignorePreferredTermsOfExistingPods`, a pod without preferred
  terms of its own scores 0 everywhere.

Nothing here scans pods: the view answers from counts kept per topology domain
(extender/cache/affinitycounts.py), one gather per term over the candidates.
"""

from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np

from extender.api import (
    POD_AFFINITY_PREFERRED,
    POD_AFFINITY_REQUIRED,
    POD_ANTI_AFFINITY_PREFERRED,
    POD_ANTI_AFFINITY_REQUIRED,
    ArgsErrors,
    InvalidInput,
    NodeView,
    PodInfo,
    Policy,
    as_int,
)
from policies.helper.constants import all_true, zero_scores
from policies.inter_pod_affinity.normalize import min_max_normalize

ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

HARD_POD_AFFINITY_WEIGHT = "hardPodAffinityWeight"
IGNORE_PREFERRED = "ignorePreferredTermsOfExistingPods"
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1
MAX_HARD_POD_AFFINITY_WEIGHT = 100

# per-node verdicts of the filter
OK, AFFINITY, ANTI_AFFINITY, EXISTING_ANTI_AFFINITY, PARSE_ERROR = 0, 1, 2, 3, 4
_UNRESOLVABLE = (AFFINITY, PARSE_ERROR)


def parse_args(args: dict[str, Any]) -> tuple[int, bool]:
    """v1 InterPodAffinityArgs, defaulted and validated as upstream
    (ValidateInterPodAffinityArgs): (hardPodAffinityWeight, ignorePreferredTermsOfExistingPods)."""
    errors = ArgsErrors("InterPodAffinity")
    errors.unknown_keys(args, (HARD_POD_AFFINITY_WEIGHT, IGNORE_PREFERRED))
    weight = DEFAULT_HARD_POD_AFFINITY_WEIGHT
    raw = args.get(HARD_POD_AFFINITY_WEIGHT)
    if raw is not None:
        number = as_int(raw)
        if number is None:
            errors.add(HARD_POD_AFFINITY_WEIGHT, f"must be an integer, got {raw!r}")
        elif not 0 <= number <= MAX_HARD_POD_AFFINITY_WEIGHT:
            errors.add(
                HARD_POD_AFFINITY_WEIGHT,
                f"Invalid value: {number}: not in valid range [0-{MAX_HARD_POD_AFFINITY_WEIGHT}]",
            )
        else:
            weight = number
    ignore = args.get(IGNORE_PREFERRED, False)
    if ignore is None:
        ignore = False
    if not isinstance(ignore, bool):
        errors.add(IGNORE_PREFERRED, f"must be a boolean, got {ignore!r}")
    errors.raise_if_any()
    return weight, bool(ignore)


class InterPodAffinity(Policy):
    name = "InterPodAffinity"

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        self.hard_weight, self.ignore_preferred_of_existing = parse_args(self.args)
        self._last: tuple[Any, Any, np.ndarray | None] | None = None
        # (pod, nodes, passes or None when every node does, the per-domain parts or None)
        self._last_mask: tuple[Any, Any, np.ndarray | None, tuple | None] | None = None
        # the carried kinds the score reads, with hardPodAffinityWeight's when it counts
        self._score_kinds = (
            (POD_AFFINITY_REQUIRED, POD_AFFINITY_PREFERRED, POD_ANTI_AFFINITY_PREFERRED)
            if self.hard_weight > 0
            else (POD_AFFINITY_PREFERRED, POD_ANTI_AFFINITY_PREFERRED)
        )

    # ---- filter ----------------------------------------------------------
    def _codes(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        codes = self._verdicts(pod, nodes)
        return np.zeros(nodes.n, np.int8) if codes is None else codes

    def _verdicts(self, pod: PodInfo, nodes: NodeView) -> np.ndarray | None:
        """int8[n]: OK or the first rule each node breaks, None when every node
        passes (one evaluation per request: filter, reasons and unresolvable_mask
        share it)."""
        last = self._last
        if last is not None and last[0] is pod and last[1] is nodes:
            return last[2]
        if nodes.counts_by_domain:
            _, parts = self._mask(pod, nodes)
            codes = None if parts is None else self._codes_of(pod, nodes, parts)
        else:
            codes = self._evaluate(pod, nodes)
        self._last = (pod, nodes, codes)
        return codes

    # -- the filter per domain: anti-affinity counts summed per topology key, one
    # gather per key (a view whose counts are its domains', `counts_by_domain`)
    def _mask(self, pod: PodInfo, nodes: NodeView) -> tuple[np.ndarray | None, tuple | None]:
        """(passes per candidate, None when every node does; the parts `_codes_of`
        reads, None when every node passes), one evaluation per request."""
        last = self._last_mask
        if last is not None and last[0] is pod and last[1] is nodes:
            return last[2], last[3]
        own = pod.pod_affinity
        if own is not None and own.errors:
            parts: tuple | None = (None, None, None, True)
            ok: np.ndarray | None = np.zeros(nodes.n, bool)
        else:
            parts = self._domain_parts(pod, nodes, own)
            ok = None if parts is None else self._passes(nodes, parts)
        self._last_mask = (pod, nodes, ok, parts)
        return ok, parts

    def _domain_parts(self, pod: PodInfo, nodes: NodeView, own: Any) -> tuple | None:
        """(required affinity verdicts per candidate or None, own anti-affinity
        counts per key, existing pods' anti-affinity counts per key, False), None
        when no required rule applies."""
        carried = nodes.pods_carrying_by_domain(_ANTI_REQUIRED, pod)
        has_own = own is not None and (own.required_affinity or own.required_anti_affinity)
        if not carried and not has_own:
            return None  # the common case: nothing required, by the pod or of it
        affinity_ok = None
        anti: dict[str, list[np.ndarray]] = {}
        if own is not None:
            if own.required_affinity:
                affinity_ok = self._affinity_ok(pod, nodes)
            for term in own.required_anti_affinity:
                key = term.topology_key
                found = nodes.pods_matching_by_domain((term,), key)
                anti.setdefault(key, []).append(found)
        existing: dict[str, list[np.ndarray]] = {}
        for _, _, term, found in carried:
            existing.setdefault(term.topology_key, []).append(found)
        return affinity_ok, anti, existing, False

    @staticmethod
    def _passes(nodes: NodeView, parts: tuple) -> np.ndarray:
        """Per candidate: no anti-affinity count in its domain of any key, and the
        required affinity met."""
        affinity_ok, anti, existing, _ = parts
        ok = None
        for key in anti.keys() | existing.keys():
            arrays = anti.get(key, []) + existing.get(key, [])
            clear = nodes.per_candidate(_summed(arrays, nodes.domain_slots(key)), key) == 0
            if ok is None:
                ok = clear  # a new array: and-ed into in place below
            else:
                ok &= clear
        if affinity_ok is not None:  # kept in `parts` for the codes: not written to
            ok = affinity_ok if ok is None else ok & affinity_ok
        return ok  # type: ignore[return-value]

    @staticmethod
    def _codes_of(pod: PodInfo, nodes: NodeView, parts: tuple) -> np.ndarray:
        """The verdict codes from the parts: each rule's failures written from the last
        rule to the first, so a node keeps the first rule it breaks."""
        affinity_ok, anti, existing, parse_error = parts
        if parse_error:
            return np.full(nodes.n, PARSE_ERROR, np.int8)
        codes = np.zeros(nodes.n, np.int8)
        for by_key, code in ((existing, EXISTING_ANTI_AFFINITY), (anti, ANTI_AFFINITY)):
            for key, arrays in by_key.items():
                counts = nodes.per_candidate(_summed(arrays, nodes.domain_slots(key)), key)
                codes[counts > 0] = code
        if affinity_ok is not None:
            codes[~affinity_ok] = AFFINITY
        return codes

    def _evaluate(self, pod: PodInfo, nodes: NodeView) -> np.ndarray | None:
        """The verdict codes, or None when every node passes."""
        own = pod.pod_affinity
        carried = None
        if own is None or not (own.errors or own.required_affinity or own.required_anti_affinity):
            carried = nodes.pods_carrying(POD_ANTI_AFFINITY_REQUIRED, pod)
            if not carried:
                return None  # the common case: nothing required, by the pod or of it
        codes = np.zeros(nodes.n, np.int8)
        if own is not None and own.errors:
            codes[:] = PARSE_ERROR
            return codes
        if own is not None and own.required_affinity:
            codes[~self._affinity_ok(pod, nodes)] = AFFINITY
        if own is not None and own.required_anti_affinity:
            bad = np.zeros(nodes.n, bool)
            for term in own.required_anti_affinity:
                counts, _ = nodes.pods_matching((term,), term.topology_key)
                bad |= counts > 0
            codes[bad & (codes == OK)] = ANTI_AFFINITY
        if carried is None:  # not asked above
            carried = nodes.pods_carrying(POD_ANTI_AFFINITY_REQUIRED, pod)
        if carried:
            bad = np.zeros(nodes.n, bool)
            for _, _, counts in carried:
                bad |= counts > 0
            codes[bad & (codes == OK)] = EXISTING_ANTI_AFFINITY
        return codes

    def _affinity_ok(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        terms = pod.pod_affinity.required_affinity
        has_keys = np.ones(nodes.n, bool)
        found = np.ones(nodes.n, bool)
        anywhere = 0
        for term in terms:
            has_keys &= nodes.domain_ids(term.topology_key) >= 0
            counts, total = nodes.pods_matching(terms, term.topology_key)
            found &= counts > 0
            anywhere += total
        if anywhere == 0:
            ns_labels = nodes.namespace_labels(pod.namespace)
            if all(t.matches(pod.namespace, pod.labels, ns_labels) for t in terms):
                return has_keys  # the first of a group with affinity to itself
        return has_keys & found

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if nodes.counts_by_domain:
            ok = self._mask(pod, nodes)[0]
            return all_true(nodes.n) if ok is None else ok
        codes = self._verdicts(pod, nodes)
        return all_true(nodes.n) if codes is None else codes == OK

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        codes = self._codes(pod, nodes)[np.asarray(failed, dtype=np.intp)].tolist()
        parse = ""
        if PARSE_ERROR in codes:
            parse = "parsing pod: " + "; ".join(pod.pod_affinity.errors)
        text = {
            AFFINITY: ERR_REASON_AFFINITY,
            ANTI_AFFINITY: ERR_REASON_ANTI_AFFINITY,
            EXISTING_ANTI_AFFINITY: ERR_REASON_EXISTING_ANTI_AFFINITY,
            PARSE_ERROR: parse,
        }
        return [text[code] for code in codes]

    def unresolvable_mask(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> np.ndarray:
        codes = self._codes(pod, nodes)[np.asarray(failed, dtype=np.intp)]
        return np.isin(codes, _UNRESOLVABLE)

    # ---- score -----------------------------------------------------------
    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        own = pod.pod_affinity
        preferred_errors = (
            [] if own is None else [e for e in own.errors if e.startswith("preferred")]
        )
        has_own = own is not None and (own.has_preferred or bool(preferred_errors))
        if self.ignore_preferred_of_existing and not has_own:
            return np.zeros(nodes.n, np.int64)
        if own is not None and own.errors:
            # upstream's PreScore cannot build the pod's terms and fails the cycle
            raise InvalidInput("; ".join(own.errors), "Pod")
        if nodes.counts_by_domain:
            found = self._raw_by_domain(pod, nodes, own)
            return zero_scores(nodes.n) if found is None else min_max_normalize(*found)
        # the weighted counts, summed; None while nothing counted (no zeros array)
        raw: np.ndarray | None = None
        parts = []
        if own is not None:
            for weight, term in own.preferred_affinity:
                parts.append((weight, nodes.pods_matching((term,), term.topology_key)[0]))
            for weight, term in own.preferred_anti_affinity:
                parts.append((-weight, nodes.pods_matching((term,), term.topology_key)[0]))
        if self.hard_weight > 0:
            for _, _, counts in nodes.pods_carrying(POD_AFFINITY_REQUIRED, pod):
                parts.append((self.hard_weight, counts))
        for weight, _, counts in nodes.pods_carrying(POD_AFFINITY_PREFERRED, pod):
            parts.append((weight, counts))
        for weight, _, counts in nodes.pods_carrying(POD_ANTI_AFFINITY_PREFERRED, pod):
            parts.append((-weight, counts))
        for weight, counts in parts:
            part = np.int64(weight) * counts  # a new array: added to in place below
            if raw is None:
                raw = part
            else:
                raw += part
        return zero_scores(nodes.n) if raw is None else min_max_normalize(raw)

    def _raw_by_domain(
        self, pod: PodInfo, nodes: NodeView, own: Any
    ) -> tuple[np.ndarray, int] | None:
        """(the summed weighted counts per candidate, the gcd of the weights: it
        divides every sum), None when nothing counts. The weighted terms are summed
        per domain of each topology key, one gather per key."""
        by_key: dict[str, list[tuple[int, np.ndarray]]] = {}
        if own is not None:
            for weight, term in own.preferred_affinity:
                key = term.topology_key
                found = nodes.pods_matching_by_domain((term,), key)
                by_key.setdefault(key, []).append((weight, found))
            for weight, term in own.preferred_anti_affinity:
                key = term.topology_key
                found = nodes.pods_matching_by_domain((term,), key)
                by_key.setdefault(key, []).append((-weight, found))
        for kind, weight, term, found in nodes.pods_carrying_by_domain(self._score_kinds, pod):
            if kind == POD_AFFINITY_REQUIRED:
                weight = self.hard_weight
            elif kind == POD_ANTI_AFFINITY_PREFERRED:
                weight = -weight
            by_key.setdefault(term.topology_key, []).append((weight, found))
        raw = None
        factor = 0
        for key, parts in by_key.items():
            slots = nodes.domain_slots(key)
            total = None
            for weight, found in parts:
                factor = gcd(factor, weight)
                part = found[:slots] * np.int64(weight)  # a new array: added to in place
                if total is None:
                    total = part
                else:
                    total += part
            counts = nodes.per_candidate(total, key)  # type: ignore[arg-type]
            if raw is None:
                raw = counts  # a new array: added to in place below
            else:
                raw += counts
        if raw is None:
            return None
        return raw, factor or 1  # weights of 0 (hardPodAffinityWeight 0 is skipped)


_ANTI_REQUIRED = (POD_ANTI_AFFINITY_REQUIRED,)


def _summed(arrays: list[np.ndarray], slots: int) -> np.ndarray:
    """The per-domain arrays added up over their first `slots` entries (the one
    array itself when it is alone: read only, like every array here)."""
    if len(arrays) == 1:
        return arrays[0]
    total = arrays[0][:slots] + arrays[1][:slots]
    for more in arrays[2:]:
        total += more[:slots]
    return total
