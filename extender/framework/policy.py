"""The policy plugin interface: what a filter and a score policy are.

A policy mirrors a kube-scheduler framework plugin. It is a class built once
from its `args` (the mapping under `args:` in the policy configuration, named
as in the plugin's v1 args) and then called once per request with the whole
candidate set, as numpy columns, so it can be vectorized:

- `filter(pod, nodes)` returns bool[n], True where the node passes;
  `reasons(pod, nodes, failed)` is asked only for the positions that failed and
  returns one reason per position (kube-scheduler's wording). `unresolvable`
  says whether preemption could help: True sends failures to
  FailedAndUnresolvableNodes. A filter whose answer differs per node (as
  NodeResourcesFit's: a node too small for the pod even when empty is
  unresolvable, a merely full one is not) also defines
  `unresolvable_mask(pod, nodes, failed)`: bool per failed position, which
  then decides instead of `unresolvable`.
- `score(pod, nodes)` returns int64[n] in 0..MAX_NODE_SCORE: the value after
  the plugin's own NormalizeScore over exactly the nodes given (the ones that
  passed every filter), before weighting.
- A score policy may also split, as kube-scheduler's framework does, its Score
  from its NormalizeScore: `raw_score(pod, nodes)` gives int64[n], each node's
  value on its own (never depending on the other candidates), and
  `normalize_score(pod, nodes, raw)` maps the raw values of exactly the scored
  nodes onto 0..MAX_NODE_SCORE (without it the raw values are the scores);
  `score` must then equal `normalize_score(pod, nodes, raw_score(pod, nodes))`.
  For a STATIC policy the engine keeps the raw values per spec by node id, so
  a later pod scoring another set of nodes costs one normalization.
- `depends_on` declares what the answers read: STATIC (the pod's spec and the
  nodes' own objects only) lets the engine reuse them for every pod of the
  same spec until a node changes (engine/speccache.py); DYNAMIC, the default,
  (also what is placed on the nodes) is evaluated on every request.

No floating point on these paths: integer arithmetic only, so a score is the
same on every machine and every run. The engine checks what a plugin returns
(`extender.framework.checks`); docs/PLUGINS.md is the guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from extender.model.errors import ConfigError

if TYPE_CHECKING:
    from extender.cache.view import NodeView
    from extender.model.pod import PodInfo

MAX_NODE_SCORE = 100  # kube-scheduler's framework.MaxNodeScore

# What a policy's answers depend on (its `depends_on`), beyond its own args:
#: the pod's spec (every PodInfo field but uid, name, namespace, labels and
#: annotations) and the nodes' own objects (names, labels, annotations, taints,
#: the unschedulable flag, allocatable, images, how many nodes there are); a
#: filter's verdict and reason for a node also may not depend on which other
#: nodes are candidates. Never the pods placed on the nodes.
STATIC = "static"
#: anything, including the pods placed on the nodes (requested resources, pod
#: counts, host ports in use). The default: a policy that declares nothing is
#: evaluated afresh on every request.
DYNAMIC = "dynamic"
DEPENDENCIES = (STATIC, DYNAMIC)


def depends_on(policy: object) -> str:
    """A policy's declared dependency (DYNAMIC when it declares none); ConfigError
    for a value that is neither, so a misspelt declaration cannot pass as static."""
    value = getattr(policy, "depends_on", DYNAMIC)
    if value not in DEPENDENCIES:
        name = getattr(policy, "name", "") or type(policy).__name__
        raise ConfigError(f"{name}: depends_on must be {STATIC!r} or {DYNAMIC!r}, got {value!r}")
    return value


@runtime_checkable
class FilterPolicy(Protocol):
    """What the engine calls on a policy named under `filters:`."""

    name: str
    unresolvable: bool

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray: ...

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]: ...


@runtime_checkable
class ScorePolicy(Protocol):
    """What the engine calls on a policy named under `scores:`."""

    name: str

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray: ...


class Policy:
    """Convenience base for both kinds: checks `args` and keeps it as `self.args`.

    Set `takes_args = False` on a policy without args: any args given are then
    a ConfigError naming them, as kube-scheduler's strict decoding makes them.
    `name` defaults to the class name; the registry sets it to the name the
    configuration used.
    """

    name: str = ""
    unresolvable: bool = False
    takes_args: bool = True
    depends_on: str = DYNAMIC  # STATIC lets the engine reuse answers per pod spec

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        if args is None:
            args = {}
        if not self.name:  # so messages from __init__ name the policy even when built by hand
            self.name = type(self).__name__
        if not isinstance(args, dict):
            raise ConfigError(f"{self.name}: args must be a mapping, got {type(args).__name__}")
        if args and not self.takes_args:
            raise ConfigError(
                f"{self.name} takes no args, got: {', '.join(sorted(map(str, args)))}"
            )
        self.args = args
