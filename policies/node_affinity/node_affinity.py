"""NodeAffinity: nodeSelector + required node affinity filter, preferred terms score.

Mirrors kube-scheduler's plugin:

- Filter: a node must match the scheduler-enforced `addedAffinity` required
  selector (reason "node(s) didn't match scheduler-enforced node affinity"),
  then the pod's `spec.nodeSelector` AND its required node affinity (reason
  "node(s) didn't match Pod's node affinity/selector"). UnschedulableAndUnresolvable.
- Score: the sum of the weights of the matching preferred terms, the pod's
  and `addedAffinity`'s, then DefaultNormalizeScore(100, reverse=False).

A pod's own terms are read lazily, as upstream: a required term that does not
parse matches no node (the other terms still count), while a preferred term
that does not parse makes the score fail with InvalidInput naming it, where
kube-scheduler's PreScore fails the pod's scheduling cycle. So does a negative
weight that would push a node's score below 0 (upstream's framework refuses
that score). `addedAffinity` is configuration and is parsed strictly.

Args are NodeAffinityArgs: `{addedAffinity: {requiredDuringSchedulingIgnoredDuringExecution,
preferredDuringSchedulingIgnoredDuringExecution}}`, validated and compiled once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.api import (
    MAX_NODE_SCORE,
    STATIC,
    ConfigError,
    InvalidInput,
    NodeView,
    PodInfo,
    Policy,
    compile_node_selector,
    compile_preferred_terms,
    default_normalize_score,
)

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"

ADDED_AFFINITY = "addedAffinity"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def parse_node_affinity_args(args: dict[str, Any]) -> tuple[Any, Any]:
    """(compiled added required selector or None, compiled added preferred terms or None).

    Raises ConfigError listing every problem, each with its field path, as
    ValidateNodeAffinityArgs aggregates them.
    """
    unknown = sorted(str(k) for k in args if k != ADDED_AFFINITY)
    if unknown:
        raise ConfigError(
            f"NodeAffinity args: unknown field(s) {', '.join(unknown)}; "
            f"the only field is {ADDED_AFFINITY}"
        )
    added = args.get(ADDED_AFFINITY)
    if added is None:
        return None, None
    if not isinstance(added, dict):
        raise ConfigError(
            f"NodeAffinity args: {ADDED_AFFINITY} must be a NodeAffinity object, "
            f"got {type(added).__name__}"
        )
    unknown = sorted(str(k) for k in added if k not in (REQUIRED, PREFERRED))
    if unknown:
        raise ConfigError(
            f"NodeAffinity args: unknown field(s) in {ADDED_AFFINITY}: {', '.join(unknown)}; "
            f"expected {REQUIRED} and/or {PREFERRED}"
        )
    errors: list[str] = []
    required = preferred = None
    if added.get(REQUIRED) is not None:
        try:
            required = compile_node_selector(added[REQUIRED], f"{ADDED_AFFINITY}.{REQUIRED}")
        except InvalidInput as exc:
            errors.append(str(exc))
    if added.get(PREFERRED) is not None:
        try:
            preferred = compile_preferred_terms(added[PREFERRED], f"{ADDED_AFFINITY}.{PREFERRED}")
        except InvalidInput as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("NodeAffinity args: " + "; ".join(errors))
    return required, preferred


class NodeAffinity(Policy):
    name = "NodeAffinity"
    depends_on = STATIC  # node labels and the pod's selectors
    unresolvable = True

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        self.added_required, self.added_preferred = parse_node_affinity_args(self.args)

    def _enforced_mask(self, nodes: NodeView) -> np.ndarray | None:
        if self.added_required is None:
            return None
        return nodes.label_mask(self.added_required)

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        ok = np.ones(nodes.n, dtype=bool)
        for selector in (self.added_required, pod.node_selector, pod.required_affinity):
            if selector is not None:
                ok &= nodes.label_mask(selector)
        return ok

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        enforced = self._enforced_mask(nodes)
        failed = np.asarray(failed, dtype=np.intp)
        if enforced is None:
            return [ERR_REASON_POD] * len(failed)
        return [ERR_REASON_POD if ok else ERR_REASON_ENFORCED for ok in enforced[failed].tolist()]

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        return self.normalize_score(pod, nodes, self.raw_score(pod, nodes))

    def raw_score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        """Score: the summed weights of the preferred terms each node matches."""
        own = pod.preferred_affinity
        if own is not None and own.errors:
            raise InvalidInput(
                "; ".join(f"{path}: {message}" for path, message in own.errors), "Pod"
            )
        raw = np.zeros(nodes.n, dtype=np.int64)
        for preferred in (self.added_preferred, own):
            if preferred is not None:
                raw += nodes.preferred_weights(preferred)
        return raw

    def normalize_score(self, pod: PodInfo, nodes: NodeView, raw: np.ndarray) -> np.ndarray:
        """NormalizeScore: the best sum scores 100."""
        if nodes.n and int(raw.min()) < 0:
            return _with_negative_weights(raw, nodes)
        return default_normalize_score(raw, reverse=False)


def _with_negative_weights(raw: np.ndarray, nodes: NodeView) -> np.ndarray:
    """DefaultNormalizeScore of sums some negative weights made negative.

    Go's division truncates toward zero, so a small negative sum may still
    normalize to 0; a node whose score stays below 0 fails the request, as
    kube-scheduler's framework fails a plugin returning a score out of range.
    """
    max_count = int(raw.max())
    if max_count > 0:
        scaled = MAX_NODE_SCORE * raw
        scores = np.where(scaled < 0, -(-scaled // max_count), scaled // max_count)
    else:
        scores = raw
    below = np.flatnonzero(scores < 0)
    if below.size:
        first = int(below[0])
        raise InvalidInput(
            f"negative preferred node affinity weights give node {nodes.names[first]!r} "
            f"the score {int(scores[first])}, outside 0..{MAX_NODE_SCORE}",
            "Pod",
        )
    return scores
