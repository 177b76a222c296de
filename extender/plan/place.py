"""`podsift plan place | grow`: the workload placed pod by pod, as kube-scheduler would.

For each pod in order: every filter over the candidate nodes, the scores of
those that pass (Engine.prioritize: the 0..10 the extender answers
/prioritize with), the best node (ties to the first in the cluster's order,
or to a random one of the best drawn from `--seed`, as kube-scheduler draws
one), and a bind into the plan's own state: the verbs' own code in the verbs'
own order.

Two shortcuts keep large plans fast without changing a placement, taken only
when the configured filters allow them (plan/policyfacts.py): a node that
failed a template stays out of that template's candidates (it cannot fit one
again), and while a single node is left for a template its copies are bound
there directly, each bind checking the room the filter checks; the first
refusal sends the template back to the full evaluation.

`grow` adds a node of the cheapest shape the pod fits when it fits nowhere,
at most one per pod: a pod that fits no empty node of any shape is reported
as such and nothing is added for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from extender.cache.state import ClusterState
from extender.model.errors import BindError
from extender.model.pod import PodInfo
from extender.plan.copies import bind_refusal
from extender.plan.policyfacts import node_local_monotone
from extender.plan.shapes import Shape
from extender.plan.source import Cluster
from extender.plan.workload import Template, spec_groups


@dataclass
class Unplaced:
    message: str
    reasons: dict[str, int]  # reason -> nodes
    pods: list[str] = field(default_factory=list)


@dataclass
class PlaceResult:
    # (template index, namespace/name, node or None), in the order placed
    placements: list[tuple[int, str, str | None]]
    unplaced: dict[str, Unplaced]  # message -> the pods it holds back
    added: dict[str, int]  # shape -> nodes added
    added_nodes: list[tuple[str, str]]  # (node, shape)
    groups: list[int]  # per template, the first one scheduled alike (workload.spec_groups)
    start_fits: dict[int, np.ndarray]  # per group: bool over the nodes before the plan
    # reason -> unplaced pods that got it from some node (each pod counts once per
    # reason, as kube-scheduler's FailedScheduling event names each reason once)
    unplaced_reasons: dict[str, int] = field(default_factory=dict)


class _Candidates:
    """One template's candidate nodes: all of them, or (with monotone filters) those
    that have not failed it yet, plus any added since."""

    __slots__ = ("positions", "names", "upto", "only")

    def __init__(self, count: int) -> None:
        self.positions = np.arange(count)
        self.names: list[str] | None = None
        self.upto = count
        self.only: str | None = None  # the single node left, while the fast path holds


# kube-scheduler's ErrNoNodesAvailable: the reason of a pod when there is no node at all
NO_NODES = "no nodes available to schedule pods"
NO_SHAPE = "fits no empty node of any shape"


def failure_message(total: int, reasons: dict[str, int]) -> str:
    """kube-scheduler's FailedScheduling wording: `0/N nodes are available: ...`."""
    parts = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{n} {r}" for r, n in parts)
    return f"0/{total} nodes are available: {listed}." if listed else f"0/{total} nodes available."


class Placer:
    def __init__(
        self,
        cluster: Cluster,
        seed: int | None = None,
        shapes: list[Shape] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.state = cluster.state
        self.engine = cluster.engine
        self.rng = random.Random(seed) if seed is not None else None
        self.shapes = shapes
        self.progress = progress
        self.monotone = False  # set per run, from the workload
        self._why_cache: dict[int, tuple[int, int, str, dict[str, int]]] = {}
        self._shape_fits: dict[int, list[tuple[Shape, str]]] = {}
        self._serial: dict[str, int] = {}
        self._names_array: np.ndarray | None = None

    # ---- choosing a node ------------------------------------------------------
    def _names_at(self, positions: np.ndarray) -> list[str]:
        names = self.cluster.names
        if self._names_array is None or len(self._names_array) != len(names):
            self._names_array = np.array(names, dtype=object)
        return self._names_array[positions].tolist()

    def _choose(self, c: _Candidates, info: PodInfo) -> str | None:
        names = self.cluster.names
        if not self.monotone:
            if len(c.positions) != len(names):
                c.positions = np.arange(len(names))
            c.names = names
        elif c.upto < len(names):
            c.positions = np.concatenate([c.positions, np.arange(c.upto, len(names))])
            c.upto = len(names)
            c.names = None
        if c.names is None:
            c.names = list(names) if len(c.positions) == len(names) else self._names_at(c.positions)
        if not c.names:
            return None
        view, _, _ = self.state.view(c.names)
        passed = self.engine.filter(info, view, reasons=False).passed
        if len(passed) == 0:
            pos = -1
        elif len(passed) == 1:
            pos = int(passed[0])
        else:
            scores = self.engine.passed_scores(info, view, passed)  # prioritize's, at passed
            if self.rng is None:  # the first of the best in order: argmax's own tie rule
                pos = int(passed[scores.argmax()])
            else:
                best = passed[scores == scores.max()]
                pos = int(best[self.rng.randrange(len(best))] if len(best) > 1 else best[0])
        node = c.names[pos] if pos >= 0 else None
        if self.monotone and len(passed) < view.n:
            c.positions = c.positions[passed]
            c.names = self._names_at(c.positions)
        c.only = node if self.monotone and len(passed) == 1 else None
        return node

    def _why(self, k: int, info: PodInfo) -> tuple[str, dict[str, int]]:
        """The reasons every node refuses template k now (cached while nothing changes)."""
        key = (self.state.generation, len(self.cluster.names))
        hit = self._why_cache.get(k)
        if hit is not None and hit[:2] == key:
            return hit[2], hit[3]
        view, _, _ = self.state.view(self.cluster.names)
        out = self.engine.filter(info, view, reasons=True)
        counts: dict[str, int] = {}
        for reason in list(out.failed.values()) + list(out.unresolvable.values()):
            counts[reason] = counts.get(reason, 0) + 1
        message = failure_message(view.n, counts)
        self._why_cache[k] = (*key, message, counts)
        return message, counts

    def _count_reasons(
        self, result: PlaceResult, k: int, info: PodInfo, why: str, counts: dict[str, int]
    ) -> None:
        """Count an unplaced pod once under each reason some node gave it: the filters'
        reasons, a refused bind's, for grow with no shape that fits also the reasons of
        the shapes' empty nodes, and with no node at all kube-scheduler's NO_NODES."""
        reasons = set(counts)
        if not reasons:
            if why.startswith(NO_SHAPE):
                reasons.update(self._why(k, info)[1])
                reasons.update(r for _, r in self._fitting_shapes(k, info) if r)
            elif why.startswith("/bind refuses: "):
                reasons.add(why)
            if not reasons:
                reasons.add(NO_NODES)
        tally = result.unplaced_reasons
        for r in reasons:
            tally[r] = tally.get(r, 0) + 1

    # ---- growing -------------------------------------------------------------
    def _fitting_shapes(self, k: int, info: PodInfo) -> list[tuple[Shape, str]]:
        """Per shape, cheapest first: "" if the pod fits an empty node of it, else why not."""
        hit = self._shape_fits.get(k)
        if hit is not None:
            return hit
        scratch = ClusterState()
        assert self.shapes is not None
        scratch.load_items([s.instance(s.name) for s in self.shapes])
        view, _, _ = scratch.view([s.name for s in self.shapes])
        out = self.engine.filter(info, view, reasons=True)
        refused = out.failed | out.unresolvable
        result = [(s, refused.get(s.name, "")) for s in self.shapes]
        self._shape_fits[k] = result
        return result

    def _new_name(self, shape: Shape) -> str:
        i = self._serial.get(shape.name, 0)
        while f"{shape.name}-{i}" in self.cluster.position:
            i += 1
        self._serial[shape.name] = i + 1
        return f"{shape.name}-{i}"

    def _grow(
        self, k: int, c: _Candidates, info: PodInfo, result: PlaceResult
    ) -> tuple[str | None, str | None, dict[str, int]]:
        """Add the cheapest shape the pod fits and place it there: (node, or why not)."""
        fits = self._fitting_shapes(k, info)
        shape = next((s for s, why in fits if not why), None)
        if shape is None:
            listed = "; ".join(f"{s.name}: {why}" for s, why in fits)
            return None, f"{NO_SHAPE} ({listed})", {}
        name = self._new_name(shape)
        self.state.apply_node(shape.instance(name))
        self.cluster.add_name(name)
        node = self._choose(c, info)
        if node is None:  # only a filter that looks at other nodes' pods can do this
            self.state.remove_node(name)
            self.cluster.drop_last_name()
            c.upto = min(c.upto, len(self.cluster.names))
            c.positions = c.positions[c.positions < len(self.cluster.names)]
            c.names = None
            message, counts = self._why(k, info)
            return None, f"{message} (and an empty {shape.name} node would not take it)", counts
        result.added[shape.name] = result.added.get(shape.name, 0) + 1
        result.added_nodes.append((name, shape.name))
        return node, None, {}

    # ---- the plan -------------------------------------------------------------
    def run(self, templates: list[Template]) -> PlaceResult:
        state = self.state
        self.monotone = node_local_monotone(self.engine, [t.pod for t in templates])
        groups = spec_groups(templates)
        result = PlaceResult([], {}, {}, [], groups, {})
        with state.lock:
            view, _, _ = state.view(self.cluster.names)
            for g in sorted(set(groups)):
                fits = np.zeros(view.n, bool)
                fits[self.engine.filter(templates[g].info, view, False).passed] = True
                result.start_fits[g] = fits
            cands: dict[int, _Candidates] = {}
            for index, t in enumerate(templates):
                k = groups[index]  # templates scheduled alike share candidates and reasons
                c = cands.get(k)
                if c is None:
                    c = cands[k] = _Candidates(len(self.cluster.names))
                for i in range(t.replicas):
                    info = t.copy_info(i)
                    node = None
                    why: str | None = None
                    counts: dict[str, int] = {}
                    if c.only is not None and c.upto == len(self.cluster.names):
                        try:
                            state.bind_parsed(info, c.only)
                            node = c.only
                        except BindError:
                            c.only = None  # full: the filters decide again, without it
                    if node is None:
                        node = self._choose(c, info)
                        if node is None and self.shapes is not None:
                            node, why, counts = self._grow(k, c, info, result)
                        if node is not None:
                            try:
                                state.bind_parsed(info, node)
                            except BindError as exc:  # a bind checks room no filter checked
                                node, why = None, bind_refusal(exc, node)
                                c.only = None
                        if node is None:
                            if why is None:
                                why, counts = self._why(k, info)
                            entry = result.unplaced.get(why)
                            if entry is None:
                                entry = result.unplaced[why] = Unplaced(why, counts)
                            entry.pods.append(f"{t.namespace}/{info.name}")
                            self._count_reasons(result, k, info, why, counts)
                    result.placements.append((index, f"{t.namespace}/{info.name}", node))
                    if self.progress is not None:
                        self.progress(1)
        return result


def place(
    cluster: Cluster,
    templates: list[Template],
    seed: int | None = None,
    shapes: list[Shape] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PlaceResult:
    return Placer(cluster, seed, shapes, progress).run(templates)
