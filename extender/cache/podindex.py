"""Pods by UID: which node each counts on and what it uses, nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from extender.model.hostports import HostPort


@dataclass(slots=True)
class PodRecord:
    uid: str
    namespace: str
    name: str
    node_name: str
    vector: tuple[tuple[int, int], ...]  # (resource column, amount)
    nonzero_cpu: int
    nonzero_mem: int
    ports: tuple[HostPort, ...]
    requests: tuple[tuple[str, int], ...]  # the signature a watch event is compared against
    attached: bool = False  # counted on its node (False while the node is unknown)
    assumed: bool = False  # placed by /bind, not yet confirmed by the API server

    def same_usage(self, node_name: str, requests, nonzero_cpu, nonzero_mem, ports) -> bool:
        return (
            self.node_name == node_name
            and self.requests == requests
            and self.nonzero_cpu == nonzero_cpu
            and self.nonzero_mem == nonzero_mem
            and self.ports == ports
        )
