"""A pod's inter-pod affinity, parsed once: pod label selectors and affinity terms.

Semantics mirror kube-scheduler 1.34 (`framework.NewPodInfo`, `AffinityTerm`)
and apimachinery's `metav1.LabelSelectorAsSelector`:

- A pod label selector ANDs its `matchLabels` and `matchExpressions`
  (In, NotIn, Exists, DoesNotExist). A null selector matches nothing; an empty
  one (`{}`) matches every pod.
- A term's namespaces: its `namespaces` list, plus those whose labels its
  `namespaceSelector` matches; with neither (empty list, null selector), the
  pod's own namespace.
- `matchLabelKeys` / `mismatchLabelKeys`: for each key the pod carries, the
  selector gains `key In (value)` / `key NotIn (value)`, as the API server
  merges them into `labelSelector` when it creates the pod. A key the
  selector already constrains is taken as merged already, so a pod that went
  through the API server is read the same whether or not the merge happened;
  a null selector stays null.

Two kinds of problems, as elsewhere in podsift (see `selectors.py`): a value Go
could not decode (a selector that is not an object, a value that is not a
string) raises `InvalidInput` naming the field; a selector that decodes but
does not parse (an unknown operator, a bad label key or value, In without
values) is a *parse error*: upstream then drops that whole list of terms
(`GetAffinityTerms` stops at the first error) and reports it, so podsift keeps
the list empty and the message in `PodAffinity.errors`. The incoming pod's
filter fails on such errors ("parsing pod: ..."); an existing pod simply
carries no terms of that list.

`PodAffinitySpec` is the part that depends on the spec alone (cached with the
parsed spec); `PodAffinitySpec.resolve` gives the `PodAffinity` of one pod
(its namespace and labels), cached per distinct (namespace, label values).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import orjson

from extender.model.errors import InvalidInput
from extender.model.fields import integer_field, list_field, object_field, string_field
from extender.model.podselector import NOTHING, PodSelector
from extender.model.podselector import compile_pod_selector as compile_selector
from extender.model.selectors import IN, NOT_IN, Requirement

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


class _Keyed:
    """Immutable, hashed and compared by a canonical `key`."""

    __slots__ = ("key", "_hash")

    def _set_key(self, key: tuple) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return type(other) is type(self) and other._hash == self._hash and other.key == self.key  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"


def compile_pod_selector(obj: Any, path: str, errors: list[str]) -> PodSelector:
    """metav1.LabelSelectorAsSelector (extender.model.podselector): NOTHING for None;
    parse errors added to `errors` as "path: message" (the selector returned is then
    NOTHING, as upstream drops the term list); InvalidInput for what cannot decode."""
    selector, problems = compile_selector(obj, path)
    if problems:
        errors.extend(f"{where}: {message}" for where, message in problems)
        return NOTHING
    return NOTHING if selector is None else selector


class AffinityTerm(_Keyed):
    """One resolved PodAffinityTerm: which pods (namespaces, selector) and where (topology key).

    `namespace_selector` is None for a null one (it adds no namespace)."""

    __slots__ = ("selector", "namespaces", "namespace_selector", "topology_key")

    def __init__(
        self,
        selector: PodSelector,
        namespaces: frozenset[str],
        namespace_selector: PodSelector | None,
        topology_key: str,
    ) -> None:
        self.selector = selector
        self.namespaces = namespaces
        self.namespace_selector = namespace_selector
        self.topology_key = topology_key
        self._set_key(
            (
                selector.key,
                tuple(sorted(namespaces)),
                None if namespace_selector is None else namespace_selector.key,
                topology_key,
            )
        )

    def matches_namespace(self, namespace: str, namespace_labels: Mapping[str, str] | None) -> bool:
        """`namespace_labels` None: the namespace is unknown, its selector cannot match it."""
        if namespace in self.namespaces:
            return True
        ns_selector = self.namespace_selector
        return (
            ns_selector is not None
            and namespace_labels is not None
            and ns_selector.matches(namespace_labels)
        )

    def matches(
        self, namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str] | None
    ) -> bool:
        """AffinityTerm.Matches: the pod is in one of the term's namespaces and matches."""
        return self.matches_namespace(namespace, namespace_labels) and self.selector.matches(labels)


class PodAffinity:
    """A pod's inter-pod affinity terms, resolved for its namespace and labels.

    Preferred terms are (weight, term) pairs. `errors` are the parse errors of
    the lists left empty (see the module docstring)."""

    __slots__ = (
        "required_affinity",
        "required_anti_affinity",
        "preferred_affinity",
        "preferred_anti_affinity",
        "errors",
        "key",
    )

    def __init__(
        self,
        required_affinity: tuple[AffinityTerm, ...] = (),
        required_anti_affinity: tuple[AffinityTerm, ...] = (),
        preferred_affinity: tuple[tuple[int, AffinityTerm], ...] = (),
        preferred_anti_affinity: tuple[tuple[int, AffinityTerm], ...] = (),
        errors: tuple[str, ...] = (),
    ) -> None:
        self.required_affinity = required_affinity
        self.required_anti_affinity = required_anti_affinity
        self.preferred_affinity = preferred_affinity
        self.preferred_anti_affinity = preferred_anti_affinity
        self.errors = errors
        self.key = (
            tuple(t.key for t in required_affinity),
            tuple(t.key for t in required_anti_affinity),
            tuple((w, t.key) for w, t in preferred_affinity),
            tuple((w, t.key) for w, t in preferred_anti_affinity),
            errors,
        )

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, PodAffinity) and other.key == self.key)

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def has_preferred(self) -> bool:
        return bool(self.preferred_affinity or self.preferred_anti_affinity)


class _RawTerm:
    """A PodAffinityTerm as the spec gives it, before the pod's namespace and labels."""

    __slots__ = (
        "selector",
        "match_keys",
        "mismatch_keys",
        "namespaces",
        "namespace_selector",
        "topology_key",
    )

    def __init__(self, obj: Any, path: str, errors: list[str]) -> None:
        term = object_field(obj, path)
        self.selector = compile_pod_selector(
            term.get("labelSelector"), f"{path}.labelSelector", errors
        )
        self.namespaces = tuple(_strings(term.get("namespaces"), f"{path}.namespaces"))
        raw_ns = term.get("namespaceSelector")
        self.namespace_selector = (
            None
            if raw_ns is None
            else compile_pod_selector(raw_ns, f"{path}.namespaceSelector", errors)
        )
        self.topology_key = string_field(term.get("topologyKey"), f"{path}.topologyKey")
        self.match_keys = tuple(_strings(term.get("matchLabelKeys"), f"{path}.matchLabelKeys"))
        self.mismatch_keys = tuple(
            _strings(term.get("mismatchLabelKeys"), f"{path}.mismatchLabelKeys")
        )

    def resolve(self, namespace: str, labels: Mapping[str, str]) -> AffinityTerm:
        selector = self.selector
        if self.match_keys or self.mismatch_keys:
            extra = []
            for keys, operator in ((self.match_keys, IN), (self.mismatch_keys, NOT_IN)):
                for key in keys:
                    value = labels.get(key)
                    if value is not None and key not in selector.labels:
                        extra.append(Requirement(key, operator, (value,), None))
            selector = selector.with_requirements(tuple(extra))
        if not self.namespaces and self.namespace_selector is None:
            namespaces = frozenset((namespace,))
        else:
            namespaces = frozenset(self.namespaces)
        return AffinityTerm(selector, namespaces, self.namespace_selector, self.topology_key)


def _strings(value: Any, path: str) -> list[str]:
    items = list_field(value, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInput(f"must be a string, got {type(item).__name__}", f"{path}[{i}]")
    return items


def _term_list(value: Any, path: str, weighted: bool, errors: list[str]) -> tuple | None:
    """The raw terms of one list, or None when one of them does not parse."""
    found = len(errors)
    out = []
    for i, item in enumerate(list_field(value, path)):
        where = f"{path}[{i}]"
        if weighted:
            entry = object_field(item, where)
            weight = integer_field(entry.get("weight"), f"{where}.weight")
            out.append(
                (weight, _RawTerm(entry.get("podAffinityTerm"), f"{where}.podAffinityTerm", errors))
            )
        else:
            out.append(_RawTerm(item, where, errors))
    return None if len(errors) > found else tuple(out)


# distinct (namespace, label values) resolved per spec before the memo starts afresh
RESOLVED_PER_SPEC = 256


class PodAffinitySpec:
    """The spec's podAffinity and podAntiAffinity, parsed; `resolve` per pod."""

    __slots__ = ("lists", "errors", "label_keys", "footprint", "key", "_resolved", "_lock")

    def __init__(self, lists: tuple, errors: tuple[str, ...], key: bytes) -> None:
        self.lists = lists  # 4 tuples of raw terms (weighted for the last two)
        self.errors = errors
        keys = set()
        for terms in lists:
            for item in terms:
                raw = item[1] if isinstance(item, tuple) else item
                keys.update(raw.match_keys)
                keys.update(raw.mismatch_keys)
        self.label_keys = tuple(sorted(keys))
        self.key = key  # the sections' canonical JSON: equal specs, equal keys
        self.footprint = 512 + 2 * len(key)
        self._resolved: dict[tuple, PodAffinity] = {}
        self._lock = threading.Lock()

    def __eq__(self, other: object) -> bool:  # for same_spec: compared by what it parsed from
        return self is other or (isinstance(other, PodAffinitySpec) and other.key == self.key)

    def __hash__(self) -> int:
        return hash(self.key)

    def resolve(self, namespace: str, labels: Mapping[str, str]) -> PodAffinity:
        memo_key = (namespace, tuple(labels.get(k) for k in self.label_keys))
        found = self._resolved.get(memo_key)
        if found is not None:
            return found
        required, anti, preferred, preferred_anti = self.lists
        resolved = PodAffinity(
            tuple(t.resolve(namespace, labels) for t in required),
            tuple(t.resolve(namespace, labels) for t in anti),
            tuple((w, t.resolve(namespace, labels)) for w, t in preferred),
            tuple((w, t.resolve(namespace, labels)) for w, t in preferred_anti),
            self.errors,
        )
        with self._lock:
            if len(self._resolved) >= RESOLVED_PER_SPEC:
                self._resolved.clear()
            self._resolved[memo_key] = resolved
        return resolved


_LISTS = (
    ("podAffinity", REQUIRED, False, "requiredAffinityTerms"),
    ("podAntiAffinity", REQUIRED, False, "requiredAntiAffinityTerms"),
    ("podAffinity", PREFERRED, True, "preferredAffinityTerms"),
    ("podAntiAffinity", PREFERRED, True, "preferredAntiAffinityTerms"),
)


def parse_pod_affinity(spec: dict) -> PodAffinitySpec | None:
    """The spec's inter-pod affinity, or None when it has none."""
    affinity = object_field(spec.get("affinity"), "spec.affinity")
    sections = {}
    for name in ("podAffinity", "podAntiAffinity"):
        sections[name] = object_field(affinity.get(name), f"spec.affinity.{name}")
    if not sections["podAffinity"] and not sections["podAntiAffinity"]:
        return None
    lists = []
    errors: list[str] = []
    for section, field, weighted, label in _LISTS:
        path = f"spec.affinity.{section}.{field}"
        own: list[str] = []
        terms = _term_list(sections[section].get(field), path, weighted, own)
        if terms is None:
            errors.append(f"{label}: {'; '.join(own)}")
            terms = ()
        lists.append(terms)
    if not any(lists) and not errors:
        return None
    try:
        key = orjson.dumps(sections, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        raise InvalidInput("must be plain JSON", "spec.affinity") from None
    return PodAffinitySpec(tuple(lists), tuple(errors), key)
