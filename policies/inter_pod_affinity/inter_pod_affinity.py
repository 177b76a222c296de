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
        codes = self._evaluate(pod, nodes)
        self._last = (pod, nodes, codes)
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
