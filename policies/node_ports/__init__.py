"""The NodePorts policy (see README.md beside this file)."""

from policies.node_ports.node_ports import NodePorts

__all__ = ["NodePorts"]
