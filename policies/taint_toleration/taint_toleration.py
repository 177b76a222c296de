"""TaintToleration: filter on NoSchedule/NoExecute taints, score on PreferNoSchedule.

Mirrors kube-scheduler's plugin:

- Filter: a node fails when one of its NoSchedule or NoExecute taints is
  tolerated by none of the pod's tolerations; the reason names the first such
  taint, "node(s) had untolerated taint {key: value}". UnschedulableAndUnresolvable.
- Score: the number of PreferNoSchedule taints the pod does not tolerate
  (counting only tolerations with an empty or PreferNoSchedule effect), then
  DefaultNormalizeScore(100, reverse=True): fewest intolerable taints score 100.

Nodes share few distinct taint sets (`NodeView.taint_sets`), so each set is
judged once per distinct tuple of tolerations, and the verdicts are spread to
the nodes by set id. Verdicts are cached per (tolerations, taint epoch) and
extended as new sets appear, which is what the epoch promises is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from cachetools import LRUCache

from extender.api import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    NodeView,
    PodInfo,
    Policy,
    Taint,
    Toleration,
    default_normalize_score,
    tolerations_tolerate,
)

FILTER_EFFECTS = (NO_SCHEDULE, NO_EXECUTE)


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


class _SetVerdicts:
    """Per taint set id: blocked?, the reason, the intolerable PreferNoSchedule count."""

    __slots__ = ("count", "blocked", "reasons", "prefer")

    def __init__(self) -> None:
        self.count = 0
        self.blocked = np.zeros(0, dtype=bool)
        self.reasons: list[str] = []
        self.prefer = np.zeros(0, dtype=np.int64)

    def extend(
        self, tolerations: tuple[Toleration, ...], sets: Sequence[tuple[Taint, ...]]
    ) -> None:
        """Judge the sets not judged yet (sets are only ever appended within an epoch)."""
        start, upto = self.count, len(sets)
        if upto <= start:
            return
        blocked, prefer = [], []
        for taints in sets[start:upto]:
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
    takes_args = False

    CACHE_SIZE = 1024

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        self._lock = threading.Lock()
        self._cache: LRUCache = LRUCache(maxsize=self.CACHE_SIZE)

    def _verdicts(self, pod: PodInfo, nodes: NodeView) -> tuple[np.ndarray, _SetVerdicts]:
        ids, sets, epoch = nodes.taint_sets()
        tolerations = tuple(pod.tolerations)
        key = (tolerations, epoch)
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._cache[key] = _SetVerdicts()
            if entry.count < len(sets):
                entry.extend(tolerations, sets)
        return ids, entry

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
