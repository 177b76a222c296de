"""PodTopologySpreadArgs: `defaultConstraints` and `defaultingType`, validated once.

As kube-scheduler 1.34's v1 defaults and `ValidatePodTopologySpreadArgs`:
`defaultingType` is System (the default) or List; System takes no
`defaultConstraints` and means maxSkew 3 per `kubernetes.io/hostname` and 5 per
`topology.kubernetes.io/zone`, both ScheduleAnyway. Each default constraint
needs maxSkew > 0, a valid topologyKey, a known whenUnsatisfiable, no
labelSelector (it is deduced per pod) and no repeated {topologyKey,
whenUnsatisfiable}; every problem is reported at once.
"""

from __future__ import annotations

from typing import Any

from extender.api import (
    EVERYTHING_SELECTOR,
    ArgsErrors,
    SpreadConstraint,
    as_int,
    is_qualified_name,
)

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SYSTEM, LIST = "System", "List"
DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"

# kube-scheduler's systemDefaultConstraints; the selector is filled in per pod
SYSTEM_DEFAULTS = (
    SpreadConstraint(3, HOSTNAME, False, EVERYTHING_SELECTOR),
    SpreadConstraint(5, ZONE, False, EVERYTHING_SELECTOR),
)
_FIELDS = ("defaultConstraints", "defaultingType")
_CONSTRAINT_FIELDS = ("maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector")


def parse_args(args: dict[str, Any]) -> tuple[tuple[SpreadConstraint, ...], bool]:
    """(the default constraints, whether they are the System defaults)."""
    errors = ArgsErrors("PodTopologySpread")
    errors.unknown_keys(args, _FIELDS)
    defaulting = args.get("defaultingType") or SYSTEM
    raw = args.get("defaultConstraints")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        errors.add("defaultConstraints", f"must be a list, got {type(raw).__name__}")
        raw = []
    if defaulting not in (SYSTEM, LIST):
        errors.add("defaultingType", f'unsupported value {defaulting!r}: "System" or "List"')
    elif defaulting == SYSTEM and raw:
        errors.add("defaultingType", "System cannot be used when defaultConstraints are not empty")
    constraints = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(raw):
        path = f"defaultConstraints[{i}]"
        if not isinstance(item, dict):
            errors.add(path, f"must be an object, got {type(item).__name__}")
            continue
        errors.unknown_keys(item, _CONSTRAINT_FIELDS, path)
        skew = as_int(item.get("maxSkew"))
        if skew is None:
            errors.add(f"{path}.maxSkew", f"must be an integer, got {item.get('maxSkew')!r}")
        elif skew <= 0:
            errors.add(f"{path}.maxSkew", f"{skew}: not in valid range (0, inf)")
        key = item.get("topologyKey")
        if not key:
            errors.add(f"{path}.topologyKey", "can not be empty")
        elif not isinstance(key, str) or not is_qualified_name(key):
            errors.add(f"{path}.topologyKey", f"{key!r} is not a valid label key")
        when = item.get("whenUnsatisfiable")
        if when not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
            errors.add(
                f"{path}.whenUnsatisfiable",
                f'unsupported value {when!r}: "DoNotSchedule" or "ScheduleAnyway"',
            )
        if item.get("labelSelector") is not None:
            errors.add(
                f"{path}.labelSelector",
                "constraint must not define a selector, as they deduced for each pod",
            )
        pair = (str(key), str(when))
        if pair in seen:
            errors.add(path, f"duplicate {{{key}, {when}}}")
        seen.add(pair)
        if skew is not None and isinstance(key, str) and when in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
            constraints.append(
                SpreadConstraint(skew, key, when == DO_NOT_SCHEDULE, EVERYTHING_SELECTOR)
            )
    errors.raise_if_any()
    if defaulting == SYSTEM:
        return SYSTEM_DEFAULTS, True
    return tuple(constraints), False
