"""The PodTopologySpread policy (see README.md beside this file)."""

from policies.pod_topology_spread.pod_topology_spread import PodTopologySpread

__all__ = ["PodTopologySpread"]
