"""TaintToleration: filter on NoSchedule/NoExecute taints, score on PreferNoSchedule.

Mirrors kube-scheduler's plugin and `k8s.io/api/core/v1` Toleration.ToleratesTaint:

- Filter: a node fails when one of its NoSchedule or NoExecute taints is
  tolerated by none of the pod's tolerations; the reason names the first such
  taint, "node(s) had untolerated taint {key: value}". UnschedulableAndUnresolvable.
- Score: the number of PreferNoSchedule taints the pod does not tolerate
  (counting only tolerations with an empty or PreferNoSchedule effect), then
  DefaultNormalizeScore(100, reverse=True): fewest intolerable taints score 100.

Nodes share few distinct taint sets, so each set is judged once per distinct
tuple of tolerations and the verdicts are spread to the nodes by set id. The
verdicts for the node table's (append-only) list of sets are cached and
extended as new sets appear.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from cachetools import LRUCache

from extender.errors import ConfigError
from extender.nodeinfo import Taint
from extender.podinfo import Toleration
from policies.base import MAX_NODE_SCORE, Policy

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
FILTER_EFFECTS = (NO_SCHEDULE, NO_EXECUTE)


def toleration_tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Toleration.ToleratesTaint: empty effect/key match any; "" operator means Equal."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator in ("", "Equal"):
        return toleration.value == taint.value
    return toleration.operator == "Exists"


def tolerations_tolerate(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """TolerationsTolerateTaint: whether any of the tolerations tolerates the taint."""
    return any(toleration_tolerates(t, taint) for t in tolerations)


def first_untolerated_taint(
    taints: Sequence[Taint], tolerations: Sequence[Toleration]
) -> Taint | None:
    """FindMatchingUntoleratedTaint restricted to NoSchedule/NoExecute taints."""
    for taint in taints:
        if taint.effect in FILTER_EFFECTS and not tolerations_tolerate(tolerations, taint):
            return taint
    return None


def count_intolerable_prefer_no_schedule(
    taints: Sequence[Taint], tolerations: Sequence[Toleration]
) -> int:
    """The raw score: PreferNoSchedule taints that no usable toleration tolerates."""
    usable = [t for t in tolerations if t.effect in ("", PREFER_NO_SCHEDULE)]
    return sum(
        1
        for taint in taints
        if taint.effect == PREFER_NO_SCHEDULE and not tolerations_tolerate(usable, taint)
    )


def untolerated_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


def default_normalize_score(
    raw: np.ndarray, reverse: bool, max_priority: int = MAX_NODE_SCORE
) -> np.ndarray:
    """helper.DefaultNormalizeScore in int64: scale [0, max] to [0, max_priority].

    All-zero input stays 0 (or becomes max_priority when reversed), as upstream.
    """
    scores = np.asarray(raw, dtype=np.int64)
    if scores.size == 0:
        return scores.copy()
    max_count = int(scores.max())
    if max_count <= 0:
        if reverse:
            return np.full(scores.shape, max_priority, dtype=np.int64)
        return scores.copy()
    scaled = (np.int64(max_priority) * scores) // np.int64(max_count)
    return np.int64(max_priority) - scaled if reverse else scaled


class _SetVerdicts:
    """Per taint set (by index in `sets`): blocked?, the reason, intolerable count."""

    __slots__ = ("sets", "count", "blocked", "reasons", "prefer")

    def __init__(self, sets: list[tuple[Taint, ...]]) -> None:
        self.sets = sets  # held so the list (and its id) stays alive while cached
        self.count = 0
        self.blocked = np.zeros(0, dtype=bool)
        self.reasons: list[str] = []
        self.prefer = np.zeros(0, dtype=np.int64)

    def extend(self, tolerations: tuple[Toleration, ...], upto: int) -> None:
        """Judge the sets self.count..upto-1 (sets are never modified, only appended)."""
        start = self.count
        if upto <= start:
            return
        blocked, prefer = [], []
        for taints in self.sets[start:upto]:
            bad = first_untolerated_taint(taints, tolerations)
            blocked.append(bad is not None)
            self.reasons.append("" if bad is None else untolerated_reason(bad))
            prefer.append(count_intolerable_prefer_no_schedule(taints, tolerations))
        self.blocked = np.concatenate([self.blocked, np.array(blocked, dtype=bool)])
        self.prefer = np.concatenate([self.prefer, np.array(prefer, dtype=np.int64)])
        self.count = upto


class TaintToleration(Policy):
    name = "TaintToleration"
    unresolvable = True

    CACHE_SIZE = 1024

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        if self.args:
            unknown = ", ".join(sorted(map(str, self.args)))
            raise ConfigError(f"TaintToleration takes no args, got: {unknown}")
        self._lock = threading.Lock()
        self._cache: LRUCache = LRUCache(maxsize=self.CACHE_SIZE)

    def _verdicts(self, pod: PodInfo, nodes: NodeView) -> tuple[np.ndarray, _SetVerdicts]:
        ids, sets = nodes.taint_sets()
        tolerations = tuple(pod.tolerations)
        key = (tolerations, id(sets))
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or entry.sets is not sets:
                entry = self._cache[key] = _SetVerdicts(sets)
            if entry.count < len(sets):
                entry.extend(tolerations, len(sets))
        return np.asarray(ids), entry

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if nodes.n == 0:
            return np.zeros(0, dtype=bool)
        ids, entry = self._verdicts(pod, nodes)
        return ~entry.blocked[ids]

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        ids, entry = self._verdicts(pod, nodes)
        return [entry.reasons[s] for s in ids[np.asarray(failed, dtype=np.intp)].tolist()]

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if nodes.n == 0:
            return np.zeros(0, dtype=np.int64)
        ids, entry = self._verdicts(pod, nodes)
        return default_normalize_score(entry.prefer[ids], reverse=True)
