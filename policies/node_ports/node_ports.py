"""NodePorts: a pod's host ports must be free on the node.

Mirrors kube-scheduler's plugin and framework.HostPortInfo.CheckConflict (the
rule itself lives with `HostPort`: same protocol and port, and equal IPs or
either one 0.0.0.0). A pod without host ports passes everywhere (upstream's
PreFilter returns Skip). Failures are plain Unschedulable: preemption can free
a port.
"""

from __future__ import annotations

import numpy as np

from extender.api import DYNAMIC, NodeView, PodInfo, Policy
from policies.helper.constants import all_true

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


class NodePorts(Policy):
    name = "NodePorts"
    depends_on = DYNAMIC  # host ports of the pods placed
    unresolvable = False
    takes_args = False

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if not pod.host_ports:
            return all_true(nodes.n)  # shared and read-only: no array a request
        return ~nodes.port_conflicts(pod.host_ports)

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [ERR_REASON] * len(failed)
