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
extended as new sets appear, which is what the epoch promises is safe. The
tolerations are indexed once (`TolerationIndex`), so judging a taint costs the
same with 1 toleration or 10,000: with full Node objects every node may bring
its own taint set, and a request costs tolerations + taints, never their product.
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
    STATIC,
    NodeView,
    PodInfo,
    Policy,
    Taint,
    Toleration,
    TolerationIndex,
    default_normalize_score,
)

FILTER_EFFECTS = (NO_SCHEDULE, NO_EXECUTE)


def first_untolerated_taint(
    taints: Sequence[Taint], tolerations: Sequence[Toleration] | TolerationIndex
) -> Taint | None:
    """FindMatchingUntoleratedTaint restricted to NoSchedule/NoExecute taints."""
    index = _index(tolerations)
    for taint in taints:
        if taint.effect in FILTER_EFFECTS and not index.tolerates(taint):
            return taint
    return None


def count_intolerable_prefer_no_schedule(
    taints: Sequence[Taint], tolerations: Sequence[Toleration] | TolerationIndex
) -> int:
    """The raw score: PreferNoSchedule taints that no usable toleration tolerates.

    Pass `prefer_index(tolerations)` to judge many taint sets: it is built once."""
    index = tolerations if isinstance(tolerations, TolerationIndex) else prefer_index(tolerations)
    return sum(
        1 for taint in taints if taint.effect == PREFER_NO_SCHEDULE and not index.tolerates(taint)
    )


def prefer_index(tolerations: Sequence[Toleration]) -> TolerationIndex:
    """The tolerations the score counts: those with an empty or PreferNoSchedule effect."""
    return TolerationIndex(t for t in tolerations if t.effect in ("", PREFER_NO_SCHEDULE))


def _index(tolerations: Sequence[Toleration] | TolerationIndex) -> TolerationIndex:
    return tolerations if isinstance(tolerations, TolerationIndex) else TolerationIndex(tolerations)


def untolerated_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


class _SetVerdicts:
    """Per taint set id: blocked?, the reason, the intolerable PreferNoSchedule count.

    Only the sets some request's candidates carry are judged (`judged`), each
    once, against the tolerations indexed once: a request costs its candidates
    plus the taints of the distinct sets it brings that were not judged yet,
    whatever the tolerations' number or the store's older sets."""

    __slots__ = ("count", "judged", "blocked", "reasons", "prefer", "filter_index", "score_index")

    def __init__(self, tolerations: tuple[Toleration, ...]) -> None:
        self.count = 0  # every set below this id is judged
        self.judged = np.zeros(0, dtype=bool)
        self.blocked = np.zeros(0, dtype=bool)
        self.reasons: list[str] = []
        self.prefer = np.zeros(0, dtype=np.int64)
        self.filter_index = TolerationIndex(tolerations)
        self.score_index = prefer_index(tolerations)

    def extend(self, ids: np.ndarray, sets: Sequence[tuple[Taint, ...]]) -> None:
        """Judge the sets among `ids` not judged yet (sets are only ever appended
        within an epoch, so a judged id keeps its verdict)."""
        upto = len(sets)
        have = len(self.judged)
        if upto > have:
            extra = upto - have
            self.judged = np.concatenate([self.judged, np.zeros(extra, dtype=bool)])
            self.blocked = np.concatenate([self.blocked, np.zeros(extra, dtype=bool)])
            self.prefer = np.concatenate([self.prefer, np.zeros(extra, dtype=np.int64)])
            self.reasons.extend([""] * extra)
        pending = ~self.judged[ids]
        if pending.any():
            for sid in np.unique(ids[pending]).tolist():
                self._judge(sid, sets[sid])
        # Sets no candidate brought (a node's old taints, say) are judged too while
        # that stays within the request's own size: once every set is judged, later
        # requests take the O(1) path in TaintToleration._verdicts.
        budget = len(ids) + 64
        for sid in np.flatnonzero(~self.judged[:upto])[:budget].tolist():
            budget -= len(sets[sid]) + 1
            if budget < 0:
                break
            self._judge(sid, sets[sid])
        if self.judged[:upto].all():
            self.count = upto

    def _judge(self, sid: int, taints: tuple[Taint, ...]) -> None:
        bad = first_untolerated_taint(taints, self.filter_index)
        self.blocked[sid] = bad is not None
        self.reasons[sid] = "" if bad is None else untolerated_reason(bad)
        self.prefer[sid] = count_intolerable_prefer_no_schedule(taints, self.score_index)
        self.judged[sid] = True


class TaintToleration(Policy):
    name = "TaintToleration"
    depends_on = STATIC  # node taints and the pod's tolerations
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
                entry = self._cache[key] = _SetVerdicts(tolerations)
            if entry.count < len(sets):
                entry.extend(ids, sets)
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
        return self.normalize_score(pod, nodes, self.raw_score(pod, nodes))

    def raw_score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        """Score: the intolerable PreferNoSchedule taints of each node."""
        if nodes.n == 0:
            return np.zeros(0, dtype=np.int64)
        ids, entry = self._verdicts(pod, nodes)
        return entry.prefer[ids]

    def normalize_score(self, pod: PodInfo, nodes: NodeView, raw: np.ndarray) -> np.ndarray:
        """NormalizeScore: the fewest such taints score 100."""
        return default_normalize_score(raw, reverse=True)
