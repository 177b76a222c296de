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
