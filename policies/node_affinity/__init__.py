"""The NodeAffinity policy (see README.md beside this file)."""

from policies.node_affinity.node_affinity import NodeAffinity

__all__ = ["NodeAffinity"]
