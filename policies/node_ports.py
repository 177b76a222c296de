"""NodePorts: a pod's host ports must be free on the node.

Mirrors kube-scheduler's plugin and framework.HostPortInfo.CheckConflict:
ports compare as (ip, protocol, port) after sanitizing an empty IP to 0.0.0.0
and an empty protocol to TCP; 0.0.0.0 on either side conflicts with every IP
of the same protocol and port; host port 0 (unset) never conflicts. Failures
are plain Unschedulable (preemption can free a port).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from extender.errors import ConfigError
from extender.podinfo import HostPort
from policies.base import Policy

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
BIND_ALL_HOST_IP = "0.0.0.0"


def sanitize_port(port: HostPort) -> tuple[str, str, int]:
    """(ip, protocol, port) as HostPortInfo stores it."""
    return port.ip or BIND_ALL_HOST_IP, port.protocol or "TCP", port.port


def ports_conflict(wanted: Iterable[HostPort], used: Iterable[HostPort]) -> bool:
    """Whether any wanted host port conflicts with the ports already used on a node.

    The reference semantics the node table's port index must agree with.
    """
    used_ips: dict[tuple[str, int], set[str]] = {}
    for port in used:
        if port.port <= 0:
            continue
        ip, protocol, number = sanitize_port(port)
        used_ips.setdefault((protocol, number), set()).add(ip)
    for port in wanted:
        if port.port <= 0:
            continue
        ip, protocol, number = sanitize_port(port)
        ips = used_ips.get((protocol, number))
        if ips and (ip == BIND_ALL_HOST_IP or ip in ips or BIND_ALL_HOST_IP in ips):
            return True
    return False


class NodePorts(Policy):
    name = "NodePorts"
    unresolvable = False

    def __init__(self, args: dict | None = None) -> None:
        super().__init__(args)
        if self.args:
            raise ConfigError(f"NodePorts takes no args, got: {', '.join(map(str, self.args))}")

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        wanted = tuple(p for p in pod.host_ports if p.port > 0)
        if not wanted:  # upstream PreFilter returns Skip: every node passes
            return np.ones(nodes.n, dtype=bool)
        return ~np.asarray(nodes.port_conflicts(wanted), dtype=bool)

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        return [ERR_REASON] * len(failed)
