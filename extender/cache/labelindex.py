"""Per-node labels as columns: a compiled selector becomes a few numpy operations.

The node table keeps one `LabelIndex` over its dense node ids, and the store of
parsed full Node objects (`cache/nodeobjects.py`) another over its rows;
`LabelIndex.from_nodes` builds one in bulk.
The selector semantics themselves live in `extender.model.selectors`; this
module only evaluates them, and must agree with `CompiledNodeSelector.matches`
(tests/model/test_selectors.py checks it does, on random nodes and selectors).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from extender.model.memo import Memo
from extender.model.selectors import (
    DOES_NOT_EXIST,
    EXISTS,
    GT,
    IN,
    NOT_IN,
    CompiledNodeSelector,
    CompiledPreferredTerms,
    Requirement,
    Term,
    parse_label_int,
)

_ABSENT = -1


class _Column:
    """One label key (or the node name): a value id per node, -1 where absent.

    Kept sparse (`rows`: node id -> value id) until a selector or a plugin reads
    the key, then also as dense arrays over every node id, kept up to date from
    then on. Node objects may each bring label keys of their own (any caller can
    send such objects), and a dense column per key would cost keys x nodes in
    time and memory; only the keys something asks about pay for a dense column.
    """

    __slots__ = ("rows", "_ids", "_numbers", "_number_ok", "value_ids", "value_numbers")

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}
        self._ids: np.ndarray | None = None
        self._numbers: np.ndarray | None = None
        self._number_ok: np.ndarray | None = None
        self.value_ids: dict[str, int] = {}
        self.value_numbers: list[int | None] = []

    def value_id(self, value: str) -> int:
        vid = self.value_ids.get(value)
        if vid is None:
            vid = self.value_ids[value] = len(self.value_numbers)
            self.value_numbers.append(parse_label_int(value))
        return vid

    def dense(self, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(value ids, numeric values, numeric?) per node id, built on first use."""
        if self._ids is None:
            ids = np.full(capacity, _ABSENT, dtype=np.int32)
            numbers = np.zeros(capacity, dtype=np.int64)
            number_ok = np.zeros(capacity, dtype=bool)
            if self.rows:
                rows = np.fromiter(self.rows, np.int64, len(self.rows))
                vids = np.fromiter(self.rows.values(), np.int32, len(self.rows))
                known = np.array([n is not None for n in self.value_numbers], dtype=bool)
                values = np.array([n or 0 for n in self.value_numbers], dtype=np.int64)
                ids[rows] = vids
                number_ok[rows] = known[vids]
                numbers[rows] = values[vids]
            self._ids, self._numbers, self._number_ok = ids, numbers, number_ok
        return self._ids, self._numbers, self._number_ok  # type: ignore[return-value]

    def set(self, row: int, value: str) -> None:
        vid = self.value_id(value)
        self.rows[row] = vid
        if self._ids is not None:
            self._ids[row] = vid
            number = self.value_numbers[vid]
            self._number_ok[row] = number is not None  # type: ignore[index]
            self._numbers[row] = 0 if number is None else number  # type: ignore[index]

    def fill(self, rows: list[int], vids: list[int]) -> None:
        """Set many rows at once (bulk build)."""
        self.rows.update(zip(rows, vids))
        self._ids = self._numbers = self._number_ok = None  # rebuilt on next use

    def clear(self, row: int) -> None:
        self.rows.pop(row, None)
        if self._ids is not None:
            self._ids[row] = _ABSENT
            self._number_ok[row] = False  # type: ignore[index]
            self._numbers[row] = 0  # type: ignore[index]

    def grow(self, capacity: int) -> None:
        if self._ids is None:
            return
        extra = capacity - len(self._ids)
        self._ids = np.concatenate([self._ids, np.full(extra, _ABSENT, dtype=np.int32)])
        self._numbers = np.concatenate([self._numbers, np.zeros(extra, dtype=np.int64)])
        self._number_ok = np.concatenate([self._number_ok, np.zeros(extra, dtype=bool)])

    def equal_any(self, values: tuple[str, ...] | frozenset[str], capacity: int) -> np.ndarray:
        """Rows whose value is one of `values` (never rows without the key)."""
        vids = [self.value_ids[v] for v in values if v in self.value_ids]
        if not vids:
            return np.zeros(capacity, dtype=bool)
        ids = self.dense(capacity)[0]
        if len(vids) == 1:
            return ids == vids[0]
        return np.isin(ids, np.array(vids, dtype=np.int32))


class LabelIndex:
    """Per-node labels as columns, for evaluating a selector over every node at once.

    Node ids are the node table's dense row numbers. Masks and weights are cached
    per compiled selector until the next change (`version`), so a selector that
    many pods share costs one dictionary lookup per request. The caller serializes
    mutations against reads; the caches themselves are safe for concurrent readers.
    """

    # masks (bool), weights (int64) and label values (object) per node: a few KiB to
    # 40 KiB each at 5,000 nodes, charged their nbytes plus the selector's own bytes
    MASK_CACHE_SIZE = 4096
    MASK_CACHE_BYTES = 64 * 1024 * 1024

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = max(1, capacity)
        self._live = np.zeros(self._capacity, dtype=bool)
        self._columns: dict[str, _Column] = {}
        self._names = _Column()
        self._node_labels: dict[int, tuple[str, dict[str, str]]] = {}
        self.version = 0
        self._cache_lock = threading.Lock()
        self._cache = Memo("label_masks", self.MASK_CACHE_SIZE, self.MASK_CACHE_BYTES)
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
            column = self._columns[key] = _Column()
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

    # -- evaluation -------------------------------------------------------

    def mask(self, selector: CompiledNodeSelector) -> np.ndarray:
        """bool[capacity]: the live nodes `selector` matches (read-only, cached)."""
        return self._cached(selector, self._compute_mask)

    def values(self, key: str) -> np.ndarray:
        """object[capacity]: each node's value of label `key`, None where absent (cached)."""
        return self._cached(("values", key), self._compute_values)

    # --- PodTopologySpread (issue 12) ---
    def value_ids(self, key: str) -> tuple[np.ndarray, int]:
        """(int32[capacity] of each node's value id for label `key`, -1 where absent;
        how many value ids exist). A value keeps its id for the life of the index, so
        ids serve as topology domain numbers; the array is the live column: read only."""
        column = self._columns.get(key)
        if column is None:
            return np.full(self._capacity, _ABSENT, dtype=np.int32), 0
        return column.dense(self._capacity)[0], len(column.value_numbers)

    def value_id_of(self, key: str, node_id: int) -> int:
        """One node's value id for label `key`, -1 where absent (no dense column built)."""
        column = self._columns.get(key)
        if column is None:
            return _ABSENT
        return column.rows.get(node_id, _ABSENT)

    def known_value_id(self, key: str, value: str) -> int:
        """The id of a value of `key` some node has had, else -1."""
        column = self._columns.get(key)
        if column is None:
            return _ABSENT
        return column.value_ids.get(value, _ABSENT)

    # --- end PodTopologySpread ---

    def weights(self, preferred: CompiledPreferredTerms) -> np.ndarray:
        """int64[capacity]: per node, the sum of the weights of matching terms (cached)."""
        return self._cached(preferred, self._compute_weights)

    def _cached(self, compiled: Any, compute: Callable[[Any], np.ndarray]) -> np.ndarray:
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
        size = result.nbytes + getattr(compiled, "footprint", 0) + 128
        if compiled.__class__ is tuple:  # ("values", label)
            size += len(compiled[1])
        with self._cache_lock:
            if self._cache_version == version:
                self._cache.put(compiled, result, size)
        return result

    def _compute_mask(self, selector: CompiledNodeSelector) -> np.ndarray:
        result = np.zeros(self._capacity, dtype=bool)
        for term in selector.terms:
            result |= self._term_mask(term)
        result &= self._live
        return result

    def _compute_values(self, cache_key: tuple[str, str]) -> np.ndarray:
        column = self._columns.get(cache_key[1])
        if column is None:
            return np.full(self._capacity, None, dtype=object)
        by_id = np.empty(len(column.value_ids) + 1, dtype=object)  # the last one: absent
        by_id[:-1] = list(column.value_ids)
        return by_id[column.dense(self._capacity)[0]]

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
                if not requirement.on_name:  # another field reads "" on every node
                    if (requirement.value == "") != (requirement.operator == IN):
                        fields[:] = False
                    continue
                same = self._names.equal_any((requirement.value,), self._capacity)
                fields &= same if requirement.operator == IN else ~same
            # Upstream ignores matchFields for a node without a name.
            fields |= self._names.dense(self._capacity)[0] == _ABSENT
            result &= fields
        return result

    def _requirement_mask(self, requirement: Requirement) -> np.ndarray:
        op = requirement.operator
        column = self._columns.get(requirement.label)
        if column is None:
            absent_matches = op in (NOT_IN, DOES_NOT_EXIST)
            return np.full(self._capacity, absent_matches, dtype=bool)
        if op == IN:
            return column.equal_any(requirement.values, self._capacity)
        if op == NOT_IN:
            return ~column.equal_any(requirement.values, self._capacity)
        ids, numbers, number_ok = column.dense(self._capacity)
        if op == EXISTS:
            return ids != _ABSENT
        if op == DOES_NOT_EXIST:
            return ids == _ABSENT
        if op == GT:
            return number_ok & (numbers > requirement.number)
        return number_ok & (numbers < requirement.number)
