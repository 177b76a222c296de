"""How big a pod podsift schedules: caps where the cost of a request is a product.

Most of a request's cost is linear in its size (tolerations and host ports are
indexed, taint sets judged once each). Two parts cannot be: a node-affinity
selector is evaluated over every candidate node (requirements x nodes), and a
pod that fits nowhere gets a reason per node naming each resource it lacks
(resources x nodes). Kubernetes sets no limit on either; podsift refuses a pod
past these, far above any real pod, with InvalidInput (HTTP 400) before it takes
the state lock, so one request cannot hold every other verb up.

The caps apply to the pods the verbs schedule, not to pods from the API server
or a snapshot: a running pod's affinity is never evaluated, and its resources
must be counted whatever their number.
"""

from __future__ import annotations

from extender.model.errors import InvalidInput
from extender.model.pod import PodInfo

#: Requirements (matchExpressions and matchFields, after removing duplicates) in
#: one selector: spec.nodeSelector's keys, the required terms, or the preferred
#: terms. Real pods have a handful; generated ones (a term per node name) a few
#: thousand.
MAX_SELECTOR_REQUIREMENTS = 10_000

#: Distinct resources one pod requests (containers, init containers, overhead and
#: pod-level requests together; those podsift does not count left out). Real pods
#: request cpu, memory, storage, hugepages and a device or two.
MAX_POD_RESOURCES = 128

#: Inter-pod affinity terms of one pod, all four lists together (issue 12): each is
#: a count kept per topology domain (built by a pass over the placed pods' label
#: sets the first time) and a gather over the candidates. Real pods have one to three.
MAX_POD_AFFINITY_TERMS = 256

_AFFINITY = "spec.affinity.nodeAffinity"
_SELECTORS = (
    ("node_selector", "spec.nodeSelector"),
    ("required_affinity", f"{_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution"),
    ("preferred_affinity", f"{_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution"),
)


def check_schedulable_size(pod: PodInfo) -> None:
    """Raise InvalidInput naming the field when `pod` is past a cap of this module."""
    for attribute, field in _SELECTORS:
        selector = getattr(pod, attribute)
        if selector is not None and selector.size > MAX_SELECTOR_REQUIREMENTS:
            raise InvalidInput(
                f"has {selector.size:,} distinct requirements; podsift schedules pods with "
                f"at most {MAX_SELECTOR_REQUIREMENTS:,} per selector, since each is evaluated "
                "over every candidate node",
                field,
            )
    terms = pod.pod_affinity
    if terms is not None:
        count = (
            len(terms.required_affinity)
            + len(terms.required_anti_affinity)
            + len(terms.preferred_affinity)
            + len(terms.preferred_anti_affinity)
        )
        if count > MAX_POD_AFFINITY_TERMS:
            raise InvalidInput(
                f"has {count:,} pod affinity and anti-affinity terms; podsift schedules pods "
                f"with at most {MAX_POD_AFFINITY_TERMS}, since each is counted per topology "
                "domain and evaluated over every candidate node",
                "spec.affinity",
            )
    if len(pod.requests) > MAX_POD_RESOURCES:
        raise InvalidInput(
            f"requests {len(pod.requests):,} distinct resources; podsift schedules pods with "
            f"at most {MAX_POD_RESOURCES}, since a node's reason names each one it lacks",
            "spec",
        )
