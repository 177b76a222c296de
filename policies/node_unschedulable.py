"""NodeUnschedulable: keep pods off cordoned nodes (`spec.unschedulable: true`).

Mirrors kube-scheduler's plugin: a pod that tolerates the
`node.kubernetes.io/unschedulable:NoSchedule` taint may still land on a
cordoned node (DaemonSet pods do). Failures are UnschedulableAndUnresolvable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from extender.errors import ConfigError
from extender.nodeinfo import Taint
from policies.base import Policy
from policies.taint_toleration import tolerations_tolerate

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", value="", effect="NoSchedule")


class NodeUnschedulable(Policy):
    name = "NodeUnschedulable"
    unresolvable = True

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        if self.args:
            raise ConfigError(
                f"NodeUnschedulable takes no args, got: {', '.join(map(str, self.args))}"
            )

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if pod.tolerations and tolerations_tolerate(pod.tolerations, UNSCHEDULABLE_TAINT):
            return np.ones(nodes.n, dtype=bool)
        return ~np.asarray(nodes.unschedulable, dtype=bool)

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [ERR_REASON_UNSCHEDULABLE] * len(failed)
