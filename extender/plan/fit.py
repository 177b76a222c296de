"""`podsift plan fit`: how many more copies of each template fit, node by node.

Each template on its own, over the cluster as it is. Every node that passes the
filters gets copies, all nodes at once, round after round, until the filters
refuse it the next one; the filter that refuses names the node's `limited_by`
reason, exactly as kube-scheduler would word it. With only node-local filters
whose verdicts adding pods can only turn to failures (plan/policyfacts.py), a
round adds as many copies as the node's free resources admit (the binds check
each one against the same room NodeResourcesFit checks), so a few rounds
suffice; otherwise a round adds one copy per node. The copies are taken out
again before the next template.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from extender.cache.view import NodeView
from extender.model.pod import PodInfo
from extender.plan.copies import Copies
from extender.plan.policyfacts import node_local_monotone
from extender.plan.source import Cluster
from extender.plan.workload import Template

# A node whose filters never refuse another copy (no NodeResourcesFit configured)
# stops here, with this reason: without the shortcuts a round adds one copy per
# node, so this also bounds the rounds.
MAX_COPIES_PER_NODE = 1_000
CAPPED = f"podsift plan: stopped counting at {MAX_COPIES_PER_NODE} copies"


@dataclass
class TemplateFit:
    template: Template
    per_node: dict[str, int]  # nodes that take at least one copy
    limited_by: dict[str, list[str]] = field(default_factory=dict)  # reason -> nodes

    @property
    def total(self) -> int:
        return sum(self.per_node.values())


def estimate(info: PodInfo, view: NodeView) -> np.ndarray:
    """Copies each node's free resources admit (at least 1): the size of one round."""
    k = view.allocatable("pods") - view.requested("pods")
    for resource, amount in info.requests.items():
        if amount > 0 and resource != "pods":
            k = np.minimum(k, (view.allocatable(resource) - view.requested(resource)) // amount)
    if info.host_ports:
        k = np.minimum(k, 1)
    return np.clip(k, 1, MAX_COPIES_PER_NODE)


def fit_template(cluster: Cluster, template: Template, restore: bool = True) -> TemplateFit:
    """Count the copies of `template` the cluster takes; `restore` False leaves them bound
    (the caller drops the state after)."""
    state, engine, names = cluster.state, cluster.engine, cluster.names
    info = template.info
    bulk = node_local_monotone(engine, [template.pod])
    result = TemplateFit(template, {})
    copies = Copies(state, template)
    counts: dict[str, int] = {}

    def refuse(node: str, reason: str) -> None:
        result.limited_by.setdefault(reason, []).append(node)

    try:
        with state.lock:
            view, _, _ = state.view(names)
            active = view.names_array
            while len(active):
                out = engine.filter(info, view, reasons=True)
                for node, reason in (out.failed | out.unresolvable).items():
                    refuse(node, reason)
                passed = out.passed
                if not len(passed):
                    break
                active = active[passed]
                rounds = estimate(info, view.subset(passed)) if bulk else np.ones(len(passed), int)
                keep = []
                for node, n in zip(active.tolist(), rounds.tolist()):
                    have = counts.get(node, 0)
                    n = min(n, MAX_COPIES_PER_NODE - have)
                    if n <= 0:
                        refuse(node, CAPPED)
                        continue
                    added, why = copies.bind_many(node, n)
                    counts[node] = have + added
                    if added == 0:
                        refuse(node, why or CAPPED)  # the filters passed, the bind refused
                    else:
                        keep.append(node)
                active = np.array(keep, dtype=object)
                if not len(active):
                    break
                view, _, _ = state.view(keep)
    except BaseException:
        copies.undo()
        raise
    if restore:
        copies.undo()
    result.per_node = {n: c for n, c in counts.items() if c}
    for nodes in result.limited_by.values():
        nodes.sort(key=cluster.position.__getitem__)
    return result


def fit(cluster: Cluster, templates: list[Template], restore: bool = True) -> list[TemplateFit]:
    """Each template on its own: the copies are taken out again before the next one,
    and after the last unless `restore` is False (a plan that ends there: taking
    30,000 copies out one by one is a fifth of what counting them took)."""
    last = len(templates) - 1
    return [fit_template(cluster, t, restore or i < last) for i, t in enumerate(templates)]
