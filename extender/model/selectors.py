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
`extender.cache.labelindex.LabelIndex` evaluates them over every node at once.

Two kinds of problems, as upstream tells them apart:

- A value Go could not even decode into the API type (a key that is not a
  string, `values` that is not a list, a term that is not an object) raises
  `InvalidInput` naming the field path, always.
- A term that decodes but does not parse (an invalid label key or value, an
  unknown operator, `Gt`/`Lt` with a non-integer, the wrong number of values,
  a `matchFields` requirement without exactly one value) is a *parse error*.
  By default (`lazy=False`, upstream's `NewNodeSelector` and
  `NewPreferredSchedulingTerms`, used for configuration) it raises too. With
  `lazy=True` (how kube-scheduler reads a pod's own affinity) the term is left
  out and its errors are kept on the compiled object: a required selector then
  matches by its valid terms only (`LazyErrorNodeSelector`: such a term
  matches no node), and preferred terms keep `errors` for the score to report,
  as the NodeAffinity plugin's PreScore fails on them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import orjson

from extender.model.errors import InvalidInput
from extender.model.memo import Memo
from extender.model.names import is_dns1123_subdomain, is_label_value, is_name_part

__all__ = [
    "CompiledNodeSelector",
    "CompiledPreferredTerms",
    "compile_label_map",
    "compile_node_selector",
    "compile_preferred_terms",
    "parse_label_int",
]

IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"
LABEL_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT)
FIELD_OPERATORS = (IN, NOT_IN)
NODE_NAME_FIELD = "metadata.name"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL_INT = re.compile(r"[+-]?[0-9]+")


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
        # a set only where it pays: most requirements name one or two values, and
        # a frozenset costs 216 bytes where the tuple already holds them
        self.value_set = frozenset(values) if len(values) > 4 else values
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
    """A matchFields In/NotIn requirement with its one value.

    A node's only field is `metadata.name`; upstream's field selector reads any
    other field of a named node as "" (the API server refuses such keys in new
    pods, old objects may still carry one), so `on_name` is False for them.
    """

    __slots__ = ("field", "operator", "value", "on_name", "key")

    def __init__(self, operator: str, value: str, field: str = NODE_NAME_FIELD):
        self.field = field
        self.operator = operator
        self.value = value
        self.on_name = field == NODE_NAME_FIELD
        self.key = (field, operator, (value,))

    def matches(self, name: str) -> bool:
        actual = name if self.on_name else ""
        return (actual == self.value) == (self.operator == IN)


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

    # footprint: estimated bytes held, set once when interned (see `_intern`)
    __slots__ = ("key", "_hash", "footprint")

    def __init__(self, key: tuple) -> None:
        self.key = key
        object.__setattr__(self, "footprint", 256)
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


ParseErrors = tuple[tuple[str, str], ...]  # (field path, message) per problem, in order


def _size(terms: Iterable[Term]) -> int:
    """Requirements left after deduplication: what evaluating a selector costs per node
    (`size` of a compiled selector; see extender.model.limits)."""
    return sum(len(t.requirements) + len(t.fields) for t in terms)


def describe_errors(errors: ParseErrors) -> str:
    """One line naming every problem: "path: message; path: message"."""
    return "; ".join(f"{path}: {message}" for path, message in errors)


class CompiledNodeSelector(_Compiled):
    """Terms ORed. No terms at all means the selector matches nothing.

    `errors` are the parse errors of the terms left out (lazy compilation only);
    they are part of the key, so two selectors differing in them stay distinct.
    """

    __slots__ = ("terms", "errors", "size")

    def __init__(self, terms: tuple[Term, ...], errors: ParseErrors = ()) -> None:
        terms = tuple(sorted({t.key: t for t in terms}.values(), key=lambda t: t.key))
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "size", _size(terms))
        super().__init__(("NodeSelector", tuple(t.key for t in terms), errors))

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        """Whether one node (its labels and name) satisfies the selector."""
        for term in self.terms:
            if term.matches(labels, name):
                return True
        return False


class CompiledPreferredTerms(_Compiled):
    """(weight, term) pairs; identical terms are merged by adding their weights.

    `errors` (lazy compilation only) are the parse errors of terms left out:
    upstream cannot score a pod with any of them, so a scorer must report them.
    """

    __slots__ = ("terms", "errors", "size")

    def __init__(
        self, weighted_terms: tuple[tuple[int, Term], ...], errors: ParseErrors = ()
    ) -> None:
        merged: dict[tuple, list] = {}
        for weight, term in weighted_terms:
            entry = merged.setdefault(term.key, [0, term])
            entry[0] += weight
        terms = tuple((w, t) for w, t in sorted(merged.values(), key=lambda e: e[1].key))
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "size", _size(t for _, t in terms))
        super().__init__(("Preferred", tuple((t.key, w) for w, t in terms), errors))

    def weight(self, labels: Mapping[str, str], name: str) -> int:
        """Sum of the weights of the terms one node matches."""
        return sum(w for w, term in self.terms if term.matches(labels, name))


# ---------------------------------------------------------------------------
# Validation and compilation


def _is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def _label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or not is_dns1123_subdomain(prefix)):
        return f"invalid label key {key!r}: prefix must be a lowercase DNS-1123 subdomain"
    if not is_name_part(name):
        return (
            f"invalid label key {key!r}: name part must be 1-63 alphanumeric characters, "
            "'-', '_' or '.', starting and ending with an alphanumeric character"
        )
    return None


def _label_value_problem(value: str) -> str | None:
    if is_label_value(value):
        return None
    return (
        f"invalid label value {value!r}: must be empty or 1-63 alphanumeric characters, "
        "'-', '_' or '.', starting and ending with an alphanumeric character"
    )


def _string(value: object, path: str, default: str = "") -> str:
    """A string field as Go decodes it (absent or null: the zero value)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"must be a string, got {type(value).__name__}", path)
    return value


def _values_of(expr: Mapping, path: str) -> list[str]:
    values = expr.get("values")
    if values is None:
        return []
    if not _is_list(values):
        raise InvalidInput(f"must be a list of strings, got {type(values).__name__}", path)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, got {type(value).__name__}", f"{path}[{i}]")
    return list(values)


def _compile_requirement(expr: object, path: str, errors: list) -> Requirement | None:
    """labels.NewRequirement: the requirement, or None with its parse errors added."""
    if not isinstance(expr, Mapping):
        raise InvalidInput("must be an object with key, operator and values", path)
    key = _string(expr.get("key"), f"{path}.key")
    operator = _string(expr.get("operator"), f"{path}.operator")
    values_path = f"{path}.values"
    values = _values_of(expr, values_path)
    if operator not in LABEL_OPERATORS:
        # upstream checks the operator first and skips the rest of the requirement
        errors.append(
            (
                f"{path}.operator",
                f"unsupported operator {operator!r}: must be one of {', '.join(LABEL_OPERATORS)}",
            )
        )
        return None
    found = len(errors)
    problem = _label_key_problem(key)
    if problem:
        errors.append((f"{path}.key", problem))
    number = None
    if operator in (IN, NOT_IN):
        if not values:
            errors.append((values_path, f"operator {operator} needs at least one value"))
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if values:
            errors.append((values_path, f"operator {operator} takes no values"))
    elif len(values) != 1:
        errors.append((values_path, f"operator {operator} needs exactly one value"))
    else:
        number = parse_label_int(values[0])
        if number is None:
            errors.append(
                (
                    f"{values_path}[0]",
                    f"operator {operator} needs an integer value, got {values[0]!r}",
                )
            )
    for i, value in enumerate(values):
        problem = _label_value_problem(value)
        if problem:
            errors.append((f"{values_path}[{i}]", problem))
    if len(errors) > found:
        return None
    if number is not None:
        values = [str(number)]
    return Requirement(key, operator, tuple(sorted(set(values))), number)


def _compile_field_requirement(expr: object, path: str, errors: list) -> FieldRequirement | None:
    """nodeSelectorRequirementsAsFieldSelector: In/NotIn with exactly one value."""
    if not isinstance(expr, Mapping):
        raise InvalidInput("must be an object with key, operator and values", path)
    key = _string(expr.get("key"), f"{path}.key")
    operator = _string(expr.get("operator"), f"{path}.operator")
    values = _values_of(expr, f"{path}.values")
    if operator not in FIELD_OPERATORS:
        errors.append(
            (
                f"{path}.operator",
                f"unsupported operator {operator!r}: must be one of {', '.join(FIELD_OPERATORS)}",
            )
        )
        return None
    if len(values) != 1:
        errors.append((f"{path}.values", f"must have one element, got {len(values)}"))
        return None
    return FieldRequirement(operator, values[0], key)


def _requirement_list(term: Mapping, name: str, path: str) -> list:
    items = term.get(name)
    if items is None:
        return []
    if not _is_list(items):
        raise InvalidInput(f"must be a list, got {type(items).__name__}", f"{path}.{name}")
    return list(items)


def _is_empty_term(term: object, path: str) -> bool:
    """Neither expressions nor fields: such a term (or a null one) selects nothing."""
    if term is None:
        return True
    if not isinstance(term, Mapping):
        raise InvalidInput(f"must be a node selector term object, got {type(term).__name__}", path)
    return not term.get("matchExpressions") and not term.get("matchFields")


def _compile_term(term: object, path: str, errors: list) -> Term | None:
    """The compiled term; None for an empty term (which matches nothing) and for a
    term that does not parse (its parse errors added to `errors`)."""
    if term is None:
        return None
    if not isinstance(term, Mapping):
        raise InvalidInput(f"must be a node selector term object, got {type(term).__name__}", path)
    expressions = _requirement_list(term, "matchExpressions", path)
    fields = _requirement_list(term, "matchFields", path)
    if not expressions and not fields:
        return None
    found = len(errors)
    requirements = {}
    for i, expr in enumerate(expressions):
        requirement = _compile_requirement(expr, f"{path}.matchExpressions[{i}]", errors)
        if requirement is not None:
            requirements[requirement.key] = requirement
    field_requirements = {}
    for i, expr in enumerate(fields):
        field_requirement = _compile_field_requirement(expr, f"{path}.matchFields[{i}]", errors)
        if field_requirement is not None:
            field_requirements[field_requirement.key] = field_requirement
    if len(errors) > found:
        return None
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
    errors: list = []
    terms = [_compile_term(term, f"{path}[{i}]", errors) for i, term in enumerate(raw_terms)]
    return CompiledNodeSelector(tuple(t for t in terms if t is not None), tuple(errors))


# Go decodes a PreferredSchedulingTerm's weight into an int32.
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _build_preferred_terms(terms: object, field: str) -> CompiledPreferredTerms | None:
    if not _is_list(terms):
        raise InvalidInput(f"must be a list, got {type(terms).__name__}", field)
    weighted = []
    errors: list = []
    for i, item in enumerate(terms):
        path = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("must be an object with weight and preference", path)
        weight = item.get("weight", 0)
        if weight is None:
            weight = 0
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise InvalidInput(f"must be an integer, got {weight!r}", f"{path}.weight")
        if not _INT32_MIN <= weight <= _INT32_MAX:
            raise InvalidInput(f"must fit in 32 bits, got {weight}", f"{path}.weight")
        preference = item.get("preference")
        if weight == 0 or _is_empty_term(preference, f"{path}.preference"):
            continue  # upstream skips (and does not parse) these
        term = _compile_term(preference, f"{path}.preference", errors)
        if term is not None:
            weighted.append((weight, term))
    if not weighted and not errors:
        return None
    return CompiledPreferredTerms(tuple(weighted), tuple(errors))


# ---------------------------------------------------------------------------
# Interning cache

# Bounds of the interning tables. A compiled selector holds ~10-25 bytes for each
# byte of its JSON (a Requirement, its key tuple and label per label): a selector
# is charged 24x its JSON length, and one over MAX_SELECTOR_BYTES (a JSON of
# ~340 KiB, ~13,000 labels) is compiled for its request but never interned.
_CACHE_SIZE = 8192
CACHE_BYTES = 64 * 1024 * 1024
MAX_SELECTOR_BYTES = 8 * 1024 * 1024
_BYTES_PER_JSON_BYTE = 24
_cache_lock = threading.Lock()
# (kind, field, sorted JSON bytes) -> compiled: the field too, as parse errors name it
_by_raw = Memo("selector_raw", _CACHE_SIZE, CACHE_BYTES, MAX_SELECTOR_BYTES)
_by_key = Memo("selector", _CACHE_SIZE, CACHE_BYTES, MAX_SELECTOR_BYTES)  # canonical -> compiled


_stats = {"hits": 0, "misses": 0}  # plain ints: read at scrape time by extender.wire.metrics


def cache_stats() -> dict[str, int]:
    """Compiled-selector cache hits and misses since start (for /metrics)."""
    return dict(_stats)


def clear_cache() -> None:
    """Forget every interned selector (tests, and memory pressure)."""
    with _cache_lock:
        _by_raw.clear()
        _by_key.clear()


def _intern(kind: str, obj: object, field: str, build: Callable[[Any, str], Any]) -> Any:
    """The cached compiled form of `obj`, building (and validating) it on a miss."""
    try:
        raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        raw = None  # not JSON-like: let the builder explain what is wrong
    if raw is not None:
        raw_key: Hashable = (kind, field, raw)
        with _cache_lock:
            hit = _by_raw.get(raw_key, _by_raw)
        if hit is not _by_raw:
            _stats["hits"] += 1
            return hit
    _stats["misses"] += 1
    compiled = build(obj, field)
    if raw is None:
        return compiled
    size = 256 + _BYTES_PER_JSON_BYTE * len(raw)
    if compiled is not None:
        object.__setattr__(compiled, "footprint", size)
    if size > MAX_SELECTOR_BYTES:
        return compiled  # too big to be worth keeping: compiled for this request only
    with _cache_lock:
        if compiled is not None:
            shared = _by_key.get(compiled.key)
            if shared is not None:
                compiled = shared
            else:
                _by_key.put(compiled.key, compiled, size)
        # charged in full here too: this table alone may be what keeps it alive
        _by_raw.put(raw_key, compiled, size + len(raw))
    return compiled


def compile_label_map(
    selector: dict[str, str] | None, field: str = "spec.nodeSelector"
) -> CompiledNodeSelector | None:
    """`spec.nodeSelector`: every key=value must be a node label; None when empty."""
    if not selector:
        if selector is None or isinstance(selector, Mapping):
            return None
    return _intern("labels", selector, field, _build_label_map)


def _strict(compiled: Any) -> Any:
    """Raise the parse errors of a compiled selector, as upstream's strict constructors do."""
    if compiled is not None and compiled.errors:
        (path, message), rest = compiled.errors[0], compiled.errors[1:]
        if rest:
            message = f"{message}; {describe_errors(rest)}"
        raise InvalidInput(message, path)
    return compiled


def compile_node_selector(
    obj: dict | None, field: str, *, lazy: bool = False
) -> CompiledNodeSelector | None:
    """A v1.NodeSelector; None only for None (an empty selector matches nothing).

    A term that does not parse raises InvalidInput, or with `lazy` is left out
    (it matches no node) and its problems are kept in `errors`."""
    if obj is None:
        return None
    compiled = _intern("selector", obj, field, _build_node_selector)
    return compiled if lazy else _strict(compiled)


def compile_preferred_terms(
    terms: list | None, field: str, *, lazy: bool = False
) -> CompiledPreferredTerms | None:
    """[]v1.PreferredSchedulingTerm; None when no term can add weight.

    Weight-0 and empty terms are skipped unparsed, as upstream. A term that does
    not parse raises InvalidInput, or with `lazy` is kept as `errors`."""
    if terms is None or (_is_list(terms) and not terms):
        return None
    compiled = _intern("preferred", terms, field, _build_preferred_terms)
    return compiled if lazy else _strict(compiled)
