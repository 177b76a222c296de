"""What the planner may assume about the configured filters.

The built-in filters below look only at the node and the pods on it, and adding
a pod to a node can only turn one of their verdicts from pass to fail. With
only those configured (NodeResourcesFit among them, so that a bind refuses
exactly what the filters refuse), the planner may drop a node that failed a
template for the rest of the plan, and may add copies to a node that is the
only one left without filtering each.

PodTopologySpread and InterPodAffinity look at other nodes' pods, but what
their filters answer for the workload's pods cannot change as the plan binds
them when none of those pods has a hard constraint for them: no DoNotSchedule
topology spread constraint (and none among the configured default
constraints), no required pod affinity or anti-affinity. The cluster's own
pods may have required terms: the filter checks a running pod's required
anti-affinity against an incoming pod, and those pods and their terms stay
where they are, while the pods a plan binds carry no such term, so the verdict
on each node stays what it was (tests/plan/test_shortcuts.py). Any other
filter (a third-party plugin is unknown), or a hard constraint on the
workload, makes the planner run every filter for every pod over every node:
slower, never different.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
    "percentageOfNodesToScore (kube-scheduler stops filtering once it has found enough "
    "feasible nodes, 42% of 1,000 by default, and scores those; a plan scores every "
    "feasible node)",
)
GROW_UNMODELED = "DaemonSet pods on added nodes (an added node starts empty)"


def filter_names(engine: Engine) -> list[str]:
    return [e.name for e in engine.config.filters]


SPREAD = "PodTopologySpread"
AFFINITY = "InterPodAffinity"


def _spec(obj: Any) -> dict:
    spec = obj.get("spec") if isinstance(obj, dict) else None
    return spec if isinstance(spec, dict) else {}


def hard_spread(spec: dict) -> bool:
    """A topologySpreadConstraint the filter enforces (whenUnsatisfiable DoNotSchedule)."""
    constraints = spec.get("topologySpreadConstraints") or ()
    return any(
        not isinstance(c, dict) or c.get("whenUnsatisfiable", "DoNotSchedule") != "ScheduleAnyway"
        for c in constraints
    )


def required_pod_affinity(spec: dict, kinds: tuple[str, ...]) -> bool:
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        return False
    for kind in kinds:
        terms = affinity.get(kind)
        if isinstance(terms, dict) and terms.get("requiredDuringSchedulingIgnoredDuringExecution"):
            return True
    return False


def node_local_monotone(engine: Engine, workload: Iterable[dict] = ()) -> bool:
    """Whether this plan's filters are node-local and only ever turn pass into fail
    as the workload's pods are added: `workload` the Pod objects of the templates."""
    names = set(filter_names(engine))
    if "NodeResourcesFit" not in names:
        return False
    extra = names - NODE_LOCAL_MONOTONE
    if extra - {SPREAD, AFFINITY}:
        return False
    workload = list(workload)
    if SPREAD in extra:
        args = next((e.args for e in engine.config.filters if e.name == SPREAD), {}) or {}
        defaults = args.get("defaultConstraints") or ()
        if args.get("defaultingType") == "List" and hard_spread(
            {"topologySpreadConstraints": defaults}
        ):
            return False
        if any(hard_spread(_spec(p)) for p in workload):
            return False
    if AFFINITY in extra:
        both = ("podAffinity", "podAntiAffinity")
        if any(required_pod_affinity(_spec(p), both) for p in workload):
            return False
    return True


def workload_unmodeled(workload: Iterable[tuple[str, dict]]) -> list[str]:
    """The workloads (name, Pod object) whose pods carry what no plan checks."""
    claims, dra = [], []
    for name, pod in workload:
        spec = _spec(pod)
        volumes = spec.get("volumes") or ()
        if any(
            isinstance(v, dict) and ("persistentVolumeClaim" in v or "ephemeral" in v)
            for v in volumes
        ):
            claims.append(name)
        if spec.get("resourceClaims"):
            dra.append(name)
    out = []
    if claims:
        out.append(
            "PersistentVolumeClaims of " + ", ".join(claims) + " (placed as if bound anywhere)"
        )
    if dra:
        out.append("ResourceClaims of " + ", ".join(dra) + " (placed as if allocated anywhere)")
    return out


def unmodeled(
    engine: Engine,
    grow: bool,
    warnings: tuple[str, ...] = (),
    workload: Iterable[tuple[str, dict]] = (),
) -> list[str]:
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
    out.extend(workload_unmodeled(workload))
    out.extend(warnings)
    return out
