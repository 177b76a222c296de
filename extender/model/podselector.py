"""Pod label selectors (metav1.LabelSelector), compiled once and interned.

What PodTopologySpread (and the owners' selectors it defaults from) match pods
with: `matchLabels` ANDed with `matchExpressions`, the operators In, NotIn,
Exists and DoesNotExist (apimachinery `LabelSelectorAsSelector`). A nil
selector matches nothing; an empty one (`{}`) matches every pod.

A compiled selector is immutable, hashed and compared by its canonical key
(requirements sorted and deduplicated), and interned: the same selector
compiled twice is the same object, so the pod counts in the cache
(`extender/cache/podcounts.py`) can key their columns and their per-label-set
match verdicts on it.

Problems split as in `extender.model.selectors`: a value Go could not decode
into the API type raises `InvalidInput` naming the field; a selector that
decodes but does not parse (an invalid key or value, an unknown operator, the
wrong number of values) is a parse error, returned as `(path, message)` pairs
by `compile_pod_selector` so the caller decides (a pod's constraint: a precise
error when the policy reads it, as upstream's PreFilter fails on it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import orjson

from extender.model.errors import InvalidInput
from extender.model.memo import Memo
from extender.model.selectors import (
    DOES_NOT_EXIST,
    EXISTS,
    IN,
    NOT_IN,
    Requirement,
    _label_key_problem,
    _label_value_problem,
)

POD_SELECTOR_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)
ParseErrors = tuple[tuple[str, str], ...]


class PodSelector:
    """Requirements ANDed; `nothing` for the nil selector, which matches no pod."""

    __slots__ = ("requirements", "nothing", "labels", "key", "_hash")

    def __init__(self, requirements: tuple[Requirement, ...], nothing: bool = False) -> None:
        unique = {r.key: r for r in requirements}
        self.requirements = tuple(unique[k] for k in sorted(unique))
        self.nothing = nothing
        self.labels = frozenset(r.label for r in self.requirements)  # the keys it constrains
        self.key = ("PodSelector", nothing, tuple(sorted(unique)))
        self._hash = hash(self.key)

    @property
    def everything(self) -> bool:
        """The empty selector `{}`: every pod."""
        return not self.nothing and not self.requirements

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return type(other) is PodSelector and other._hash == self._hash and other.key == self.key

    def __repr__(self) -> str:
        return f"PodSelector({self.key!r})"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a pod with these labels is selected."""
        if self.nothing:
            return False
        for requirement in self.requirements:
            if not requirement.matches(labels):
                return False
        return True

    def with_labels(self, labels: Mapping[str, str]) -> PodSelector:
        """This selector ANDed with key=value for each of `labels` (matchLabelKeys,
        and the owners' selectors merged by default spreading); interned."""
        if not labels:
            return self
        extra = tuple(Requirement(k, IN, (v,), None) for k, v in labels.items())
        return intern_selector(PodSelector(self.requirements + extra, self.nothing))

    def with_requirements(self, extra: tuple[Requirement, ...]) -> PodSelector:
        """This selector ANDed with `extra` (matchLabelKeys and mismatchLabelKeys of
        an affinity term); the nil selector stays nil; interned."""
        if self.nothing or not extra:
            return self
        return intern_selector(PodSelector(self.requirements + extra))


_lock = threading.Lock()
_by_key = Memo("pod_selectors", 4096, 16 * 1024 * 1024)
_by_raw = Memo("pod_selectors_raw", 4096, 16 * 1024 * 1024)


def intern_selector(selector: PodSelector) -> PodSelector:
    """The shared instance of an equal selector (stored if new)."""
    if not selector.requirements:
        return NOTHING if selector.nothing else EVERYTHING
    with _lock:
        found = _by_key.get(selector.key)
        if found is None:
            size = 256 + sum(
                64 + len(r.label) + sum(map(len, r.values)) for r in selector.requirements
            )
            _by_key.put(selector.key, selector, size)
            found = selector
    return found


NOTHING = PodSelector((), nothing=True)
EVERYTHING = PodSelector(())


def _string(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"must be a string, got {type(value).__name__}", path)
    return value


def _requirement(expr: Any, path: str, errors: list) -> Requirement | None:
    if not isinstance(expr, Mapping):
        raise InvalidInput("must be an object with key, operator and values", path)
    key = _string(expr.get("key"), f"{path}.key")
    operator = _string(expr.get("operator"), f"{path}.operator")
    values = expr.get("values")
    if values is None:
        values = []
    if not isinstance(values, list):
        raise InvalidInput(
            f"must be a list of strings, got {type(values).__name__}", f"{path}.values"
        )
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidInput(
                f"must be a string, got {type(value).__name__}", f"{path}.values[{i}]"
            )
    found = len(errors)
    if operator not in POD_SELECTOR_OPERATORS:
        errors.append(
            (
                f"{path}.operator",
                f"{operator!r} is not a valid label selector operator: must be one of "
                + ", ".join(POD_SELECTOR_OPERATORS),
            )
        )
        return None
    problem = _label_key_problem(key)
    if problem:
        errors.append((f"{path}.key", problem))
    if operator in (IN, NOT_IN) and not values:
        errors.append((f"{path}.values", f"operator {operator} needs at least one value"))
    if operator in (EXISTS, DOES_NOT_EXIST) and values:
        errors.append((f"{path}.values", f"operator {operator} takes no values"))
    for i, value in enumerate(values):
        problem = _label_value_problem(value)
        if problem:
            errors.append((f"{path}.values[{i}]", problem))
    if len(errors) > found:
        return None
    return Requirement(key, operator, tuple(sorted(set(values))), None)


def _build(obj: Any, path: str) -> tuple[PodSelector | None, ParseErrors]:
    if not isinstance(obj, Mapping):
        raise InvalidInput(f"must be a label selector object, got {type(obj).__name__}", path)
    errors: list[tuple[str, str]] = []
    requirements: list[Requirement] = []
    match_labels = obj.get("matchLabels")
    if match_labels is not None:
        if not isinstance(match_labels, Mapping):
            raise InvalidInput(
                f"must be a map of strings, got {type(match_labels).__name__}",
                f"{path}.matchLabels",
            )
        for key, value in match_labels.items():
            where = f"{path}.matchLabels.{key}"
            if not isinstance(value, str):
                raise InvalidInput(f"must be a string, got {type(value).__name__}", where)
            problem = _label_key_problem(key) or _label_value_problem(value)
            if problem:
                errors.append((where, problem))
            else:
                requirements.append(Requirement(key, IN, (value,), None))
    expressions = obj.get("matchExpressions")
    if expressions is not None:
        if not isinstance(expressions, list):
            raise InvalidInput(
                f"must be a list, got {type(expressions).__name__}", f"{path}.matchExpressions"
            )
        for i, expr in enumerate(expressions):
            requirement = _requirement(expr, f"{path}.matchExpressions[{i}]", errors)
            if requirement is not None:
                requirements.append(requirement)
    if errors:
        return None, tuple(errors)
    return intern_selector(PodSelector(tuple(requirements))), ()


def compile_pod_selector(obj: Any, path: str) -> tuple[PodSelector | None, ParseErrors]:
    """(the compiled selector, ()) or (None, its parse errors); None compiles to
    NOTHING. Shape errors raise InvalidInput naming the field."""
    if obj is None:
        return NOTHING, ()
    try:
        raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        raw = None
    if raw is not None:
        with _lock:
            hit = _by_raw.get((path, raw))
        if hit is not None:
            return hit
    result = _build(obj, path)
    if raw is not None:
        with _lock:
            _by_raw.put((path, raw), result, 256 + 2 * len(raw))
    return result


def selector_from_map(labels: Mapping[str, str]) -> PodSelector:
    """`labels.SelectorFromSet` of a valid map (a Service's or RC's selector)."""
    return intern_selector(
        PodSelector(tuple(Requirement(k, IN, (v,), None) for k, v in labels.items()))
    )
