"""NodeName: a pod that names its node (`spec.nodeName`) fits only that node.

Mirrors kube-scheduler's plugin: an empty nodeName fits every node; failures
are UnschedulableAndUnresolvable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from extender.errors import ConfigError
from policies.base import Policy

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

ERR_REASON = "node(s) didn't match the requested node name"


class NodeName(Policy):
    name = "NodeName"
    unresolvable = True

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        if self.args:
            raise ConfigError(f"NodeName takes no args, got: {', '.join(map(str, self.args))}")

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if not pod.node_name:
            return np.ones(nodes.n, dtype=bool)
        names = getattr(nodes, "names_array", None)
        if names is None:
            names = np.asarray(nodes.names, dtype=object)
        return np.asarray(names == pod.node_name, dtype=bool)

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [ERR_REASON] * len(failed)
