"""Filter verdicts remembered between a pod's /filter and its /prioritize and /bind."""

from __future__ import annotations

import numpy as np

from extender.cache.state import ClusterState
from extender.model.pod import PodInfo


class FilterVerdicts:
    """The last /filter verdicts per pod, so the /prioritize that follows can skip
    re-running the filters, and the /bind after it re-checking the chosen node.
    Reused only when nothing a filter reads has changed since (the state
    generation), the pod's spec is the same parsed spec, and every node asked
    about was filtered. Call with the state lock held."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._by_uid: dict[str, tuple] = {}

    def record(
        self,
        state: ClusterState,
        pod: PodInfo,
        ids: np.ndarray,
        passed: np.ndarray,
        passed_ids: np.ndarray | None = None,
    ) -> None:
        """Keep the candidates and those that passed as they are: the /prioritize that
        follows usually resolves to the same `ids` array, or to `passed_ids` (the ids
        of the nodes that passed, as the state resolves the names /filter answered),
        and only another one needs them spread by node id (at lookup)."""
        if not pod.uid:
            return
        memo = self._by_uid
        memo.pop(pod.uid, None)
        if len(memo) >= self.size:
            del memo[next(iter(memo))]
        memo[pod.uid] = (state.generation, state.table, pod.requests, ids, passed, passed_ids)

    def _current(self, state: ClusterState, pod: PodInfo) -> tuple | None:
        """The pod's entry if it still holds: same generation, table and parsed spec."""
        entry = self._by_uid.get(pod.uid)
        if entry is None:
            return None
        generation, table, requests = entry[:3]
        if (
            generation != state.generation
            or table is not state.table
            or requests is not pod.requests
        ):
            return None
        return entry

    def lookup(self, state: ClusterState, pod: PodInfo, ids: np.ndarray) -> np.ndarray | None:
        """The positions in `ids` that passed every filter, or None when not known."""
        entry = self._current(state, pod)
        if entry is None:
            return None
        _, table, _, filtered, passed, passed_ids = entry
        if filtered is ids:
            return passed
        if passed_ids is ids:  # /prioritize names exactly the nodes /filter passed
            return np.arange(len(ids))
        capacity = table.capacity
        evaluated = np.zeros(capacity, bool)
        evaluated[filtered] = True
        if len(ids) and (int(ids.max()) >= capacity or not evaluated[ids].all()):
            return None
        passing = np.zeros(capacity, bool)
        passing[filtered[passed]] = True
        return np.flatnonzero(passing[ids])

    def passed_now(self, state: ClusterState, pod: PodInfo, node_id: int) -> bool:
        """Whether the pod's last /filter passed node `node_id` and nothing a filter
        reads has changed since: then every filter would pass it again, and /bind
        need not ask (kube-scheduler's usual filter, prioritize, bind of one pod)."""
        entry = self._current(state, pod)
        if entry is None:
            return False
        _, _, _, filtered, passed, passed_ids = entry
        if passed_ids is None:
            # every candidate passed (the usual /filter): its ids, without a gather
            passed_ids = filtered if len(passed) == len(filtered) else filtered[passed]
        return node_id in passed_ids  # ndarray.__contains__: one C call
