"""A pod's `spec.topologySpreadConstraints`, parsed once per spec.

Each constraint becomes a `SpreadConstraint` with its label selector compiled
(`extender.model.podselector`) and the defaults kube-scheduler 1.34 applies
(`filterTopologySpreadConstraints`): minDomains 1, nodeAffinityPolicy Honor,
nodeTaintsPolicy Ignore. `matchLabelKeys` stay keys here: their values come
from the pod's labels, which are per pod, not per spec (`resolved`).

What the API server's validation would refuse (maxSkew < 1, a missing or
invalid topologyKey, an unknown whenUnsatisfiable or inclusion policy,
minDomains < 1 or with ScheduleAnyway, a repeated {topologyKey,
whenUnsatisfiable} pair, a selector that does not parse, invalid
matchLabelKeys) is kept in `errors` as (field path, message) pairs instead of
failing the pod's parse: a pending pod with such a spec still counts nowhere
and stops nothing, and the PodTopologySpread policy answers a precise error
when it reads the pod, where kube-scheduler's PreFilter fails the cycle (it
only ever meets such a pod through an API server that skipped validation).
A field Go could not decode (a string maxSkew, a list that is an object)
raises `InvalidInput` naming it, as every other field of a pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extender.model.errors import InvalidInput
from extender.model.fields import integer_field, list_field, string_field
from extender.model.names import is_qualified_name
from extender.model.podselector import PodSelector, compile_pod_selector

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
WHEN_UNSATISFIABLE = (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY)
HONOR, IGNORE = "Honor", "Ignore"
INCLUSION_POLICIES = (HONOR, IGNORE)
FIELD = "spec.topologySpreadConstraints"


class SpreadConstraint:
    """One constraint, defaults applied; immutable and hashable by its fields."""

    __slots__ = (
        "max_skew",
        "topology_key",
        "hard",
        "selector",
        "match_label_keys",
        "min_domains",
        "honor_affinity",
        "honor_taints",
        "key",
        "_hash",
    )

    def __init__(
        self,
        max_skew: int,
        topology_key: str,
        hard: bool,
        selector: PodSelector,
        match_label_keys: tuple[str, ...] = (),
        min_domains: int = 1,
        honor_affinity: bool = True,
        honor_taints: bool = False,
    ) -> None:
        self.max_skew = max_skew
        self.topology_key = topology_key
        self.hard = hard
        self.selector = selector
        self.match_label_keys = match_label_keys
        self.min_domains = min_domains
        self.honor_affinity = honor_affinity
        self.honor_taints = honor_taints
        self.key = (
            max_skew,
            topology_key,
            hard,
            selector,
            match_label_keys,
            min_domains,
            honor_affinity,
            honor_taints,
        )
        self._hash = hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return type(other) is SpreadConstraint and other.key == self.key

    def __repr__(self) -> str:
        return f"SpreadConstraint{self.key!r}"

    def with_selector(self, selector: PodSelector) -> SpreadConstraint:
        """The same constraint with another selector (default constraints get theirs
        per pod, from the pod's owners)."""
        return SpreadConstraint(
            self.max_skew,
            self.topology_key,
            self.hard,
            selector,
            self.match_label_keys,
            self.min_domains,
            self.honor_affinity,
            self.honor_taints,
        )

    def resolved(self, labels: Mapping[str, str]) -> SpreadConstraint:
        """The constraint for one pod: its `matchLabelKeys` values merged into the
        selector (keys the pod lacks are skipped, as upstream)."""
        if not self.match_label_keys:
            return self
        extra = {k: labels[k] for k in self.match_label_keys if k in labels}
        if not extra:
            return self
        return SpreadConstraint(
            self.max_skew,
            self.topology_key,
            self.hard,
            self.selector.with_labels(extra),
            (),
            self.min_domains,
            self.honor_affinity,
            self.honor_taints,
        )


class SpreadConstraints:
    """A pod's constraints in spec order, and the validation errors of those left out."""

    __slots__ = ("constraints", "errors", "footprint", "_hash")

    def __init__(
        self, constraints: tuple[SpreadConstraint, ...], errors: tuple[tuple[str, str], ...]
    ) -> None:
        self.constraints = constraints
        self.errors = errors
        self.footprint = 200 * len(constraints) + sum(len(p) + len(m) for p, m in errors)
        self._hash = hash((constraints, errors))

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is SpreadConstraints
            and other.constraints == self.constraints
            and other.errors == self.errors
        )

    def __hash__(self) -> int:
        return self._hash

    def error_message(self) -> str:
        """Every problem as "path: message; path: message"."""
        return "; ".join(f"{path}: {message}" for path, message in self.errors)


def _policy(value: Any, path: str, errors: list) -> bool | None:
    """Honor -> True, Ignore -> False, absent -> None (the caller's default)."""
    if value is None:
        return None
    text = string_field(value, path)
    if text not in INCLUSION_POLICIES:
        errors.append((path, f"unsupported value {text!r}: must be Honor or Ignore"))
        return None
    return text == HONOR


def _constraint(item: Any, path: str, errors: list, seen: set) -> SpreadConstraint | None:
    if not isinstance(item, dict):
        raise InvalidInput(f"must be an object, got {type(item).__name__}", path)
    found = len(errors)
    max_skew = integer_field(item.get("maxSkew"), f"{path}.maxSkew")
    if max_skew < 1:
        errors.append((f"{path}.maxSkew", f"must be greater than zero, got {max_skew}"))
    key = string_field(item.get("topologyKey"), f"{path}.topologyKey")
    if not key:
        errors.append((f"{path}.topologyKey", "can not be empty"))
    elif not is_qualified_name(key):
        errors.append((f"{path}.topologyKey", f"{key!r} is not a valid label key"))
    when = string_field(item.get("whenUnsatisfiable"), f"{path}.whenUnsatisfiable")
    if when not in WHEN_UNSATISFIABLE:
        errors.append(
            (
                f"{path}.whenUnsatisfiable",
                f"unsupported value {when!r}: must be DoNotSchedule or ScheduleAnyway",
            )
        )
    pair = (key, when)
    if pair in seen:
        errors.append(
            (
                f"{path}.{{topologyKey, whenUnsatisfiable}}",
                f"duplicate {{{key}, {when}}}",
            )
        )
    seen.add(pair)
    min_domains = 1
    raw_min = item.get("minDomains")
    if raw_min is not None:
        min_domains = integer_field(raw_min, f"{path}.minDomains")
        if min_domains < 1:
            errors.append((f"{path}.minDomains", f"must be greater than zero, got {min_domains}"))
        elif when != DO_NOT_SCHEDULE:
            errors.append(
                (f"{path}.minDomains", "can only use minDomains if whenUnsatisfiable=DoNotSchedule")
            )
    honor_affinity = _policy(item.get("nodeAffinityPolicy"), f"{path}.nodeAffinityPolicy", errors)
    honor_taints = _policy(item.get("nodeTaintsPolicy"), f"{path}.nodeTaintsPolicy", errors)
    raw_selector = item.get("labelSelector")
    selector, selector_errors = compile_pod_selector(raw_selector, f"{path}.labelSelector")
    errors.extend(selector_errors)
    keys = []
    for i, label in enumerate(list_field(item.get("matchLabelKeys"), f"{path}.matchLabelKeys")):
        where = f"{path}.matchLabelKeys[{i}]"
        label = string_field(label, where)
        if not is_qualified_name(label):
            errors.append((where, f"{label!r} is not a valid label key"))
        keys.append(label)
    if keys and raw_selector is None:
        errors.append(
            (f"{path}.matchLabelKeys", "must not be specified when labelSelector is not set")
        )
    if len(errors) > found or selector is None:
        return None
    return SpreadConstraint(
        max_skew,
        key,
        when == DO_NOT_SCHEDULE,
        selector,
        tuple(dict.fromkeys(keys)),
        min_domains,
        True if honor_affinity is None else honor_affinity,
        False if honor_taints is None else honor_taints,
    )


def parse_spread_constraints(value: Any, path: str = FIELD) -> SpreadConstraints | None:
    """The compiled constraints of a pod spec; None when it has none."""
    items = list_field(value, path)
    if not items:
        return None
    errors: list[tuple[str, str]] = []
    seen: set = set()
    constraints = []
    for i, item in enumerate(items):
        constraint = _constraint(item, f"{path}[{i}]", errors, seen)
        if constraint is not None:
            constraints.append(constraint)
    return SpreadConstraints(tuple(constraints), tuple(errors))
