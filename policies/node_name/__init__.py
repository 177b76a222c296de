"""The NodeName policy (see README.md beside this file)."""

from policies.node_name.node_name import NodeName

__all__ = ["NodeName"]
