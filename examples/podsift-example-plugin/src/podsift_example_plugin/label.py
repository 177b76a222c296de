"""Two policies keyed on one node label: a score (`PreferLabel`) and a filter (`RequireLabel`).

Both take the same args:

    args:
      key: example.com/fast-disk      # the label key (required)
      values: ["nvme", "ssd"]         # optional: the label must have one of these values

The label test is compiled once, when the policy is built from the
configuration, into podsift's node-selector form; each request then costs one
cached columnar mask over the candidate nodes (`NodeView.label_mask`), with no
per-node Python loop and no floating point.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.api import (
    MAX_NODE_SCORE,
    CompiledNodeSelector,
    ConfigError,
    InvalidInput,
    NodeView,
    PodInfo,
    Policy,
    compile_node_selector,
)


def _label_selector(name: str, args: dict[str, Any]) -> CompiledNodeSelector:
    """A compiled v1.NodeSelector for `key` (Exists) or `key In values`."""
    unknown = set(args) - {"key", "values"}
    if unknown:
        raise ConfigError(
            f"{name}: unknown args {', '.join(sorted(unknown))}; expected key, values"
        )
    key = args.get("key")
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{name}: args.key must be a non-empty label key")
    values = args.get("values")
    if values is None:
        requirement = {"key": key, "operator": "Exists"}
    elif isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        requirement = {"key": key, "operator": "In", "values": values}
    else:
        raise ConfigError(f"{name}: args.values must be a non-empty list of strings")
    selector = {"nodeSelectorTerms": [{"matchExpressions": [requirement]}]}
    try:
        return compile_node_selector(selector, f"{name}.args")
    except InvalidInput as exc:  # an invalid label key or value
        raise ConfigError(f"{name}: {exc}") from exc


def _describe(args: dict[str, Any]) -> str:
    values = args.get("values")
    return f"{args['key']} in ({', '.join(values)})" if values else str(args["key"])


class PreferLabel(Policy):
    """Score: 100 for nodes carrying the label (with one of the values), 0 for the others."""

    name = "PreferLabel"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        super().__init__(args)
        self.selector = _label_selector(self.name, self.args)

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        mask = nodes.label_mask(self.selector)
        return np.where(mask, MAX_NODE_SCORE, 0).astype(np.int64)


class RequireLabel(Policy):
    """Filter: only nodes carrying the label (with one of the values) pass.

    Failures are unresolvable, as with kube-scheduler's NodeAffinity: evicting
    pods cannot give a node a label, so preemption is not tried for them.
    """

    name = "RequireLabel"
    unresolvable = True

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        super().__init__(args)
        self.selector = _label_selector(self.name, self.args)
        self.reason = f"node(s) didn't have label {_describe(self.args)}"

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        return nodes.label_mask(self.selector)

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [self.reason] * len(failed)
