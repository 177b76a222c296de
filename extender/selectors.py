"""Compiled node selectors and a columnar label index to evaluate them over all nodes.

Semantics mirror kube-scheduler's NodeAffinity plugin (component-helpers
`nodeaffinity` and apimachinery `labels.Requirement`):

- `spec.nodeSelector` is a map whose every key=value must be a node label.
- A `v1.NodeSelector` ORs its terms and ANDs the requirements inside a term.
  An empty term list, or a term with neither expressions nor fields, matches
  nothing. `matchFields` only knows `metadata.name` with In/NotIn and one value.
- Preferred terms score a node with the sum of the weights of the terms it
  matches; weight-0 terms and empty preferences are skipped, as upstream.

Selectors are validated and compiled once, into immutable objects with a
canonical `key`, and interned in a thread-safe LRU cache: the same selector
compiled twice is the same object, so later caches can key on it cheaply.
`LabelIndex` keeps per-key value-id columns so a selector is a few numpy
operations over all nodes, and caches the resulting masks per label version.

Invalid selectors raise `InvalidInput` naming the field path. (Upstream's
required affinity is "lazy": an unparseable term only fails to match. The API
server rejects most such pods before they reach a scheduler, so podsift
reports them instead of guessing.)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import orjson
from cachetools import LRUCache

from extender.errors import InvalidInput

__all__ = [
    "CompiledNodeSelector",
    "CompiledPreferredTerms",
    "LabelIndex",
    "compile_label_map",
    "compile_node_selector",
    "compile_preferred_terms",
    "parse_label_int",
]

IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"
LABEL_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT)
FIELD_OPERATORS = (IN, NOT_IN)
NODE_NAME_FIELD = "metadata.name"
MAX_PREFERRED_WEIGHT = 100

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL_INT = re.compile(r"[+-]?[0-9]+")
_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")


def parse_label_int(value: object) -> int | None:
    """Go's strconv.ParseInt(value, 10, 64), as Gt/Lt use it; None when it fails.

    Python's int() is laxer (spaces, underscores, non-ASCII digits), hence the regex.
    """
    if not isinstance(value, str) or not _DECIMAL_INT.fullmatch(value):
        return None
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


# ---------------------------------------------------------------------------
# Compiled forms


class Requirement:
    """One label requirement of a term, in canonical form (values sorted, unique)."""

    __slots__ = ("label", "operator", "values", "value_set", "number", "key")

    def __init__(self, label: str, operator: str, values: tuple[str, ...], number: int | None):
        self.label = label
        self.operator = operator
        self.values = values
        self.value_set = frozenset(values)
        self.number = number  # the parsed bound of Gt/Lt
        self.key = (label, operator, values)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == IN:
            value = labels.get(self.label)
            return value is not None and value in self.value_set
        if op == NOT_IN:
            return self.label not in labels or labels[self.label] not in self.value_set
        if op == EXISTS:
            return self.label in labels
        if op == DOES_NOT_EXIST:
            return self.label not in labels
        number = parse_label_int(labels.get(self.label))
        if number is None:
            return False
        return number > self.number if op == GT else number < self.number


class FieldRequirement:
    """A `metadata.name` In/NotIn requirement (upstream allows exactly one value)."""

    __slots__ = ("operator", "value", "key")

    def __init__(self, operator: str, value: str):
        self.operator = operator
        self.value = value
        self.key = (NODE_NAME_FIELD, operator, (value,))

    def matches(self, name: str) -> bool:
        return (name == self.value) == (self.operator == IN)


class Term:
    """Requirements ANDed; a term never is empty (empty terms are dropped at compile)."""

    __slots__ = ("requirements", "fields", "key")

    def __init__(self, requirements: tuple[Requirement, ...], fields: tuple[FieldRequirement, ...]):
        self.requirements = requirements
        self.fields = fields
        self.key = (tuple(r.key for r in requirements), tuple(f.key for f in fields))

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        for requirement in self.requirements:
            if not requirement.matches(labels):
                return False
        # Upstream only checks fields of a node that has a name.
        if name:
            for requirement in self.fields:
                if not requirement.matches(name):
                    return False
        return True


class _Compiled:
    """Immutable, hashed and compared by its canonical `key`."""

    __slots__ = ("key", "_hash")

    def __init__(self, key: tuple) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return type(other) is type(self) and other._hash == self._hash and other.key == self.key

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_hash"):
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"


class CompiledNodeSelector(_Compiled):
    """Terms ORed. No terms at all means the selector matches nothing."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple[Term, ...]) -> None:
        terms = tuple(sorted({t.key: t for t in terms}.values(), key=lambda t: t.key))
        object.__setattr__(self, "terms", terms)
        super().__init__(("NodeSelector", tuple(t.key for t in terms)))

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        """Whether one node (its labels and name) satisfies the selector."""
        for term in self.terms:
            if term.matches(labels, name):
                return True
        return False


class CompiledPreferredTerms(_Compiled):
    """(weight, term) pairs; identical terms are merged by adding their weights."""

    __slots__ = ("terms",)

    def __init__(self, weighted_terms: tuple[tuple[int, Term], ...]) -> None:
        merged: dict[tuple, list] = {}
        for weight, term in weighted_terms:
            entry = merged.setdefault(term.key, [0, term])
            entry[0] += weight
        terms = tuple((w, t) for w, t in sorted(merged.values(), key=lambda e: e[1].key))
        object.__setattr__(self, "terms", terms)
        super().__init__(("Preferred", tuple((t.key, w) for w, t in terms)))

    def weight(self, labels: Mapping[str, str], name: str) -> int:
        """Sum of the weights of the terms one node matches."""
        return sum(w for w, term in self.terms if term.matches(labels, name))


# ---------------------------------------------------------------------------
# Validation and compilation


def _is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def _validate_label_key(key: object, path: str) -> str:
    if not isinstance(key, str):
        raise InvalidInput(f"must be a string, got {type(key).__name__}", path)
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        raise InvalidInput(
            f"invalid label key {key!r}: prefix must be a lowercase DNS-1123 subdomain", path
        )
    if "/" in prefix or not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid label key {key!r}: name part must be 1-63 alphanumeric characters, "
            "'-', '_' or '.', starting and ending with an alphanumeric character",
            path,
        )
    return key


def _validate_label_value(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"must be a string, got {type(value).__name__}", path)
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        raise InvalidInput(
            f"invalid label value {value!r}: must be empty or 1-63 alphanumeric characters, "
            "'-', '_' or '.', starting and ending with an alphanumeric character",
            path,
        )
    return value


def _values_of(expr: Mapping, path: str) -> list:
    values = expr.get("values")
    if values is None:
        return []
    if not _is_list(values):
        raise InvalidInput(f"must be a list of strings, got {type(values).__name__}", path)
    return list(values)


def _compile_requirement(expr: object, path: str) -> Requirement:
    if not isinstance(expr, Mapping):
        raise InvalidInput("must be an object with key, operator and values", path)
    key = _validate_label_key(expr.get("key", ""), f"{path}.key")
    operator = expr.get("operator", "")
    if operator not in LABEL_OPERATORS:
        raise InvalidInput(
            f"unsupported operator {operator!r}: must be one of {', '.join(LABEL_OPERATORS)}",
            f"{path}.operator",
        )
    values_path = f"{path}.values"
    values = _values_of(expr, values_path)
    for i, value in enumerate(values):
        _validate_label_value(value, f"{values_path}[{i}]")
    number = None
    if operator in (IN, NOT_IN):
        if not values:
            raise InvalidInput(f"operator {operator} needs at least one value", values_path)
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if values:
            raise InvalidInput(f"operator {operator} takes no values", values_path)
    else:
        if len(values) != 1:
            raise InvalidInput(f"operator {operator} needs exactly one value", values_path)
        number = parse_label_int(values[0])
        if number is None:
            raise InvalidInput(
                f"operator {operator} needs an integer value, got {values[0]!r}",
                f"{values_path}[0]",
            )
        values = [str(number)]
    return Requirement(key, operator, tuple(sorted(set(values))), number)


def _compile_field_requirement(expr: object, path: str) -> FieldRequirement:
    if not isinstance(expr, Mapping):
        raise InvalidInput("must be an object with key, operator and values", path)
    key = expr.get("key", "")
    if key != NODE_NAME_FIELD:
        raise InvalidInput(f"unsupported field {key!r}: must be {NODE_NAME_FIELD!r}", f"{path}.key")
    operator = expr.get("operator", "")
    if operator not in FIELD_OPERATORS:
        raise InvalidInput(
            f"unsupported operator {operator!r}: must be one of {', '.join(FIELD_OPERATORS)}",
            f"{path}.operator",
        )
    values = _values_of(expr, f"{path}.values")
    if len(values) != 1:
        raise InvalidInput("must have one element", f"{path}.values")
    if not isinstance(values[0], str):
        raise InvalidInput(f"must be a string, got {type(values[0]).__name__}", f"{path}.values[0]")
    return FieldRequirement(operator, values[0])


def _requirement_list(term: Mapping, name: str, path: str) -> list:
    items = term.get(name)
    if items is None:
        return []
    if not _is_list(items):
        raise InvalidInput(f"must be a list, got {type(items).__name__}", f"{path}.{name}")
    return list(items)


def _compile_term(term: object, path: str) -> Term | None:
    """The compiled term, or None for an empty term (which matches nothing)."""
    if term is None:
        return None
    if not isinstance(term, Mapping):
        raise InvalidInput(f"must be a node selector term object, got {type(term).__name__}", path)
    expressions = _requirement_list(term, "matchExpressions", path)
    fields = _requirement_list(term, "matchFields", path)
    if not expressions and not fields:
        return None
    requirements = {}
    for i, expr in enumerate(expressions):
        requirement = _compile_requirement(expr, f"{path}.matchExpressions[{i}]")
        requirements[requirement.key] = requirement
    field_requirements = {}
    for i, expr in enumerate(fields):
        requirement = _compile_field_requirement(expr, f"{path}.matchFields[{i}]")
        field_requirements[requirement.key] = requirement
    return Term(
        tuple(requirements[k] for k in sorted(requirements)),
        tuple(field_requirements[k] for k in sorted(field_requirements)),
    )


def _build_label_map(selector: object, field: str) -> CompiledNodeSelector | None:
    if not isinstance(selector, Mapping):
        raise InvalidInput(f"must be a map of strings, got {type(selector).__name__}", field)
    requirements = []
    for key, value in selector.items():
        if not isinstance(key, str):
            raise InvalidInput(f"label key must be a string, got {type(key).__name__}", field)
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, got {type(value).__name__}", f"{field}[{key}]")
        requirements.append(Requirement(key, IN, (value,), None))
    if not requirements:
        return None
    requirements.sort(key=lambda r: r.key)
    return CompiledNodeSelector((Term(tuple(requirements), ()),))


def _build_node_selector(obj: object, field: str) -> CompiledNodeSelector:
    if not isinstance(obj, Mapping):
        raise InvalidInput(f"must be a node selector object, got {type(obj).__name__}", field)
    path = f"{field}.nodeSelectorTerms"
    raw_terms = obj.get("nodeSelectorTerms")
    if raw_terms is None:
        raw_terms = []
    if not _is_list(raw_terms):
        raise InvalidInput(f"must be a list, got {type(raw_terms).__name__}", path)
    terms = [_compile_term(term, f"{path}[{i}]") for i, term in enumerate(raw_terms)]
    return CompiledNodeSelector(tuple(t for t in terms if t is not None))


def _build_preferred_terms(terms: object, field: str) -> CompiledPreferredTerms | None:
    if not _is_list(terms):
        raise InvalidInput(f"must be a list, got {type(terms).__name__}", field)
    weighted = []
    for i, item in enumerate(terms):
        path = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("must be an object with weight and preference", path)
        weight = item.get("weight", 0)
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise InvalidInput(f"must be an integer, got {weight!r}", f"{path}.weight")
        if weight == 0:
            continue  # upstream skips (and does not parse) weight-0 terms
        if not 1 <= weight <= MAX_PREFERRED_WEIGHT:
            raise InvalidInput(
                f"must be in the range 1-{MAX_PREFERRED_WEIGHT}, got {weight}", f"{path}.weight"
            )
        term = _compile_term(item.get("preference"), f"{path}.preference")
        if term is not None:
            weighted.append((weight, term))
    if not weighted:
        return None
    return CompiledPreferredTerms(tuple(weighted))


# ---------------------------------------------------------------------------
# Interning cache

_CACHE_SIZE = 8192
_cache_lock = threading.Lock()
_by_raw: LRUCache = LRUCache(maxsize=_CACHE_SIZE)  # (kind, sorted JSON bytes) -> compiled
_by_key: LRUCache = LRUCache(maxsize=_CACHE_SIZE)  # canonical key -> compiled


_stats = {"hits": 0, "misses": 0}  # plain ints: read at scrape time by extender.metrics


def cache_stats() -> dict[str, int]:
    """Compiled-selector cache hits and misses since start (for /metrics)."""
    return dict(_stats)


def _intern(kind: str, obj: object, field: str, build: Callable[[Any, str], Any]) -> Any:
    """The cached compiled form of `obj`, building (and validating) it on a miss."""
    try:
        raw_key: Hashable | None = (kind, orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
    except (TypeError, orjson.JSONEncodeError):
        raw_key = None  # not JSON-like: let the builder explain what is wrong
    if raw_key is not None:
        with _cache_lock:
            hit = _by_raw.get(raw_key, _by_raw)
        if hit is not _by_raw:
            _stats["hits"] += 1
            return hit
    _stats["misses"] += 1
    compiled = build(obj, field)
    if compiled is not None:
        with _cache_lock:
            compiled = _by_key.setdefault(compiled.key, compiled)
            if raw_key is not None:
                _by_raw[raw_key] = compiled
    elif raw_key is not None:
        with _cache_lock:
            _by_raw[raw_key] = None
    return compiled


def compile_label_map(
    selector: dict[str, str] | None, field: str = "spec.nodeSelector"
) -> CompiledNodeSelector | None:
    """`spec.nodeSelector`: every key=value must be a node label; None when empty."""
    if not selector:
        if selector is None or isinstance(selector, Mapping):
            return None
    return _intern("labels", selector, field, _build_label_map)


def compile_node_selector(obj: dict | None, field: str) -> CompiledNodeSelector | None:
    """A v1.NodeSelector; None only for None (an empty selector matches nothing)."""
    if obj is None:
        return None
    return _intern("selector", obj, field, _build_node_selector)


def compile_preferred_terms(terms: list | None, field: str) -> CompiledPreferredTerms | None:
    """[]v1.PreferredSchedulingTerm; None when no term can add weight."""
    if terms is None or (_is_list(terms) and not terms):
        return None
    return _intern("preferred", terms, field, _build_preferred_terms)


# ---------------------------------------------------------------------------
# Columnar evaluation over all nodes

_ABSENT = -1


class _Column:
    """One label key (or the node name): a value id per node, -1 where absent."""

    __slots__ = ("ids", "numbers", "number_ok", "value_ids", "value_numbers")

    def __init__(self, capacity: int) -> None:
        self.ids = np.full(capacity, _ABSENT, dtype=np.int32)
        self.numbers = np.zeros(capacity, dtype=np.int64)
        self.number_ok = np.zeros(capacity, dtype=bool)
        self.value_ids: dict[str, int] = {}
        self.value_numbers: list[int | None] = []

    def value_id(self, value: str) -> int:
        vid = self.value_ids.get(value)
        if vid is None:
            vid = self.value_ids[value] = len(self.value_numbers)
            self.value_numbers.append(parse_label_int(value))
        return vid

    def set(self, row: int, value: str) -> None:
        vid = self.value_id(value)
        self.ids[row] = vid
        number = self.value_numbers[vid]
        self.number_ok[row] = number is not None
        self.numbers[row] = 0 if number is None else number

    def fill(self, rows: list[int], vids: list[int]) -> None:
        """Set many rows at once (bulk build)."""
        if not rows:
            return
        numbers = self.value_numbers
        vids_array = np.array(vids, dtype=np.int32)
        value_ok = np.array([n is not None for n in numbers], dtype=bool)
        value_numbers = np.array([0 if n is None else n for n in numbers], dtype=np.int64)
        self.ids[rows] = vids_array
        self.number_ok[rows] = value_ok[vids_array]
        self.numbers[rows] = value_numbers[vids_array]

    def clear(self, row: int) -> None:
        self.ids[row] = _ABSENT
        self.number_ok[row] = False
        self.numbers[row] = 0

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.ids)
        self.ids = np.concatenate([self.ids, np.full(extra, _ABSENT, dtype=np.int32)])
        self.numbers = np.concatenate([self.numbers, np.zeros(extra, dtype=np.int64)])
        self.number_ok = np.concatenate([self.number_ok, np.zeros(extra, dtype=bool)])

    def equal_any(self, values: tuple[str, ...] | frozenset[str]) -> np.ndarray:
        """Rows whose value is one of `values` (never rows without the key)."""
        vids = [self.value_ids[v] for v in values if v in self.value_ids]
        if not vids:
            return np.zeros(len(self.ids), dtype=bool)
        if len(vids) == 1:
            return self.ids == vids[0]
        return np.isin(self.ids, np.array(vids, dtype=np.int32))


class LabelIndex:
    """Per-node labels as columns, for evaluating a selector over every node at once.

    Node ids are the node table's dense row numbers. Masks and weights are cached
    per compiled selector until the next change (`version`), so a selector that
    many pods share costs one dictionary lookup per request. The caller serializes
    mutations against reads; the caches themselves are safe for concurrent readers.
    """

    MASK_CACHE_SIZE = 4096

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = max(1, capacity)
        self._live = np.zeros(self._capacity, dtype=bool)
        self._columns: dict[str, _Column] = {}
        self._names = _Column(self._capacity)
        self._node_labels: dict[int, tuple[str, dict[str, str]]] = {}
        self.version = 0
        self._cache_lock = threading.Lock()
        self._cache: LRUCache = LRUCache(maxsize=self.MASK_CACHE_SIZE)
        self._cache_version = 0

    @classmethod
    def from_nodes(cls, names: list[str], labels: list[Mapping[str, str]]) -> LabelIndex:
        """An index of nodes 0..n-1 (for requests that carry full Node objects)."""
        index = cls(capacity=max(1, len(names)))
        # Bulk fill: collect (row, value id) per column, then one numpy store per column.
        pending: dict[str, tuple[_Column, list[int], list[int]]] = {}
        name_rows: list[int] = []
        name_vids: list[int] = []
        node_labels_by_id = index._node_labels
        for node_id, (name, node_labels) in enumerate(zip(names, labels, strict=True)):
            node_labels = dict(node_labels)
            node_labels_by_id[node_id] = (name, node_labels)
            if name:
                name_rows.append(node_id)
                name_vids.append(index._names.value_id(name))
            for key, value in node_labels.items():
                entry = pending.get(key)
                if entry is None:
                    entry = pending[key] = (index._column(key), [], [])
                column, rows, vids = entry
                vid = column.value_ids.get(value)
                rows.append(node_id)
                vids.append(column.value_id(value) if vid is None else vid)
        index._names.fill(name_rows, name_vids)
        for column, rows, vids in pending.values():
            column.fill(rows, vids)
        index._live[: len(names)] = True
        index.version = 1 if names else 0
        return index

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._node_labels)

    # -- mutation ---------------------------------------------------------

    def _ensure_capacity(self, node_id: int) -> None:
        if node_id < self._capacity:
            return
        capacity = max(node_id + 1, self._capacity * 2)
        self._live = np.concatenate([self._live, np.zeros(capacity - self._capacity, dtype=bool)])
        self._names.grow(capacity)
        for column in self._columns.values():
            column.grow(capacity)
        self._capacity = capacity

    def _column(self, key: str) -> _Column:
        column = self._columns.get(key)
        if column is None:
            column = self._columns[key] = _Column(self._capacity)
        return column

    def set_node(self, node_id: int, name: str, labels: Mapping[str, str]) -> None:
        """Add or update one node; an unchanged node leaves `version` (and caches) alone."""
        if node_id < 0:
            raise ValueError(f"node id must be >= 0, got {node_id}")
        previous = self._node_labels.get(node_id)
        if previous is not None and previous[0] == name and previous[1] == labels:
            return
        self._ensure_capacity(node_id)
        new_labels = dict(labels)
        if previous is not None:
            for key in previous[1]:
                if key not in new_labels:
                    self._columns[key].clear(node_id)
        for key, value in new_labels.items():
            self._column(key).set(node_id, value)
        if name:
            self._names.set(node_id, name)
        else:
            self._names.clear(node_id)
        self._live[node_id] = True
        self._node_labels[node_id] = (name, new_labels)
        self.version += 1

    def remove_node(self, node_id: int) -> None:
        """Forget a node; its id may be reused by a later `set_node`."""
        previous = self._node_labels.pop(node_id, None)
        if previous is None:
            return
        for key in previous[1]:
            self._columns[key].clear(node_id)
        self._names.clear(node_id)
        self._live[node_id] = False
        self.version += 1

    def labels_of(self, node_id: int) -> tuple[str, dict[str, str]] | None:
        """(name, labels) as last set, or None for an unused id."""
        return self._node_labels.get(node_id)

    # -- evaluation -------------------------------------------------------

    def mask(self, selector: CompiledNodeSelector) -> np.ndarray:
        """bool[capacity]: the live nodes `selector` matches (read-only, cached)."""
        return self._cached(selector, self._compute_mask)

    def weights(self, preferred: CompiledPreferredTerms) -> np.ndarray:
        """int64[capacity]: per node, the sum of the weights of matching terms (cached)."""
        return self._cached(preferred, self._compute_weights)

    def _cached(self, compiled: _Compiled, compute: Callable[[Any], np.ndarray]) -> np.ndarray:
        version = self.version
        with self._cache_lock:
            if self._cache_version != version:
                self._cache.clear()
                self._cache_version = version
            hit = self._cache.get(compiled)
        if hit is not None:
            return hit
        result = compute(compiled)
        result.setflags(write=False)
        with self._cache_lock:
            if self._cache_version == version:
                self._cache[compiled] = result
        return result

    def _compute_mask(self, selector: CompiledNodeSelector) -> np.ndarray:
        result = np.zeros(self._capacity, dtype=bool)
        for term in selector.terms:
            result |= self._term_mask(term)
        result &= self._live
        return result

    def _compute_weights(self, preferred: CompiledPreferredTerms) -> np.ndarray:
        result = np.zeros(self._capacity, dtype=np.int64)
        for weight, term in preferred.terms:
            result += self._term_mask(term) * np.int64(weight)
        result[~self._live] = 0
        return result

    def _term_mask(self, term: Term) -> np.ndarray:
        result = np.ones(self._capacity, dtype=bool)
        for requirement in term.requirements:
            result &= self._requirement_mask(requirement)
        if term.fields:
            fields = np.ones(self._capacity, dtype=bool)
            for requirement in term.fields:
                same = self._names.equal_any((requirement.value,))
                fields &= same if requirement.operator == IN else ~same
            # Upstream ignores matchFields for a node without a name.
            fields |= self._names.ids == _ABSENT
            result &= fields
        return result

    def _requirement_mask(self, requirement: Requirement) -> np.ndarray:
        op = requirement.operator
        column = self._columns.get(requirement.label)
        if column is None:
            absent_matches = op in (NOT_IN, DOES_NOT_EXIST)
            return np.full(self._capacity, absent_matches, dtype=bool)
        if op == IN:
            return column.equal_any(requirement.values)
        if op == NOT_IN:
            return ~column.equal_any(requirement.values)
        if op == EXISTS:
            return column.ids != _ABSENT
        if op == DOES_NOT_EXIST:
            return column.ids == _ABSENT
        if op == GT:
            return column.number_ok & (column.numbers > requirement.number)
        return column.number_ok & (column.numbers < requirement.number)
