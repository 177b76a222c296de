"""The policy plugin interface and the registry that finds plugins by name.

A policy mirrors a kube-scheduler framework plugin. It is a class that is
constructed from its `args` (a dict, the plugin's v1 args) and implements
`filter`, `score`, or both. Each call covers the whole candidate set of one
request at once, as numpy arrays, so a policy can be vectorized:

- `filter(pod, nodes)` returns a boolean array, True where the node passes;
  `reasons(pod, nodes, failed)` is asked only for the positions that failed and
  returns one human-readable reason per position (kube-scheduler's wording).
- `score(pod, nodes)` returns an int64 array in 0..100: the value after the
  plugin's own NormalizeScore over exactly the nodes given (the nodes that
  passed every filter), before weighting.

No floating point on these paths: integer arithmetic only.

Plugins are found through the `podsift.policies` entry-point group; the
built-ins register there exactly as a third-party plugin would.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from extender.errors import ConfigError

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

ENTRY_POINT_GROUP = "podsift.policies"
MAX_NODE_SCORE = 100


@runtime_checkable
class FilterPolicy(Protocol):
    name: str
    #: failures go to FailedAndUnresolvableNodes (preemption cannot help)
    unresolvable: bool

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray: ...

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]: ...


@runtime_checkable
class ScorePolicy(Protocol):
    name: str

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray: ...


class Policy:
    """Convenience base: stores the name and validates that args is a mapping."""

    name: str = ""
    unresolvable: bool = False

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ConfigError(f"{self.name}: args must be a mapping, got {type(args).__name__}")
        self.args = args


_registry: dict[str, type] = {}
_entry_points: dict[str, Any] = {}
_scanned = False


def register(name: str, cls: type) -> None:
    """Register a policy class by name (used by tests and embedding code)."""
    _registry[name] = cls


def _scan_entry_points() -> None:
    """Find the plugins once; each is imported only when a configuration names it,
    so a broken third-party plugin fails only the configurations that use it."""
    global _scanned
    if not _scanned:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _entry_points.setdefault(ep.name, ep)
        _scanned = True


def available() -> list[str]:
    """Names of every registered policy."""
    _scan_entry_points()
    return sorted(set(_registry) | set(_entry_points))


def lookup(name: str) -> type:
    """The policy class registered under `name`, or a ConfigError naming the known ones."""
    cls = _registry.get(name)
    if cls is not None:
        return cls
    _scan_entry_points()
    ep = _entry_points.get(name)
    if ep is None:
        raise ConfigError(f"unknown policy {name!r}; known policies: {', '.join(available())}")
    try:
        cls = ep.load()
    except Exception as exc:
        raise ConfigError(f"policy {name!r} ({ep.value}) failed to load: {exc}") from exc
    _registry[name] = cls
    return cls


def create(name: str, args: dict[str, Any] | None, kind: str) -> Any:
    """Instantiate policy `name` for use as `kind` ("filter" or "score")."""
    cls = lookup(name)
    method = "filter" if kind == "filter" else "score"
    if not callable(getattr(cls, method, None)):
        raise ConfigError(f"policy {name!r} has no {method}(); it cannot be used in {kind}s")
    try:
        policy = cls(args or {})
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"policy {name!r}: invalid args: {exc}") from exc
    policy.name = name
    return policy
