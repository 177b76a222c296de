"""The NodeUnschedulable policy (see README.md beside this file)."""

from policies.node_unschedulable.node_unschedulable import NodeUnschedulable

__all__ = ["NodeUnschedulable"]
