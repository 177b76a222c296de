"""NodeName: a pod that names its node (`spec.nodeName`) fits only that node.

Mirrors kube-scheduler's plugin: an empty nodeName fits every node; failures
are UnschedulableAndUnresolvable.
"""

from __future__ import annotations

import numpy as np

from extender.api import STATIC, NodeView, PodInfo, Policy

ERR_REASON = "node(s) didn't match the requested node name"


class NodeName(Policy):
    name = "NodeName"
    depends_on = STATIC  # node names and spec.nodeName
    unresolvable = True
    takes_args = False

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if not pod.node_name:
            return np.ones(nodes.n, dtype=bool)
        return nodes.names_array == pod.node_name

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [ERR_REASON] * len(failed)
