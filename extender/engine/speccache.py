"""Answers of STATIC policies, kept per pod spec (docs/PERFORMANCE.md: The spec cache).

Pods come from a few dozen Deployments, so the pods of one spec ask the same
questions of the same nodes again and again. A policy that declares
`depends_on = STATIC` answers from the pod's spec and the nodes' own objects
only, so its answers for one spec stay right until a node object changes, which
bumps the node table's `static_version`. This module holds, per spec, what the
engine computed for the leading run of static filters (their verdict and, for
a failing node, the first failing filter, its reason and whether it is
unresolvable, all by node id, filled in as requests name nodes not judged
yet, so any candidate set, a rotating window of nodes included, is answered
by indexing), the raw values of static score policies that split Score from
NormalizeScore (`raw_score`: a node's value on its own, so kept by node id
and filled in the same way; only the normalization runs per request), and the
static score columns of the last few sets of nodes scored (scores are
normalized over exactly the nodes scored, so they are reused only for the
same set; a few, because a dynamic filter such as PodTopologySpread's zone
skew or a per-host anti-affinity takes turns leaving out different nodes, and
one set would miss on every turn).

Bounded in entries and estimated bytes (a `Memo`), emptied whenever the static
version moves. Not thread-safe: the engine is called with the state lock held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from extender.model.memo import Memo
from extender.model.pod import PodInfo

SPEC_ENTRIES = 1024
SPEC_BYTES = 64 * 1024 * 1024
_ENTRY_BYTES = 256  # the entry's own objects
_FAILED_BYTES = 120  # one filed failure in a remembered answer (a dict slot, its key)
SCORE_SETS = 4  # sets of scored nodes kept per spec, the most recently used first


def object_members(mapping: dict[str, str]) -> bytes:
    """The members of `mapping` encoded as in a JSON object, without its braces."""
    return orjson.dumps(mapping)[1:-1]


class StaticVerdicts:
    """One spec's static answers at one static version of one node table.

    Filter verdicts are by node id and filled in as requests name nodes not
    judged yet, so no request judges more nodes than it names (a stream of new
    specs naming one node each costs one node each, not the cluster)."""

    __slots__ = (
        "evaluated",
        "passing",
        "first",
        "reasons",
        "hopeless",
        "failing",
        "checked_ids",
        "last_ids",
        "last_mask",
        "last",
        "last_encoded",
        "scored",
        "capacity",
        "raw",
    )

    def __init__(self, capacity: int, filters: int) -> None:
        """Room for node ids below `capacity`; `filters` is how many leading filters
        are static (0: the entry keeps score columns only)."""
        size = capacity if filters else 0
        # by node id: judged yet; passes every static filter of the prefix; else the
        # index of the first failing one, its reason, and whether it is unresolvable
        self.evaluated = np.zeros(size, bool)
        self.passing = np.zeros(size, bool)
        self.first = np.full(size, -1, np.int16)
        self.reasons = np.full(size, None, object)
        self.hopeless = np.zeros(size, bool)
        self.failing: set[int] = set()  # the filters that failed some node
        self.checked_ids: np.ndarray | None = None  # candidates known to be all judged
        # the last candidate ids answered with reasons, that answer's pass mask, and its
        # failures either as dicts (`answer`) or as encoded JSON object members
        # (`answer_encoded`, the wire's): one form is kept, not both (at 5,000 nodes a
        # spec's failures are thousands of entries, and 48 specs keep theirs)
        self.last_ids: np.ndarray | None = None
        self.last_mask: np.ndarray | None = None
        self.last: tuple[np.ndarray, dict[str, str], dict[str, str]] | None = None
        self.last_encoded: tuple[bytes, bytes] | None = None
        # the last sets of nodes scored, most recent first: (their ids, the ids' bytes,
        # the static policies' weighted sum there and the values of those that do not
        # split their score)
        self.scored: list[tuple[np.ndarray, bytes, dict[int, np.ndarray]]] = []
        # by node id, per static score policy that splits Score from NormalizeScore
        # (`raw_score`): its raw value, and whether that was computed yet
        self.capacity = capacity
        self.raw: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def nbytes(self) -> int:
        size = _ENTRY_BYTES + 13 * len(self.passing)  # 4 bools, an int16, a pointer per id
        if self.last_mask is not None:
            size += self.last_mask.nbytes
        if self.last is not None:
            size += _FAILED_BYTES * (len(self.last[1]) + len(self.last[2]))
        if self.last_encoded is not None:
            size += len(self.last_encoded[0]) + len(self.last_encoded[1])
        for ids, _, scores in self.scored:
            size += 2 * ids.nbytes + sum(v.nbytes for v in scores.values())
        return size + 9 * self.capacity * len(self.raw)  # an int64 and a bool per id

    def missing(self, ids: np.ndarray, contiguous: bool) -> np.ndarray | None:
        """The ids among the candidates `ids` not judged yet; None when all are."""
        if ids is self.checked_ids or ids is self.last_ids:
            return None
        done = self.evaluated[: len(ids)] if contiguous else self.evaluated[ids]
        if done.all():
            self.checked_ids = ids
            return None
        return ids[~done]

    def judged(self, ids: np.ndarray, passing: np.ndarray) -> None:
        """Record that the nodes `ids` were judged; `passing` says which passed."""
        self.evaluated[ids] = True
        self.passing[ids] = passing

    def failed(self, k: int, ids: np.ndarray, texts: list[str], hopeless: np.ndarray) -> None:
        """Record that filter `k` was the first to fail the nodes `ids`."""
        self.failing.add(k)
        self.first[ids] = k
        self.reasons[ids] = texts
        self.hopeless[ids] = hopeless

    def answer(
        self, ids: np.ndarray, contiguous: bool, names: Any, reasons: bool
    ) -> tuple[np.ndarray, dict[str, str], dict[str, str]]:
        """(pass mask over the candidates `ids`, FailedNodes, FailedAndUnresolvableNodes)
        of the static prefix, filed in the order the uncached engine files them: by
        filter, then by position. `names` gives the candidates' names (called only
        when some fail). Every candidate must have been judged. The mask is
        read-only and the dicts are the caller's own."""
        if not reasons:
            n = len(ids)
            mask = self.passing[:n] if contiguous else self.passing[ids]
            mask.flags.writeable = False
            return mask, {}, {}
        mask, failed, unresolvable = self._last_answer(ids, contiguous, names)
        return mask, failed.copy(), unresolvable.copy()

    def answer_encoded(
        self, ids: np.ndarray, contiguous: bool, names: Any
    ) -> tuple[np.ndarray, bytes, bytes]:
        """`answer` with reasons, its two dicts as the members of a JSON object, encoded
        (`"name":"reason",...`, b"" for none): a spec's pods answer the same static
        failures, hundreds of them, again and again, and their encoding is kept."""
        if self.last_ids is ids and self.last_encoded is not None:
            assert self.last_mask is not None
            return self.last_mask, *self.last_encoded
        if self.last_ids is ids and self.last is not None:
            mask, failed, unresolvable = self.last
        else:
            mask, failed, unresolvable = self._fresh_answer(ids, contiguous, names)
        self.last_ids, self.last_mask, self.last = ids, mask, None
        self.last_encoded = (object_members(failed), object_members(unresolvable))
        return mask, *self.last_encoded

    def _last_answer(
        self, ids: np.ndarray, contiguous: bool, names: Any
    ) -> tuple[np.ndarray, dict[str, str], dict[str, str]]:
        """The answer with reasons for the candidates `ids`, kept as `last` (not copied)."""
        if self.last_ids is ids and self.last is not None:
            return self.last
        self.last = self._fresh_answer(ids, contiguous, names)
        self.last_ids, self.last_mask, self.last_encoded = ids, self.last[0], None
        return self.last

    def _fresh_answer(
        self, ids: np.ndarray, contiguous: bool, names: Any
    ) -> tuple[np.ndarray, dict[str, str], dict[str, str]]:
        """The answer with reasons for the candidates `ids`, filed in order."""
        n = len(ids)
        mask = self.passing[:n] if contiguous else self.passing[ids]
        mask.flags.writeable = False
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        bad = np.flatnonzero(~mask)
        if len(bad):
            bad_ids = ids[bad]
            if len(self.failing) > 1:
                order = np.argsort(self.first[bad_ids], kind="stable")
                bad, bad_ids = bad[order], bad_ids[order]
            texts = self.reasons[bad_ids].tolist()
            for name, text, hopeless in zip(
                names()[bad].tolist(), texts, self.hopeless[bad_ids].tolist()
            ):
                (unresolvable if hopeless else failed)[name] = text
        return mask, failed, unresolvable

    def scores_for(self, ids: np.ndarray) -> dict[int, np.ndarray] | None:
        """The static score columns cached for exactly the nodes `ids`, else None."""
        key = None
        for k, (known, known_key, scores) in enumerate(self.scored):
            # the scored nodes are a fresh array each request (the ones that passed): their
            # bytes compare in one memcmp, where np.array_equal costs ~10 us of calls
            if known is ids:
                return scores
            if len(known) == len(ids):
                if key is None:
                    key = ids.tobytes()
                if key == known_key:
                    if k:
                        self.scored.insert(0, self.scored.pop(k))
                    return scores
        return None

    def raw_scores(
        self, k: int, ids: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Score policy `k`'s raw values at the nodes `ids`; `compute(missing)` gives
        them for the sorted unique ids not kept yet.

        A raw value depends on its node alone (`raw_score`'s promise), so it is kept
        by node id and serves any later set of scored nodes; only the policy's
        normalization runs per request."""
        kept = self.raw.get(k)
        if kept is None:
            kept = self.raw[k] = (
                np.zeros(self.capacity, np.int64),
                np.zeros(self.capacity, bool),
            )
        values, known = kept
        done = known[ids]
        if np.count_nonzero(done) != len(ids):
            missing = np.unique(ids[~done])
            values[missing] = compute(missing)
            known[missing] = True
        return values[ids]

    def keep_scores(self, ids: np.ndarray, scores: dict[int, np.ndarray]) -> None:
        """Keep the static score columns computed for the nodes `ids` (the least
        recently used set goes past SCORE_SETS)."""
        self.scored.insert(0, (ids, ids.tobytes(), scores))
        del self.scored[SCORE_SETS:]


class SpecCache:
    """StaticVerdicts per pod spec (`PodInfo.spec_id`), for the current static version."""

    def __init__(self, max_entries: int = SPEC_ENTRIES, max_bytes: int = SPEC_BYTES) -> None:
        self._memo = Memo("spec_verdicts", max_entries, max_bytes)
        self._version: int | None = None
        self.hits = 0  # requests answered from a spec's cached static filter verdicts
        self.misses = 0  # requests that evaluated the static filters over every node
        self.score_hits = 0  # requests that reused a spec's static score columns
        self.score_misses = 0

    def __len__(self) -> int:
        return len(self._memo)

    def get(self, pod: PodInfo, version: int | None) -> StaticVerdicts | None:
        """The spec's entry at `version`; None when there is none or none may be kept
        (a pod built by hand, or a view with its own node objects: version None)."""
        if not pod.spec_id or version is None:
            return None
        if version != self._version:
            self._memo.clear()  # a node object changed: every answer may have
            self._version = version
            return None
        return self._memo.get(pod.spec_id)

    def put(self, pod: PodInfo, version: int, entry: StaticVerdicts) -> None:
        """Store (or re-charge, after it grew) the spec's entry at `version`."""
        if version != self._version:
            self._memo.clear()
            self._version = version
        self._memo.put(pod.spec_id, entry, entry.nbytes())

    def clear(self) -> None:
        self._memo.clear()
        self._version = None

    def stats(self) -> dict[str, float]:
        """Hits and misses, for /metrics (`register_source`)."""
        return {
            "spec_cache_hits": self.hits,
            "spec_cache_misses": self.misses,
            "spec_cache_score_hits": self.score_hits,
            "spec_cache_score_misses": self.score_misses,
        }
