"""The engine: runs the configured policies over the candidates of one request.

Filters run in the configured order over the whole candidate view (each one a
few vector operations); a node's reason is the first filter it fails, as in
kube-scheduler. Scores run only over the nodes that passed every filter, and
are combined with integer arithmetic into the extender's 0..10 scale.

Policies that declare `depends_on = STATIC` are answered from the spec cache
(engine/speccache.py) for every pod of a spec seen before at the same node
objects: the leading run of static filters by node id, static score columns for
the same set of scored nodes. The answers are exactly the uncached engine's.

Every policy's answer goes through `extender.framework.checks` unless the
registry trusts it (podsift's own built-ins): a plugin that returns the wrong
thing fails the request with a PolicyError naming it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from extender.cache.view import NodeView, StateView
from extender.engine.config import PolicyConfiguration
from extender.engine.speccache import SpecCache, StaticVerdicts
from extender.framework import registry
from extender.framework.checks import (
    checked_filter,
    checked_raw,
    checked_reasons,
    checked_scores,
    checked_unresolvable,
)
from extender.framework.constants import all_pass, zero_scores
from extender.framework.policy import MAX_NODE_SCORE, STATIC, FilterPolicy, ScorePolicy, depends_on
from extender.model.pod import PodInfo

MAX_EXTENDER_PRIORITY = 10  # kube-scheduler's extender scores are 0..10
STATIC_SUM = -1  # key of the static score policies' weighted sum in a spec's kept scores


@dataclass
class FilterOutcome:
    passed: np.ndarray  # positions (into the view) of nodes that passed every filter
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason (resolvable)
    unresolvable: dict[str, str] = field(default_factory=dict)
    # with `Engine.filter(encoded=True)`: the failures the spec cache answered, as encoded
    # JSON object members that come before those of `failed` / `unresolvable`
    static_failed: bytes = b""
    static_unresolvable: bytes = b""


def final_scores(weighted: np.ndarray, weight_sum: int) -> np.ndarray:
    """weighted x 10 / (100 x sum of weights), rounding half up, in integers."""
    if weight_sum == 0:
        return np.zeros(len(weighted), np.int64)
    denom = 2 * MAX_NODE_SCORE * weight_sum
    return (weighted * (2 * MAX_EXTENDER_PRIORITY) + denom // 2) // denom


def best_threshold(top: int, weight_sum: int) -> int:
    """The least weighted total whose `final_scores` equals that of `top`: the nodes
    with the best 0..10 score are those at or above it (`final_scores` never
    decreases), found without the three vector operations of `final_scores`.

    final(w) >= F  <=>  20 w + d // 2 >= F d  <=>  w >= ceil((F d - d // 2) / 20),
    with d = 2 x 100 x weight_sum (floor division: exact for every integer w)."""
    if weight_sum == 0:
        return _MIN_INT64  # every final score is 0: every node ties
    denom = 2 * MAX_NODE_SCORE * weight_sum
    best = (top * (2 * MAX_EXTENDER_PRIORITY) + denom // 2) // denom
    return -((denom // 2 - best * denom) // (2 * MAX_EXTENDER_PRIORITY))


_MIN_INT64 = int(np.iinfo(np.int64).min)
_NONE = np.zeros(0, np.intp)  # no position passed (read-only: never written to)
_NONE.flags.writeable = False

# the filters whose question ClusterState's bind check asks itself (room, host ports)
_STATE_RECHECKS = frozenset({"NodeResourcesFit", "NodePorts"})


class _Filter:
    """A configured filter policy and how much the engine checks it."""

    __slots__ = ("policy", "name", "unresolvable", "per_node", "checked", "static")

    def __init__(self, policy: FilterPolicy, checked: bool) -> None:
        self.policy = policy
        self.name = policy.name
        self.unresolvable = bool(getattr(policy, "unresolvable", False))
        mask = getattr(policy, "unresolvable_mask", None)
        self.per_node = mask if callable(mask) else None
        self.checked = checked
        self.static = depends_on(policy) == STATIC

    def verdict(self, pod: PodInfo, view: NodeView) -> np.ndarray:
        ok = self.policy.filter(pod, view)
        return checked_filter(self.name, ok, view.n) if self.checked else ok

    def reasons(self, pod: PodInfo, view: NodeView, positions: np.ndarray) -> list[str]:
        texts = self.policy.reasons(pod, view, positions)
        return checked_reasons(self.name, texts, len(positions), strings=self.checked)

    def sort_failures(
        self,
        pod: PodInfo,
        view: NodeView,
        positions: np.ndarray,
        failed_names: list[str],
        texts: list[str],
        failed: dict[str, str],
        unresolvable: dict[str, str],
    ) -> None:
        """File each failed node under FailedNodes or FailedAndUnresolvableNodes."""
        if self.per_node is None:
            (unresolvable if self.unresolvable else failed).update(zip(failed_names, texts))
            return
        mask = self.per_node(pod, view, positions)
        if self.checked:
            mask = checked_unresolvable(self.name, mask, len(positions))
        if not np.count_nonzero(mask):  # the usual case: one dict update, no per-node branch
            failed.update(zip(failed_names, texts))
            return
        for name, text, hopeless in zip(failed_names, texts, mask.tolist()):
            (unresolvable if hopeless else failed)[name] = text

    def hopeless(self, pod: PodInfo, view: NodeView, positions: np.ndarray) -> np.ndarray:
        """bool per failed position: True where the failure is unresolvable."""
        if self.per_node is None:
            return np.full(len(positions), self.unresolvable)
        mask = self.per_node(pod, view, positions)
        if self.checked:
            mask = checked_unresolvable(self.name, mask, len(positions))
        return np.asarray(mask, bool)


class _Score:
    """A configured score policy, its weight, and how much the engine checks it."""

    __slots__ = ("policy", "name", "weight", "checked", "static", "raw", "normalize")

    def __init__(self, policy: ScorePolicy, weight: int, checked: bool) -> None:
        self.policy = policy
        self.name = policy.name
        self.weight = weight
        self.checked = checked
        self.static = depends_on(policy) == STATIC
        # a static policy that splits Score from NormalizeScore: its raw values are
        # kept per spec by node id (speccache), its normalization runs per request
        raw = getattr(policy, "raw_score", None)
        self.raw = raw if self.static and callable(raw) else None
        normalize = getattr(policy, "normalize_score", None)
        self.normalize = normalize if self.raw is not None and callable(normalize) else None

    def scores(
        self, entry: StaticVerdicts | None, k: int, pod: PodInfo, view: NodeView
    ) -> np.ndarray:
        """The policy's checked scores over `view`: from the raw values the spec's entry
        keeps when it splits its score and there is an entry, else `score`."""
        if self.raw is not None and entry is not None:
            values = self.from_raw(entry, k, pod, view)
        else:
            values = self.policy.score(pod, view)
        return checked_scores(self.name, values, view.n) if self.checked else values

    def from_raw(self, entry: StaticVerdicts, k: int, pod: PodInfo, view: NodeView) -> np.ndarray:
        """The policy's scores over `view` from the raw values the spec's entry keeps
        (computing the ones of nodes it has not seen), normalized over `view`."""
        raw_score = self.raw
        assert raw_score is not None

        def compute(missing: np.ndarray) -> np.ndarray:
            values = raw_score(pod, view._state_view(missing))
            return checked_raw(self.name, values, len(missing)) if self.checked else values

        raw = entry.raw_scores(k, view.ids, compute)
        if self.normalize is None:
            return raw
        return self.normalize(pod, view, raw)


class Engine:
    def __init__(
        self, config: PolicyConfiguration, *, check_all: bool = False, spec_cache: bool = True
    ) -> None:
        """Build every configured policy (ConfigError on unknown names or bad args).

        `check_all` checks the trusted built-ins' answers too (the tests use it);
        `spec_cache=False` evaluates every policy on every request."""
        self.config = config
        self.filters = [
            _Filter(
                registry.create(e.name, e.args, "filter"),
                check_all or not registry.is_trusted(e.name),
            )
            for e in config.filters
        ]
        self.scores = [
            _Score(
                registry.create(e.name, e.args, "score"),
                e.weight,
                check_all or not registry.is_trusted(e.name),
            )
            for e in config.scores
        ]
        self.weight_sum = sum(s.weight for s in self.scores)
        # the leading filters that declared STATIC: answered from the spec cache
        self.static_prefix = 0
        while self.static_prefix < len(self.filters) and self.filters[self.static_prefix].static:
            self.static_prefix += 1
        self.static_scores = any(s.static for s in self.scores)
        self.spec_cache: SpecCache | None = (
            SpecCache() if spec_cache and (self.static_prefix or self.static_scores) else None
        )

    # ---- the spec cache --------------------------------------------------
    def _static_entry(self, pod: PodInfo, view: NodeView) -> tuple[StaticVerdicts | None, int]:
        """(the spec's cached static answers for `view`'s node table, made empty if
        there are none yet, and the static version); (None, 0) when not cacheable:
        a pod built by hand, or a view that brings its own node objects."""
        cache = self.spec_cache
        if cache is None or not pod.spec_id:
            return None, 0
        version = view._static_version()
        if version is None:
            return None, 0
        entry = cache.get(pod, version)
        if entry is None:
            entry = StaticVerdicts(view._table_capacity(), self.static_prefix)
            cache.put(pod, version, entry)
        return entry, version

    def _judge_static(self, entry: StaticVerdicts, pod: PodInfo, view: NodeView) -> bool:
        """Run the static prefix over the candidates the entry has not judged yet and
        record the verdicts as the uncached engine files them: each node's first
        failing filter, its reason, whether unresolvable. False when none was missing."""
        missing = entry.missing(view.ids, view._contiguous)
        if missing is None:
            return False
        if len(missing) == view.n and type(view) is StateView:
            judged = view  # none judged yet: the request's own view, with its columns
        else:
            judged = view._state_view(np.unique(missing))
        passing = np.ones(judged.n, bool)
        for k in range(self.static_prefix):
            f = self.filters[k]
            ok = f.policy.filter(pod, judged)
            if f.checked:
                ok = checked_filter(f.name, ok, judged.n)
            positions = (passing > ok).nonzero()[0]  # passing and not ok: newly failed
            if len(positions):
                texts = f.reasons(pod, judged, positions)
                entry.failed(k, judged.ids[positions], texts, f.hopeless(pod, judged, positions))
            passing &= ok
            if not np.count_nonzero(passing):
                break
        entry.judged(judged.ids, passing)
        entry.checked_ids = view.ids
        return True

    def needs_owners(self) -> bool:
        """Whether a configured policy reads the owners' selectors (Services,
        ReplicationControllers, ReplicaSets, StatefulSets): live mode then watches them.
        A policy says so with a true `needs_owners` attribute (PodTopologySpread with
        default constraints)."""
        return any(getattr(p.policy, "needs_owners", False) for p in [*self.filters, *self.scores])

    # ---- filtering -------------------------------------------------------
    def bind_recheck(self) -> Callable[[PodInfo, NodeView], str] | None:
        """What /bind asks again of the chosen node, as a function of (pod, a view of
        that one node) giving the first failing reason ("" when it passes); None when
        there is nothing to ask.

        Why: a scheduler's /filter and its /bind are two requests, and another
        scheduler's bind may land between them. The state itself re-checks room and
        host ports (NodeResourcesFit's and NodePorts' questions, with their ignores);
        the other DYNAMIC filters (PodTopologySpread's skew, InterPodAffinity's
        required terms, a plugin's own) read what is placed too, so their answer may
        have changed; the STATIC ones cannot have."""
        rechecked = [f for f in self.filters if not f.static and f.name not in _STATE_RECHECKS]
        if not rechecked:
            return None
        positions = np.zeros(1, np.int64)

        def recheck(pod: PodInfo, view: NodeView) -> str:
            for f in rechecked:
                if not f.verdict(pod, view)[0]:
                    return f.reasons(pod, view, positions)[0]
            return ""

        return recheck

    def checks_room(self) -> bool:
        """Whether a pass of this engine asks every question the state's bind check
        asks (room and host ports): podsift's own NodeResourcesFit and NodePorts are
        configured filters. A pod `select` chose under the state lock then needs no
        second look at its node before `ClusterState.bind_chosen` (with the state's
        `bind_ignores` set from `fit_ignores`, as the Service sets it)."""
        trusted = {f.name for f in self.filters if not f.checked}
        return _STATE_RECHECKS <= trusted

    def fit_ignores(self) -> Callable[[str], bool] | None:
        """The resources NodeResourcesFit's filter leaves unchecked, as its `ignores`
        predicate (None when that filter is not configured), so that
        /bind's re-check of room refuses exactly what the filter refuses."""
        for f in self.filters:
            ignores = getattr(f.policy, "ignores", None)
            if f.name == "NodeResourcesFit" and callable(ignores):
                return ignores
        return None

    def filter(
        self, pod: PodInfo, view: NodeView, reasons: bool = True, encoded: bool = False
    ) -> FilterOutcome:
        """Run every filter; with `reasons`, name each failed node's first failing filter.

        With `encoded` (and reasons), the failures answered from the spec cache come
        as encoded JSON (`static_failed`, `static_unresolvable`) and the dicts hold the
        others only: the wire's /filter writes them without re-encoding them."""
        filters = self.filters
        entry = None
        static_failed = static_unresolvable = b""
        if self.static_prefix:
            entry, version = self._static_entry(pod, view)
        if entry is not None:
            cache = self.spec_cache
            assert cache is not None
            grew = self._judge_static(entry, pod, view)
            if grew:
                cache.misses += 1
            else:
                cache.hits += 1
            last, last_encoded = entry.last, entry.last_encoded
            if encoded and reasons:
                mask, static_failed, static_unresolvable = entry.answer_encoded(
                    view.ids, view._contiguous, lambda: view.names_array
                )
                failed, unresolvable = {}, {}
            else:
                mask, failed, unresolvable = entry.answer(
                    view.ids, view._contiguous, lambda: view.names_array, reasons
                )
            if grew or entry.last is not last or entry.last_encoded is not last_encoded:
                cache.put(pod, version, entry)  # charge what it keeps now
            passing = mask.copy()
            filters = filters[self.static_prefix :]
            if not np.count_nonzero(passing):
                return FilterOutcome(
                    _NONE,
                    failed,
                    unresolvable,
                    static_failed,
                    static_unresolvable,
                )
        else:
            passing = np.ones(view.n, bool)
            failed = {}
            unresolvable = {}
        names = None
        everyone = all_pass(view.n)  # a filter's shared "every node passes"
        for f in filters:
            # f.verdict(), inlined: the trusted path is one call per policy
            ok = f.policy.filter(pod, view)
            if f.checked:
                ok = checked_filter(f.name, ok, view.n)
            if ok is everyone and view.n:  # no node newly fails, the mask stays as it is
                continue
            if reasons:
                # passing and not ok: the nodes this filter fails first (one ufunc, and
                # `nonzero` without `flatnonzero`'s and `any`'s Python frames)
                positions = (passing > ok).nonzero()[0]
                if len(positions):
                    texts = f.reasons(pod, view, positions)
                    if names is None:
                        names = view.names_array
                    f.sort_failures(
                        pod, view, positions, names[positions].tolist(), texts, failed, unresolvable
                    )
            passing &= ok
            if not np.count_nonzero(passing):
                break
        return FilterOutcome(
            passing.nonzero()[0], failed, unresolvable, static_failed, static_unresolvable
        )

    # ---- scoring ---------------------------------------------------------
    def score(self, pod: PodInfo, view: NodeView) -> tuple[np.ndarray, list[np.ndarray]]:
        """Weighted totals over `view` (already the passing nodes) and each policy's scores."""
        return self._score(pod, view, None, 0, True)

    def _score(
        self,
        pod: PodInfo,
        view: NodeView,
        entry: StaticVerdicts | None,
        version: int,
        per_policy: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(weighted totals, each policy's scores when `per_policy`, else []): `score`,
        with the spec cache's entry when the caller has looked it up for this pod in
        this lock hold (`select`), else None.

        A set of scored nodes seen before is answered from the static policies'
        weighted sum kept for it; only the columns of static policies that do not
        split their score are kept with it (a split one's are a gather and a
        normalization of its raw values away, and `per_policy` is for /explain)."""
        if view.n == 0:
            weighted = np.zeros(0, np.int64)
            return weighted, [weighted for _ in self.scores] if per_policy else []
        cached = None
        if self.static_scores:
            if entry is None:
                entry, version = self._static_entry(pod, view)
            if entry is not None:
                assert self.spec_cache is not None
                cached = entry.scores_for(view.ids)
                if cached is None:
                    self.spec_cache.score_misses += 1
                else:
                    self.spec_cache.score_hits += 1
        # the static policies' weighted sum, kept: the first dynamic term is added to it
        # into a new array (no zeros to add both to)
        base = None if cached is None else cached[STATIC_SUM]
        weighted = np.zeros(view.n, np.int64) if base is None else None
        kept: dict[int, np.ndarray] = {}
        static_sum = np.zeros(view.n, np.int64) if entry is not None and cached is None else None
        values_of: list[np.ndarray] = []
        nothing = zero_scores(view.n)  # a score's shared "no node is preferred": adds 0
        for k, s in enumerate(self.scores):
            if cached is not None and s.static:
                if per_policy:
                    values_of.append(cached[k] if k in cached else s.scores(entry, k, pod, view))
                continue
            values = s.scores(entry, k, pod, view)
            if per_policy:
                values_of.append(values)
            if static_sum is not None and s.static and s.raw is None:
                kept[k] = values
            if values is nothing:
                continue
            term = values if s.weight == 1 else s.weight * values  # weight 1: no product
            if weighted is None:
                weighted = np.add(base, term, dtype=np.int64)
            else:
                weighted += term
            if static_sum is not None and s.static:
                static_sum += term
        if static_sum is not None:
            kept[STATIC_SUM] = static_sum
            entry.keep_scores(view.ids, kept)  # type: ignore[union-attr]
            self.spec_cache.put(pod, version, entry)  # type: ignore[union-attr]
        if weighted is None:  # every score policy static
            weighted = np.array(base, np.int64)  # a copy: the kept sum stays as it is
        return weighted, values_of

    def prioritize(
        self, pod: PodInfo, view: NodeView, passed: np.ndarray | None = None
    ) -> np.ndarray:
        """0..10 per node of `view`: 0 for nodes failing a filter.

        `passed` (positions in `view`) may be given when the filter verdicts are
        already known for this pod and this exact state."""
        if passed is None:
            passed = self.filter(pod, view, reasons=False).passed
        result = np.zeros(view.n, np.int64)
        if len(passed) and self.scores:
            result[passed] = self.passed_scores(pod, view, passed)
        return result

    def passed_scores(self, pod: PodInfo, view: NodeView, passed: np.ndarray) -> np.ndarray:
        """`prioritize(pod, view, passed)[passed]` without the view-sized array: the
        0..10 of the passing nodes, for a caller choosing among them (the planner)."""
        if not len(passed) or not self.scores:
            return np.zeros(len(passed), np.int64)
        weighted, _ = self._score(pod, view.subset(passed), None, 0)  # no per-policy values
        return final_scores(weighted, self.weight_sum)

    def select(self, pod: PodInfo, view: NodeView, rng: random.Random | None = None) -> int:
        """Filter, score and pick one node in one pass: the position of the best
        (highest 0..10 score; on ties the first in order, or a random one of the
        best with `rng`, as kube-scheduler picks), or -1 if none fits."""
        passed, entry, version = self._passed(pod, view)
        if not len(passed):
            return -1
        if self.scores:
            weighted, _ = self._score(pod, view.subset(passed), entry, version)
            passed = passed[weighted >= best_threshold(int(weighted.max()), self.weight_sum)]
        if rng is None or len(passed) == 1:
            return int(passed[0])
        return int(passed[rng.randrange(len(passed))])

    def _passed(
        self, pod: PodInfo, view: NodeView
    ) -> tuple[np.ndarray, StaticVerdicts | None, int]:
        """(`filter(pod, view, reasons=False).passed`, the spec cache's entry for the pod
        and its static version, (None, 0) when not cached): `select`'s filter pass.

        The same filters in the same order, stopping where `filter` stops (a later
        filter may refuse the pod outright), with fewer calls: the passing mask starts
        as the first dynamic filter's `&` with the static one instead of a copy, and
        "any left" is `np.count_nonzero` (one C call; `ndarray.any` is ~3x its cost
        through numpy's Python wrapper, five times a pod)."""
        filters = self.filters
        entry = None
        version = 0
        passing = None
        if self.static_prefix:
            entry, version = self._static_entry(pod, view)
        if entry is not None:
            cache = self.spec_cache
            assert cache is not None
            if self._judge_static(entry, pod, view):
                cache.misses += 1
                cache.put(pod, version, entry)  # charge what it keeps now
            else:
                cache.hits += 1
            passing = entry.answer(view.ids, view._contiguous, None, False)[0]  # read-only
            if not np.count_nonzero(passing):
                return _NONE, entry, version
            filters = filters[self.static_prefix :]
        fresh = False  # whether `passing` is this pass's own array (and-ed into in place)
        everyone = all_pass(view.n)  # a filter's shared "every node passes": nothing to and
        for f in filters:
            ok = f.policy.filter(pod, view)
            if f.checked:
                ok = checked_filter(f.name, ok, view.n)
            if ok is everyone:  # the mask and whether any node is left stay as they are
                if passing is None and not view.n:
                    return _NONE, entry, version  # no candidates: stop where filter stops
                continue
            if fresh:
                passing &= ok
            else:
                passing = ok.copy() if passing is None else passing & ok
                fresh = True
            if not np.count_nonzero(passing):
                return _NONE, entry, version
        if passing is None:
            return np.arange(view.n), entry, version
        return passing.nonzero()[0], entry, version  # flatnonzero without its two frames

    # ---- explaining ------------------------------------------------------
    def explain(self, pod: PodInfo, view: NodeView) -> list[dict[str, Any]]:
        """Every filter's verdict and every score per node (docs/CONTRACT.md §2)."""
        names = view.names
        entries = [
            {"name": n, "passed": True, "filters": {}, "scores": {}, "weighted": 0, "score": 0}
            for n in names
        ]
        passing = np.ones(view.n, bool)
        for f in self.filters:
            ok = f.verdict(pod, view)
            failed_pos = np.flatnonzero(~ok)
            reasons = dict(zip(failed_pos.tolist(), f.reasons(pod, view, failed_pos)))
            for i, entry in enumerate(entries):
                entry["filters"][f.name] = {"pass": bool(ok[i]), "reason": reasons.get(i, "")}
            passing &= ok
        passed = np.flatnonzero(passing)
        for i, entry in enumerate(entries):
            entry["passed"] = bool(passing[i])
        if len(passed) and self.scores:
            weighted, per_policy = self.score(pod, view.subset(passed))
            final = final_scores(weighted, self.weight_sum)
            for k, pos in enumerate(passed.tolist()):
                e = entries[pos]
                e["scores"] = {s.name: int(v[k]) for s, v in zip(self.scores, per_policy)}
                e["weighted"] = int(weighted[k])
                e["score"] = int(final[k])
        return entries
