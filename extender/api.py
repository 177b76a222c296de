"""podsift's plugin API: everything a policy plugin imports, from one module.

    from extender.api import MAX_NODE_SCORE, NodeView, PodInfo, Policy

A plugin is a class registered under the `podsift.policies` entry-point group
(docs/PLUGINS.md walks through one). Its tests need only `extender.testing`.
Everything else under `extender` is internal and may change without notice;
the names below are the supported surface.

podsift's own built-in policies (`policies/`) import nothing else either.
"""

from extender.cache.affinitycounts import (
    POD_AFFINITY_PREFERRED,
    POD_AFFINITY_REQUIRED,
    POD_ANTI_AFFINITY_PREFERRED,
    POD_ANTI_AFFINITY_REQUIRED,
)
from extender.cache.view import NodeView, TaintSets
from extender.framework.args import ArgsErrors, as_int
from extender.framework.constants import all_fail, all_pass, zero_scores
from extender.framework.normalize import default_normalize_score
from extender.framework.policy import (
    DYNAMIC,
    MAX_NODE_SCORE,
    STATIC,
    FilterPolicy,
    Policy,
    ScorePolicy,
)
from extender.model.errors import ConfigError, InvalidInput
from extender.model.hostports import HostPort
from extender.model.names import is_qualified_name
from extender.model.pod import PodInfo
from extender.model.podaffinity import AffinityTerm, PodAffinity
from extender.model.podselector import EVERYTHING as EVERYTHING_SELECTOR
from extender.model.podselector import PodSelector, compile_pod_selector
from extender.model.resources import (
    NATIVE_RESOURCES,
    is_extended_resource,
    is_scalar_resource,
    lacks_room,
)
from extender.model.selectors import (
    CompiledNodeSelector,
    CompiledPreferredTerms,
    compile_label_map,
    compile_node_selector,
    compile_preferred_terms,
)
from extender.model.spread import SpreadConstraint, SpreadConstraints
from extender.model.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    Taint,
    Toleration,
    TolerationIndex,
    tolerations_tolerate,
)

__all__ = [
    # the interface
    "Policy",
    "FilterPolicy",
    "ScorePolicy",
    "MAX_NODE_SCORE",
    # what a policy declares it reads (`depends_on`): STATIC answers are reused per spec
    "STATIC",
    "DYNAMIC",
    # what a policy is called with
    "NodeView",
    "TaintSets",
    "PodInfo",
    "Taint",
    "Toleration",
    "HostPort",
    # errors: ConfigError from __init__ for bad args; InvalidInput for bad pod data
    "ConfigError",
    "InvalidInput",
    # node selectors, compiled once (in __init__) and evaluated by NodeView.label_mask
    "CompiledNodeSelector",
    "CompiledPreferredTerms",
    "compile_label_map",
    "compile_node_selector",
    "compile_preferred_terms",
    # pod label selectors and topology spread constraints (PodTopologySpread)
    "PodSelector",
    "EVERYTHING_SELECTOR",
    "compile_pod_selector",
    "SpreadConstraint",
    "SpreadConstraints",
    # inter-pod affinity: a pod's terms, and the kinds of terms placed pods carry
    "AffinityTerm",
    "PodAffinity",
    "POD_ANTI_AFFINITY_REQUIRED",
    "POD_AFFINITY_REQUIRED",
    "POD_AFFINITY_PREFERRED",
    "POD_ANTI_AFFINITY_PREFERRED",
    # shared constant answers, which the engine recognizes (docs/PLUGINS.md)
    "all_pass",
    "all_fail",
    "zero_scores",
    # helpers with kube-scheduler's semantics
    "default_normalize_score",
    "tolerations_tolerate",
    "TolerationIndex",
    "NO_SCHEDULE",
    "PREFER_NO_SCHEDULE",
    "NO_EXECUTE",
    "NATIVE_RESOURCES",
    "is_extended_resource",
    "is_scalar_resource",
    "lacks_room",
    "is_qualified_name",
    # validating args
    "ArgsErrors",
    "as_int",
]
