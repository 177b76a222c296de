"""A TopoLVM-style filter: free capacity a node advertises in an annotation.

Storage drivers such as TopoLVM publish each node's free capacity as a node
annotation (`capacity.topolvm.io/<device-class>: "<bytes>"`), and a webhook
writes what a pod needs into a pod annotation of the same name. This policy
keeps the nodes whose advertised capacity covers the pod's request:

    args:
      key: capacity.example.com/ssd     # the annotation, on nodes and on pods

A pod without the annotation passes everywhere; a node without it (or with a
value that is not a non-negative integer) has no capacity. Annotations are
not indexed, so the values are read with `NodeView.annotation_values` and
parsed once per distinct string (a small cache), then compared as integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.api import ConfigError, NodeView, PodInfo, Policy, is_qualified_name


def _bytes(value: Any) -> int:
    """A non-negative decimal integer annotation value; -1 for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return -1


class CapacityAnnotation(Policy):
    """Filter: the node's annotated capacity must cover the pod's annotated request."""

    name = "CapacityAnnotation"
    unresolvable = False  # evicting pods on the node frees capacity

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        super().__init__(args)
        unknown = set(self.args) - {"key"}
        if unknown:
            raise ConfigError(
                f"{self.name}: unknown args {', '.join(sorted(unknown))}; expected key"
            )
        key = self.args.get("key")
        if not isinstance(key, str) or not is_qualified_name(key):
            raise ConfigError(f"{self.name}: args.key must be an annotation key, got {key!r}")
        self.key = key
        self.reason = f"node(s) didn't have enough {key}"
        self._parsed: dict[Any, int] = {}

    def _capacity(self, nodes: NodeView) -> np.ndarray:
        parsed = self._parsed
        if len(parsed) > 65536:  # node values change as volumes come and go
            parsed.clear()
        values = nodes.annotation_values(self.key).tolist()
        out = [parsed.get(v) for v in values]
        for i, amount in enumerate(out):
            if amount is None:
                out[i] = parsed[values[i]] = _bytes(values[i])
        return np.array(out, dtype=np.int64)

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        wanted = pod.annotations.get(self.key)
        if wanted is None:
            return np.ones(nodes.n, dtype=bool)
        need = _bytes(wanted)
        if need < 0:  # a request nobody can read fits nowhere, rather than anywhere
            return np.zeros(nodes.n, dtype=bool)
        return self._capacity(nodes) >= need

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [self.reason] * len(failed)
