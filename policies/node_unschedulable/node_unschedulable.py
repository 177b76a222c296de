"""NodeUnschedulable: keep pods off cordoned nodes (`spec.unschedulable: true`).

Mirrors kube-scheduler's plugin: a pod that tolerates the
`node.kubernetes.io/unschedulable:NoSchedule` taint may still land on a
cordoned node (DaemonSet pods do). Failures are UnschedulableAndUnresolvable.
"""

from __future__ import annotations

import numpy as np

from extender.api import (
    NO_SCHEDULE,
    STATIC,
    NodeView,
    PodInfo,
    Policy,
    Taint,
    tolerations_tolerate,
)

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", value="", effect=NO_SCHEDULE)


class NodeUnschedulable(Policy):
    name = "NodeUnschedulable"
    depends_on = STATIC  # the cordon flag and the pod's tolerations
    unresolvable = True
    takes_args = False

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if pod.tolerations and tolerations_tolerate(pod.tolerations, UNSCHEDULABLE_TAINT):
            return np.ones(nodes.n, dtype=bool)
        return ~nodes.unschedulable

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [ERR_REASON_UNSCHEDULABLE] * len(failed)
