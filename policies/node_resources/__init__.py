"""The NodeResourcesFit and NodeResourcesBalancedAllocation policies (see README.md).

One package, as upstream's `noderesources`: both score the same per-resource
columns (`allocation`) and validate the same kind of args (`args`).
"""

from policies.node_resources.balanced_allocation import NodeResourcesBalancedAllocation
from policies.node_resources.fit import NodeResourcesFit

__all__ = ["NodeResourcesBalancedAllocation", "NodeResourcesFit"]
