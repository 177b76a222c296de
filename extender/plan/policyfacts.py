"""What the planner may assume about the configured filters.

The built-in filters below look only at the node and the pods on it, and adding
a pod to a node can only turn one of their verdicts from pass to fail. With
only those configured (NodeResourcesFit among them, so that a bind refuses
exactly what the filters refuse), the planner may drop a node that failed a
template for the rest of the plan, and may add copies to a node that is the
only one left without filtering each. Any other filter (PodTopologySpread and
InterPodAffinity look at other nodes' pods; a third-party plugin is unknown)
makes the planner run every filter for every pod: slower, never different.
"""

from __future__ import annotations

from extender.engine.engine import Engine

NODE_LOCAL_MONOTONE = frozenset(
    {
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
    }
)

# kube-scheduler 1.34's default filter and score plugins (default_plugins.go, with the
# feature gates on by default), to name what a plan leaves out
KUBE_SCHEDULER_PLUGINS = (
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
    "PodTopologySpread",
    "InterPodAffinity",
    "DynamicResources",
    "NodeResourcesBalancedAllocation",
    "ImageLocality",
)
# what no plan models, whatever the configuration
ALWAYS_UNMODELED = (
    "volumes (VolumeBinding, VolumeZone, VolumeRestrictions, NodeVolumeLimits: claims, "
    "zones and attach limits are not checked)",
    "dynamic resource allocation (DRA: ResourceClaims are not checked)",
    "preemption (a pod that does not fit evicts nothing)",
    "pod priority (pods are placed in the order given)",
)
GROW_UNMODELED = "DaemonSet pods on added nodes (an added node starts empty)"


def filter_names(engine: Engine) -> list[str]:
    return [e.name for e in engine.config.filters]


def node_local_monotone(engine: Engine) -> bool:
    names = set(filter_names(engine))
    return "NodeResourcesFit" in names and names <= NODE_LOCAL_MONOTONE


def unmodeled(engine: Engine, grow: bool, warnings: tuple[str, ...] = ()) -> list[str]:
    """The constraints kube-scheduler would apply and this plan did not."""
    configured = {e.name for e in engine.config.filters} | {e.name for e in engine.config.scores}
    out = list(ALWAYS_UNMODELED)
    volume_like = {
        "VolumeRestrictions",
        "NodeVolumeLimits",
        "VolumeBinding",
        "VolumeZone",
        "DynamicResources",
    }
    missing = [p for p in KUBE_SCHEDULER_PLUGINS if p not in configured and p not in volume_like]
    if missing:
        out.append("kube-scheduler plugins not in this configuration: " + ", ".join(missing))
    if grow:
        out.append(GROW_UNMODELED)
    out.extend(warnings)
    return out
