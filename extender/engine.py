"""The engine: runs the configured policies over the candidates of one request.

Filters run in the configured order over the whole candidate view (each one a
few vector operations); a node's reason is the first filter it fails, as in
kube-scheduler. Scores run only over the nodes that passed every filter, and
are combined with integer arithmetic into the extender's 0..10 scale.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from extender.config import PolicyConfiguration
from extender.podinfo import PodInfo
from extender.view import NodeView
from policies import base

MAX_EXTENDER_PRIORITY = 10


@dataclass
class FilterOutcome:
    passed: np.ndarray  # positions (into the view) of nodes that passed every filter
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason (resolvable)
    unresolvable: dict[str, str] = field(default_factory=dict)


def final_scores(weighted: np.ndarray, weight_sum: int) -> np.ndarray:
    """weighted x 10 / (100 x sum of weights), rounding half up, in integers."""
    if weight_sum == 0:
        return np.zeros(len(weighted), np.int64)
    denom = 2 * base.MAX_NODE_SCORE * weight_sum
    return (weighted * (2 * MAX_EXTENDER_PRIORITY) + denom // 2) // denom


class Engine:
    def __init__(self, config: PolicyConfiguration) -> None:
        self.config = config
        self.filters = [base.create(e.name, e.args, "filter") for e in config.filters]
        self.scores = [(base.create(e.name, e.args, "score"), e.weight) for e in config.scores]
        self.weight_sum = sum(w for _, w in self.scores)
        # built-in scores are tested to return int64 in 0..100; third-party ones are checked
        self._trusted = {p for p, _ in self.scores if type(p).__module__.startswith("policies.")}

    # ---- filtering -------------------------------------------------------
    def filter(self, pod: PodInfo, view: NodeView, reasons: bool = True) -> FilterOutcome:
        """Run every filter; with `reasons`, name each failed node's first failing filter."""
        passing = np.ones(view.n, bool)
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        names = None
        for policy in self.filters:
            ok = policy.filter(pod, view)
            if reasons:
                newly = passing & ~ok
                if newly.any():
                    positions = np.flatnonzero(newly)
                    texts = policy.reasons(pod, view, positions)
                    if names is None:
                        names = view.names_array
                    target = unresolvable if policy.unresolvable else failed
                    target.update(zip(names[positions].tolist(), texts))
            passing &= ok
            if not passing.any():
                break
        return FilterOutcome(np.flatnonzero(passing), failed, unresolvable)

    # ---- scoring ---------------------------------------------------------
    def score(self, pod: PodInfo, view: NodeView) -> tuple[np.ndarray, list[np.ndarray]]:
        """Weighted totals over `view` (already the passing nodes) and each policy's scores."""
        weighted = np.zeros(view.n, np.int64)
        per_policy = []
        if view.n == 0:
            return weighted, [weighted for _ in self.scores]
        for policy, weight in self.scores:
            s = policy.score(pod, view)
            if policy not in self._trusted:
                s = np.asarray(s, dtype=np.int64)
                if s.shape != (view.n,):
                    raise ValueError(
                        f"policy {policy.name} returned {s.shape} scores for {view.n} nodes"
                    )
                s = np.clip(s, 0, base.MAX_NODE_SCORE)
            per_policy.append(s)
            weighted += weight * s
        return weighted, per_policy

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
            weighted, _ = self.score(pod, view.subset(passed))
            result[passed] = final_scores(weighted, self.weight_sum)
        return result

    def select(self, pod: PodInfo, view: NodeView, rng: random.Random | None = None) -> int:
        """Filter, score and pick one node in one pass: the position of the best
        (highest 0..10 score; on ties the first in order, or a random one of the
        best with `rng`, as kube-scheduler picks), or -1 if none fits."""
        passed = self.filter(pod, view, reasons=False).passed
        if not len(passed):
            return -1
        if self.scores:
            weighted, _ = self.score(pod, view.subset(passed))
            final = final_scores(weighted, self.weight_sum)
            passed = passed[final == final.max()]
        if rng is None or len(passed) == 1:
            return int(passed[0])
        return int(passed[rng.randrange(len(passed))])

    # ---- explaining ------------------------------------------------------
    def explain(self, pod: PodInfo, view: NodeView) -> list[dict[str, Any]]:
        """Every filter's verdict and every score per node (CONTRACT section 2)."""
        names = view.names
        entries = [
            {"name": n, "passed": True, "filters": {}, "scores": {}, "weighted": 0, "score": 0}
            for n in names
        ]
        passing = np.ones(view.n, bool)
        for policy in self.filters:
            ok = np.asarray(policy.filter(pod, view), bool)
            failed_pos = np.flatnonzero(~ok)
            reasons = dict(zip(failed_pos.tolist(), policy.reasons(pod, view, failed_pos)))
            for i, entry in enumerate(entries):
                entry["filters"][policy.name] = {"pass": bool(ok[i]), "reason": reasons.get(i, "")}
            passing &= ok
        passed = np.flatnonzero(passing)
        for i, entry in enumerate(entries):
            entry["passed"] = bool(passing[i])
        if len(passed) and self.scores:
            weighted, per_policy = self.score(pod, view.subset(passed))
            final = final_scores(weighted, self.weight_sum)
            for k, pos in enumerate(passed.tolist()):
                e = entries[pos]
                e["scores"] = {p.name: int(s[k]) for (p, _), s in zip(self.scores, per_policy)}
                e["weighted"] = int(weighted[k])
                e["score"] = int(final[k])
        return entries
