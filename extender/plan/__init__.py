"""`podsift plan fit | place | grow`: capacity planning with the extender's own engine.

Sits between the composition root and the wire layer: it builds a ClusterState
and an Engine exactly as `podsift serve` does and drives them through their
public entry points (Engine.filter/prioritize, ClusterState.bind/apply_node),
so a plan and the live extender cannot disagree (docs/CONTRACT.md §6).
"""
