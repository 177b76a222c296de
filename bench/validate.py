"""Independent check of final placements: does every pod really fit where it went?

Written apart from the engine's policy code on purpose (it imports neither
`policies` nor `extender`): a straightforward, per-pod re-evaluation of the
kube-scheduler filter rules against the final placements, so a bug in the
engine's fast paths cannot hide behind the same bug here. It even parses
quantities itself, with exact fractions.

Pods are checked in the order of `placements` (the bind order); pods already
bound in the snapshot (`spec.nodeName`, phase not Succeeded/Failed) count
first. A pod that overflows a node is reported and still counted on the node,
as it would be in the cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]))?$"
)
_SUFFIX = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def parse_amount(resource: str, value: Any) -> int:
    """A quantity as an integer: millicores for cpu, whole units (rounded up) otherwise."""
    if isinstance(value, str):
        return _parse_text(resource == "cpu", value)
    return _parse(resource, value)


@lru_cache(maxsize=4096)
def _parse_text(is_cpu: bool, value: str) -> int:
    return _parse("cpu" if is_cpu else "", value)


def _parse(resource: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{resource}: not a quantity: {value!r}")
    if isinstance(value, int):
        exact = Fraction(value)
    else:
        match = _QUANTITY.match(str(value).strip())
        if not match:
            raise ValueError(f"{resource}: not a quantity: {value!r}")
        number, exponent, suffix = match.groups()
        exact = Fraction(number)
        if exponent:
            exact *= Fraction(10) ** int(exponent[1:])
        else:
            exact *= _SUFFIX[suffix or ""]
    if resource == "cpu":
        exact *= 1000
    return -((-exact.numerator) // exact.denominator)  # ceiling


@dataclass(frozen=True)
class Violation:
    """One reason a placement is invalid."""

    pod: str  # "namespace/name" (or the UID when the pod is unknown)
    uid: str
    node: str
    kind: str  # unknown-pod, unknown-node, unschedulable, node-name, node-selector,
    # node-affinity, taint, host-port, insufficient, spread-label, spread-skew,
    # pod-affinity, pod-anti-affinity, existing-pod-anti-affinity
    detail: str

    def __str__(self) -> str:
        return f"{self.pod} on {self.node}: {self.kind}: {self.detail}"


# ------------------------------------------------------------------ pod requests


def _container_requests(container: dict[str, Any]) -> dict[str, int]:
    requests = ((container.get("resources") or {}).get("requests")) or {}
    return {name: parse_amount(name, value) for name, value in requests.items()}


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for name, amount in more.items():
        into[name] = into.get(name, 0) + amount


def _max(into: dict[str, int], other: dict[str, int]) -> None:
    for name, amount in other.items():
        if amount > into.get(name, 0):
            into[name] = amount


def pod_requests(pod: dict[str, Any]) -> dict[str, int]:
    """What a pod takes from its node, the way kube-scheduler counts it.

    Regular containers and sidecars (init containers with restartPolicy
    Always) run together; each ordinary init container runs alone beside the
    sidecars started before it; the pod needs the larger of the two, plus
    its overhead. The "pods" slot is not included.
    """
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        _add(total, _container_requests(container))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or []:
        requests = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            _max(init_peak, sidecars)
        else:
            running = dict(sidecars)
            _add(running, requests)
            _max(init_peak, running)
    _max(total, init_peak)
    overhead = spec.get("overhead") or {}
    _add(total, {name: parse_amount(name, value) for name, value in overhead.items()})
    return {name: amount for name, amount in total.items() if amount}


# ------------------------------------------------------------------- selectors


def _int_or_none(text: Any) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _requirement_holds(expr: dict[str, Any], values_by_key: dict[str, str]) -> bool:
    key = expr.get("key", "")
    operator = expr.get("operator", "")
    values = expr.get("values") or []
    present = key in values_by_key
    value = values_by_key.get(key)
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        mine, theirs = _int_or_none(value), _int_or_none(values[0])
        if mine is None or theirs is None:
            return False
        return mine > theirs if operator == "Gt" else mine < theirs
    return False


def _term_matches(term: dict[str, Any], labels: dict[str, str], node_name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects nothing
    if not all(_requirement_holds(e, labels) for e in expressions):
        return False
    by_field = {"metadata.name": node_name}
    return all(_requirement_holds(f, by_field) for f in fields)


def required_affinity_matches(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    """The pod's requiredDuringScheduling node affinity (terms ORed) holds on the node."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = (node.get("metadata") or {}).get("name", "")
    return any(_term_matches(t, labels, name) for t in required.get("nodeSelectorTerms") or [])


def node_selector_matches(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    return all(key in labels and labels[key] == value for key, value in selector.items())


# ---------------------------------------------------------------------- taints


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """kube's Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True  # with an empty key it tolerates every taint
    if operator == "Equal":
        return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taint(pod: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    """The first NoSchedule/NoExecute taint of the node the pod does not tolerate."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _tolerates_unschedulable(pod: dict[str, Any]) -> bool:
    taint = {"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule"}
    return any(tolerates(t, taint) for t in (pod.get("spec") or {}).get("tolerations") or [])


# ------------------------------------------------------------------------ ports


def host_ports(pod: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port with a host port."""
    ports = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            number = port.get("hostPort") or 0
            if number > 0:
                ip = port.get("hostIP") or "0.0.0.0"
                ports.append((ip, port.get("protocol") or "TCP", int(number)))
    return ports


def _ports_conflict(a: tuple[str, str, int], b: tuple[str, str, int]) -> bool:
    if a[1] != b[1] or a[2] != b[2]:
        return False
    return a[0] == b[0] or "0.0.0.0" in (a[0], b[0])


# --------------------------------------------------------------------- nodes


class _NodeLedger:
    """What has been placed on one node so far."""

    def __init__(self, node: dict[str, Any]) -> None:
        self.node = node
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        self.allocatable = {k: parse_amount(k, v) for k, v in allocatable.items()}
        self.used: dict[str, int] = {"pods": 0}
        self.ports: list[tuple[str, str, int]] = []

    def add(self, requests: dict[str, int], ports: list[tuple[str, str, int]]) -> None:
        _add(self.used, requests)
        self.used["pods"] += 1
        self.ports.extend(ports)


def _pod_key(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"


def _check_pod(
    pod: dict[str, Any], ledger: _NodeLedger, requests: dict[str, int]
) -> list[tuple[str, str]]:
    """(kind, detail) of every rule the pod breaks on this node, before it is added."""
    node = ledger.node
    problems = []
    node_name = (node.get("metadata") or {}).get("name", "")
    wanted = (pod.get("spec") or {}).get("nodeName")
    if wanted and wanted != node_name:
        problems.append(("node-name", f"pod asks for node {wanted}"))
    if (node.get("spec") or {}).get("unschedulable") and not _tolerates_unschedulable(pod):
        problems.append(("unschedulable", "node is cordoned"))
    if not node_selector_matches(pod, node):
        problems.append(("node-selector", "nodeSelector does not match the node's labels"))
    if not required_affinity_matches(pod, node):
        problems.append(("node-affinity", "required node affinity does not match"))
    taint = untolerated_taint(pod, node)
    if taint is not None:
        problems.append(
            (
                "taint",
                f"untolerated taint {taint.get('key')}={taint.get('value', '')}"
                f":{taint.get('effect')}",
            )
        )
    for port in host_ports(pod):
        if any(_ports_conflict(port, other) for other in ledger.ports):
            problems.append(("host-port", f"host port {port[1]}/{port[2]} already in use"))
    requests_with_slot = dict(requests)
    requests_with_slot["pods"] = 1
    for resource, amount in requests_with_slot.items():
        free = ledger.allocatable.get(resource, 0) - ledger.used.get(resource, 0)
        if amount > free:
            problems.append(
                (
                    "insufficient",
                    f"{resource}: needs {amount}, "
                    f"{max(free, 0)} of {ledger.allocatable.get(resource, 0)} left",
                )
            )
    return problems


# ---------------------------------------------------------------- inter-pod affinity
# Required pod affinity and anti-affinity, both ways round, re-checked from the
# API's definitions: the placed pods are counted per topology domain by their
# (namespace, labels), so a term is matched against the label sets in a domain,
# never against each pod.

REQUIRED_TERMS = "requiredDuringSchedulingIgnoredDuringExecution"


def _pod_terms(pod: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    return list(affinity.get(REQUIRED_TERMS) or [])


def _namespace_of(pod: dict[str, Any]) -> str:
    return (pod.get("metadata") or {}).get("namespace") or "default"


def _labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def label_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector over pod or namespace labels: null matches nothing, {} all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_requirement_holds(e, labels) for e in selector.get("matchExpressions") or [])


def _effective_selector(term: dict[str, Any], owner_labels: dict[str, str]) -> Any:
    """The term's labelSelector with matchLabelKeys/mismatchLabelKeys merged in, as the
    API server does at creation (a key the selector already names is left alone)."""
    selector = term.get("labelSelector")
    keys = (term.get("matchLabelKeys") or [], term.get("mismatchLabelKeys") or [])
    if selector is None or not (keys[0] or keys[1]):
        return selector
    named = set(selector.get("matchLabels") or {})
    named.update(e.get("key") for e in selector.get("matchExpressions") or [])
    extra = []
    for operator, names in (("In", keys[0]), ("NotIn", keys[1])):
        for key in names:
            if key in owner_labels and key not in named:
                extra.append({"key": key, "operator": operator, "values": [owner_labels[key]]})
    return {**selector, "matchExpressions": list(selector.get("matchExpressions") or []) + extra}


def _term_selects(
    term: dict[str, Any],
    owner: dict[str, Any],
    namespace: str,
    labels: dict[str, str],
    namespace_labels: dict[str, str] | None,
) -> bool:
    """Whether `owner`'s term selects a pod in `namespace` with `labels`
    (`namespace_labels` None: the namespace is unknown, no namespaceSelector matches it)."""
    names = term.get("namespaces") or []
    ns_selector = term.get("namespaceSelector")
    if not names and ns_selector is None:
        in_scope = namespace == _namespace_of(owner)
    else:
        in_scope = namespace in names or (
            ns_selector is not None
            and namespace_labels is not None
            and label_selector_matches(ns_selector, namespace_labels)
        )
    return in_scope and label_selector_matches(_effective_selector(term, _labels_of(owner)), labels)


class _PodAffinityLedger:
    """Placed pods per topology domain, and the anti-affinity terms placed pods carry."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.namespaces = {
            i["metadata"]["name"]: _labels_of(i) for i in items if i.get("kind") == "Namespace"
        }
        self.node_labels = {
            i["metadata"]["name"]: _labels_of(i) for i in items if i.get("kind") == "Node"
        }
        keys = set()
        for item in items:
            if item.get("kind") == "Pod":
                for kind in ("podAffinity", "podAntiAffinity"):
                    keys.update(t.get("topologyKey", "") for t in _pod_terms(item, kind))
        self.keys = keys
        # (key, value) -> {(namespace, labels items): pods}; key -> the same over all values
        self.by_domain: dict[tuple[str, str], dict[tuple, int]] = {}
        self.by_key: dict[str, dict[tuple, int]] = {}
        # (key, value) -> the placed pods' distinct required anti-affinity terms there:
        # (term as JSON, owner's namespace, owner's labels) -> (term, an owner pod)
        self.anti: dict[tuple[str, str], dict[tuple, tuple[dict, dict]]] = {}

    def _groups(self, key: str, node_name: str) -> dict[tuple, int] | None:
        value = self.node_labels.get(node_name, {}).get(key)
        return None if value is None else self.by_domain.get((key, value), {})

    def problems(self, pod: dict[str, Any], node_name: str) -> list[tuple[str, str]]:
        out = []
        labels_here = self.node_labels.get(node_name, {})
        namespace = _namespace_of(pod)
        known = self.namespaces.get

        def selects_group(term: dict[str, Any], group: tuple) -> bool:
            ns, items = group
            return _term_selects(term, pod, ns, dict(items), known(ns))

        affinity = _pod_terms(pod, "podAffinity")
        if affinity:
            if any(t.get("topologyKey", "") not in labels_here for t in affinity):
                out.append(("pod-affinity", "the node lacks a topology key of the pod's affinity"))
            else:

                def all_terms(group: tuple) -> bool:
                    return all(selects_group(t, group) for t in affinity)

                found = all(
                    any(
                        n and all_terms(g)
                        for g, n in self._groups(t["topologyKey"], node_name).items()
                    )
                    for t in affinity
                )
                if not found:
                    anywhere = any(
                        n and all_terms(g)
                        for t in affinity
                        for g, n in self.by_key.get(t["topologyKey"], {}).items()
                    )
                    own = all(
                        _term_selects(t, pod, namespace, _labels_of(pod), known(namespace))
                        for t in affinity
                    )
                    if anywhere or not own:
                        out.append(("pod-affinity", "no pod matching its affinity in the domain"))
        for term in _pod_terms(pod, "podAntiAffinity"):
            groups = self._groups(term.get("topologyKey", ""), node_name)
            if groups and any(n and selects_group(term, g) for g, n in groups.items()):
                out.append(
                    ("pod-anti-affinity", f"a matching pod shares {term.get('topologyKey')}")
                )
                break
        ns_labels = known(namespace) or {}
        for key in self.keys:
            value = labels_here.get(key)
            if value is None:
                continue
            for term, owner in self.anti.get((key, value), {}).values():
                if _term_selects(term, owner, namespace, _labels_of(pod), ns_labels):
                    out.append(
                        ("existing-pod-anti-affinity", f"{_pod_key(owner)} forbids it by {key}")
                    )
                    return out
        return out

    def add(self, pod: dict[str, Any], node_name: str) -> None:
        labels_here = self.node_labels.get(node_name, {})
        group = (_namespace_of(pod), tuple(sorted(_labels_of(pod).items())))
        for key in self.keys:
            value = labels_here.get(key)
            if value is None:
                continue
            for counts in (
                self.by_domain.setdefault((key, value), {}),
                self.by_key.setdefault(key, {}),
            ):
                counts[group] = counts.get(group, 0) + 1
        for term in _pod_terms(pod, "podAntiAffinity"):
            value = labels_here.get(term.get("topologyKey", ""))
            if value is not None:
                distinct = (json.dumps(term, sort_keys=True), group[0], group[1])
                self.anti.setdefault((term["topologyKey"], value), {})[distinct] = (term, pod)


class _RequestsCache:
    """pod_requests memoized per spec object: the pods of one deployment share theirs."""

    def __init__(self) -> None:
        self._by_spec: dict[int, tuple[Any, dict[str, int]]] = {}

    def __call__(self, pod: dict[str, Any]) -> dict[str, int]:
        spec = pod.get("spec")
        hit = self._by_spec.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        requests = pod_requests(pod)
        self._by_spec[id(spec)] = (spec, requests)
        return requests


def validate(
    items: list[dict[str, Any]], placements: dict[str, str], order_known: bool = True
) -> list[Violation]:
    """Every violation of the final placements {pod uid: node name}, in placement order.

    `order_known`: the placements are in the order they were made, so each
    DoNotSchedule spread constraint is checked as its pod saw the cluster. When
    only an approximate order is known (a real kube-scheduler binds in
    goroutines, so Bindings commit out of decision order), False checks each
    constraint against the final placements instead: the pod's domain, counting
    every matching pod, at most maxSkew above the smallest eligible domain. That
    is what the constraint guarantees when the pods its selector matches share
    it, as a Deployment's pods do (later matching pods could only be placed
    where they kept that bound); every other check does not depend on order."""
    ledgers: dict[str, _NodeLedger] = {}
    pods_by_uid: dict[str, dict[str, Any]] = {}
    prebound: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("kind")
        if kind == "Node":
            ledgers[item["metadata"]["name"]] = _NodeLedger(item)
        elif kind == "Pod":
            uid = (item.get("metadata") or {}).get("uid", "")
            pods_by_uid[uid] = item
            bound = (item.get("spec") or {}).get("nodeName")
            phase = (item.get("status") or {}).get("phase")
            if bound and phase not in ("Succeeded", "Failed"):
                prebound.append(item)
    spread = SpreadTracker([ledger.node for ledger in ledgers.values()])
    affinity = _PodAffinityLedger(items)
    for pod in prebound:
        ledger = ledgers.get(pod["spec"]["nodeName"])
        if ledger is not None:
            ledger.add(pod_requests(pod), host_ports(pod))
            spread.add(pod, pod["spec"]["nodeName"])
            affinity.add(pod, pod["spec"]["nodeName"])
    violations = []
    requests_of = _RequestsCache()
    for uid, node_name in placements.items():
        pod = pods_by_uid.get(uid)
        if pod is None:
            violations.append(Violation(uid, uid, node_name, "unknown-pod", "no such pod"))
            continue
        ledger = ledgers.get(node_name)
        if ledger is None:
            violations.append(
                Violation(_pod_key(pod), uid, node_name, "unknown-node", "no such node")
            )
            continue
        requests = requests_of(pod)
        for kind, detail in _check_pod(pod, ledger, requests):
            violations.append(Violation(_pod_key(pod), uid, node_name, kind, detail))
        if order_known and _hard_constraints(pod):
            broken = spread.allowed(pod)[node_name]
            if broken is not None:
                violations.append(Violation(_pod_key(pod), uid, node_name, *broken))
        for kind, detail in affinity.problems(pod, node_name):
            violations.append(Violation(_pod_key(pod), uid, node_name, kind, detail))
        ledger.add(requests, host_ports(pod))
        spread.add(pod, node_name)
        affinity.add(pod, node_name)
    if not order_known:
        for uid, node_name in placements.items():
            pod = pods_by_uid.get(uid)
            if pod is None or node_name not in ledgers or not _hard_constraints(pod):
                continue
            broken = spread.allowed(pod, placed_at=node_name)[node_name]
            if broken is not None:
                violations.append(Violation(_pod_key(pod), uid, node_name, *broken))
    return violations


# ------------------------------------------------------------ topology spreading


def _hard_constraints(pod: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(constraint, its selector with the matchLabelKeys values ANDed in) for each
    DoNotSchedule topologySpreadConstraint of the pod."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or []:
        if c.get("whenUnsatisfiable") != "DoNotSchedule":
            continue
        selector = c.get("labelSelector")
        extra = {k: labels[k] for k in c.get("matchLabelKeys") or [] if k in labels}
        if selector is not None and extra:
            selector = dict(selector)
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), **extra}
        out.append((c, selector))
    return out


class _DomainCounts:
    """One constraint's matching pods per domain of its eligible nodes, kept up to
    date as pods are placed (every eligible domain is a key, with 0 when empty)."""

    __slots__ = ("counts", "domain_of")

    def __init__(self, domain_of: dict[str, str], per_node: dict[str, int]) -> None:
        self.domain_of = domain_of  # eligible node name -> its domain
        self.counts: dict[str, int] = {}
        for name, domain in domain_of.items():
            self.counts[domain] = self.counts.get(domain, 0) + per_node.get(name, 0)


class SpreadTracker:
    """Placed pods per node, for checking DoNotSchedule topology spread constraints.

    The rule, as kube-scheduler's PodTopologySpread filter states it: the nodes
    that carry every topology key of the pod's hard constraints (and, by default,
    match its nodeSelector and required node affinity; with nodeTaintsPolicy
    Honor, have no taint it does not tolerate) are the eligible ones; per
    constraint, count the matching pods of the pod's namespace (terminating ones
    left out) in each eligible domain; the pod may go to a node whose domain
    count + 1 (if the pod matches its own selector) - the smallest count (0 when
    there are fewer domains than minDomains) is at most maxSkew.

    The eligible nodes are worked out once per pod spec and the domain counts kept
    as pods are added, so a check costs the constraints, not the nodes: at 15,000
    nodes a walk over every node per pod took ~0.5 s, hours for a bench run.
    """

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.labels = {
            (n.get("metadata") or {}).get("name", ""): (n.get("metadata") or {}).get("labels") or {}
            for n in nodes
        }
        self.placed: list[tuple[str, dict[str, str], str]] = []  # (namespace, labels, node)
        # (namespace, selector as JSON text) -> (selector, {node name: matching pods})
        self._counts: dict[tuple[str, str], tuple[Any, dict[str, int]]] = {}
        # what the pod spec's eligibility depends on -> the eligible nodes' names
        self._eligible: dict[tuple[Any, ...], list[str]] = {}
        # (count key, eligibility key, topology key) -> its domain counts
        self._domains: dict[tuple[Any, ...], _DomainCounts] = {}
        self._by_count: dict[tuple[str, str], list[_DomainCounts]] = {}

    def add(self, pod: dict[str, Any], node_name: str) -> None:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") is not None:
            return
        namespace = meta.get("namespace") or "default"
        labels = meta.get("labels") or {}
        self.placed.append((namespace, labels, node_name))
        for key, (selector, per_node) in self._counts.items():
            if key[0] == namespace and label_selector_matches(selector, labels):
                per_node[node_name] = per_node.get(node_name, 0) + 1
                for counter in self._by_count.get(key, ()):
                    domain = counter.domain_of.get(node_name)
                    if domain is not None:
                        counter.counts[domain] += 1

    @staticmethod
    def _count_key(namespace: str, selector: Any) -> tuple[str, str]:
        return (
            namespace,
            repr(sorted((selector or {}).items())) if selector is not None else "nil",
        )

    def _per_node(self, namespace: str, selector: Any) -> dict[str, int]:
        key = self._count_key(namespace, selector)
        found = self._counts.get(key)
        if found is None:
            per_node: dict[str, int] = {}
            for ns, labels, node_name in self.placed:
                if ns == namespace and label_selector_matches(selector, labels):
                    per_node[node_name] = per_node.get(node_name, 0) + 1
            found = self._counts[key] = (selector, per_node)
        return found[1]

    def _domain_counts(
        self,
        pod: dict[str, Any],
        namespace: str,
        selector: Any,
        constraint: dict[str, Any],
        keys: tuple[str, ...],
    ) -> _DomainCounts:
        spec = pod.get("spec") or {}
        honor_affinity = constraint.get("nodeAffinityPolicy", "Honor") == "Honor"
        honor_taints = constraint.get("nodeTaintsPolicy") == "Honor"
        affinity = (spec.get("affinity") or {}).get("nodeAffinity")
        eligibility = (
            keys,
            repr((spec.get("nodeSelector"), affinity)) if honor_affinity else None,
            repr(spec.get("tolerations")) if honor_taints else None,
        )
        eligible = self._eligible.get(eligibility)
        if eligible is None:
            eligible = []
            for node in self.nodes:
                labels = (node.get("metadata") or {}).get("labels") or {}
                if not all(k in labels for k in keys):
                    continue
                if honor_affinity and not (
                    node_selector_matches(pod, node) and required_affinity_matches(pod, node)
                ):
                    continue
                if honor_taints and untolerated_taint(pod, node):
                    continue
                eligible.append((node.get("metadata") or {}).get("name", ""))
            self._eligible[eligibility] = eligible
        topology_key = constraint.get("topologyKey", "")
        count_key = self._count_key(namespace, selector)
        found = self._domains.get((count_key, eligibility, topology_key))
        if found is None:
            per_node = self._per_node(namespace, selector)
            domain_of = {name: self.labels[name][topology_key] for name in eligible}
            found = _DomainCounts(domain_of, per_node)
            self._domains[(count_key, eligibility, topology_key)] = found
            self._by_count.setdefault(count_key, []).append(found)
        return found

    def allowed(self, pod: dict[str, Any], placed_at: str | None = None) -> _SpreadVerdicts:
        """{node name: None where the pod may go, else (kind, detail)} for every node,
        worked out per node as it is looked up.

        `placed_at`: the pod is already among the placed pods, on that node (the
        final-state check): it is not counted a second time."""
        hard = _hard_constraints(pod)
        rules = []
        if hard:
            meta = pod.get("metadata") or {}
            namespace = meta.get("namespace") or "default"
            own_labels = meta.get("labels") or {}
            keys = tuple(c.get("topologyKey", "") for c, _ in hard)
            for c, selector in hard:
                counts = self._domain_counts(pod, namespace, selector, c, keys).counts
                smallest = min(counts.values()) if counts else 0
                if len(counts) < (c.get("minDomains") or 1):
                    smallest = 0
                itself = 1 if label_selector_matches(selector, own_labels) else 0
                if placed_at is not None:
                    itself = 0  # counted in its domain already
                rules.append((c.get("topologyKey", ""), counts, itself - smallest, c))
        return _SpreadVerdicts(self.labels, rules)


class _SpreadVerdicts(Mapping):
    """SpreadTracker.allowed's answer: a node's verdict, computed when asked for."""

    def __init__(self, labels: dict[str, dict[str, str]], rules: list[tuple[Any, ...]]) -> None:
        self.labels = labels
        self.rules = rules  # per hard constraint: (topology key, counts, offset, constraint)

    def __getitem__(self, name: str) -> tuple[str, str] | None:
        labels = self.labels[name]
        for key, counts, offset, c in self.rules:  # the first constraint broken names it
            if key not in labels:
                return ("spread-label", f"node lacks topology key {key}")
            skew = counts.get(labels[key], 0) + offset
            if skew > c.get("maxSkew", 0):
                return (
                    "spread-skew",
                    f"{key}={labels[key]}: skew {skew} > maxSkew {c.get('maxSkew')}",
                )
        return None

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)


def invalid_pods(violations: list[Violation]) -> int:
    """How many distinct pods were placed invalidly."""
    return len({v.uid for v in violations})


def utilization(
    items: list[dict[str, Any]], placements: dict[str, str], resources: tuple[str, ...]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per node: {resource: (used, allocatable)} after the placements (for the report)."""
    ledgers = {i["metadata"]["name"]: _NodeLedger(i) for i in items if i.get("kind") == "Node"}
    pods = {i["metadata"]["uid"]: i for i in items if i.get("kind") == "Pod"}
    requests_of = _RequestsCache()
    for item in pods.values():
        bound = (item.get("spec") or {}).get("nodeName")
        if bound in ledgers and (item.get("status") or {}).get("phase") not in (
            "Succeeded",
            "Failed",
        ):
            ledgers[bound].add(pod_requests(item), [])
    for uid, node in placements.items():
        pod = pods.get(uid)
        if pod is None or node not in ledgers:
            continue
        ledgers[node].add(requests_of(pod), [])
    return {
        name: {r: (ledger.used.get(r, 0), ledger.allocatable.get(r, 0)) for r in resources}
        for name, ledger in ledgers.items()
    }
