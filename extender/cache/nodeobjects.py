"""Full Node objects (`nodeCacheCapable: false`) parsed once per identity, kept as columns.

kube-scheduler without a node cache sends every candidate Node object in every
request. Parsing 1,000 of them costs about as much as decoding the request
body, and building per-request columns, a label index and taint sets from them
costs more again (docs/PERFORMANCE.md). Yet between two requests almost every
object is the same one: only a node the API server changed comes back
different. So each object is reduced once, into a row of columns shaped like
the node table's, and found again by its identity:

- `(name, uid, resourceVersion)` when the object has a resourceVersion: the API
  server changes it on every write of the object, whatever the field, so the
  same triple means the same content (kube-scheduler sends its informer's
  objects untouched);
- otherwise a SHA-256 digest of the object's JSON encoding (~5 µs a node
  against ~25-90 µs to parse it): equal digests mean equal content.

A changed object has a new identity and gets a new row; the old row ages out.
The rows are bounded (LRU, a few times the cluster's node count, never less
than one request needs); the auxiliary indexes (label values, taint sets,
resource names) only grow, so after many rows have come and gone the store is
dropped and rebuilt from the next requests. Not thread-safe on its own:
`ClusterState` holds its lock around every use.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import orjson

from extender.cache.columns import AnnotationColumns, grown, intern_taint_set
from extender.cache.labelindex import LabelIndex
from extender.model.node import NodeInfo, parse_node
from extender.model.taints import Taint

# Like the node table's: a (store, taint set id) pair never means two taint sets.
_taint_epochs = itertools.count(1)


def identity(obj: Any) -> Hashable | None:
    """What a Node object is known by across requests (see the module docstring);
    None for an object that cannot be encoded as JSON (it is parsed every time)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(meta, dict):
        name = meta.get("name")
        rv = meta.get("resourceVersion")
        uid = meta.get("uid", "")
        if isinstance(rv, str) and rv and isinstance(name, str) and name and isinstance(uid, str):
            return (name, uid, rv)
    import hashlib  # here: only a node without a resourceVersion needs it (1 % of a plan's start)

    try:
        return hashlib.sha256(orjson.dumps(obj)).digest()
    except (TypeError, orjson.JSONEncodeError):  # in-process callers may pass anything
        return None


def _parse(obj: Any, field: str) -> NodeInfo:
    info = parse_node(obj, field)
    if info.images:  # checked by the parse; the view takes images from the cache
        info = replace(info, images=())
    return info


class Prepared(NamedTuple):
    """What `NodeObjects.prepare` did outside the lock, for `rows_of` to use."""

    objects: Sequence[Any]
    keys: list[Hashable | None]  # identity per object
    infos: dict[int, NodeInfo]  # position -> parsed object, for those not in the store then


class NodeObjects:
    """Rows of parsed Node objects: names, allocatable, unschedulable, taint set, labels
    and annotations as columns indexed by row, for `ObjectsView` to gather from."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[Hashable, int] = OrderedDict()  # identity -> row, LRU first
        self._free: list[int] = []
        self._next = 0
        self.infos: list[NodeInfo | None] = [None] * capacity
        self.names = np.empty(capacity, object)
        # allocatable: per resource the rows that have it, and a dense column only for
        # the resources a policy asks about (objects may each bring resources of their
        # own: a column per resource would cost resources x rows)
        self._holders: dict[str, dict[int, int]] = {}
        self._alloc: dict[str, np.ndarray] = {}
        self.unschedulable = np.zeros(capacity, bool)
        self.taint_set = np.zeros(capacity, np.int32)
        # append-only: a set id keeps its meaning for the life of the store
        self.taint_sets: list[tuple[Taint, ...]] = [()]
        self._taint_set_ids: dict[tuple[Taint, ...], int] = {(): 0}
        self.taint_epoch = ("objects", next(_taint_epochs))
        self.labels = LabelIndex()
        self._annotation_columns = AnnotationColumns()
        self._transient: list[int] = []  # rows of objects without an identity
        self.parsed = 0  # rows ever filled: how much the append-only indexes may have grown
        self.parsed_bytes = 0  # and their estimated bytes
        self.bytes = 0  # estimated bytes of the rows held
        self._row_bytes: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    # ---- lookup --------------------------------------------------------------
    def prepare(self, objects: Sequence[Any], field: str) -> Prepared:
        """The identities of `objects`, and the parse of each one the store does not
        hold now: work to do before taking the state lock, so that a request of
        changed or new Node objects does not hold everyone else up while it parses.

        Safe without the lock: it only reads the store (a row it saw may be gone
        by the time `rows_of` runs; that object is then parsed there). Raises
        InvalidInput naming `field[i]` for the first malformed object it parses."""
        keys = [identity(obj) for obj in objects]
        rows = self._rows
        infos: dict[int, NodeInfo] = {}
        for i, (obj, key) in enumerate(zip(objects, keys)):
            if key is None or key not in rows:
                infos[i] = _parse(obj, f"{field}[{i}]")
        return Prepared(objects, keys, infos)

    def rows_of(
        self,
        objects: Sequence[Any],
        field: str,
        limit: int,
        max_bytes: int = 1 << 62,
        prepared: Prepared | None = None,
    ) -> np.ndarray:
        """int64[len(objects)]: the row of each object, parsing those not seen before
        (unless `prepared`, from `prepare` of the same objects, parsed them already).

        Raises InvalidInput naming `field[i]` for a malformed object (rows filled
        for the objects before it stay: they are correct, only cached). Then keeps
        at most max(`limit`, rows this call used) rows, dropping the least recently
        used, and fewer while their estimated bytes exceed `max_bytes`; never a row
        of this call."""
        for row in self._transient:  # the previous request is over
            self._clear(row)
        self._transient.clear()
        if prepared is None or prepared.objects is not objects:
            prepared = Prepared(objects, [identity(obj) for obj in objects], {})
        infos = prepared.infos
        rows = self._rows
        out = []
        append = out.append
        touch = rows.move_to_end
        for i, (obj, key) in enumerate(zip(objects, prepared.keys)):
            row = rows.get(key) if key is not None else None
            if row is None:
                info = infos.get(i)
                if info is None:
                    info = _parse(obj, f"{field}[{i}]")
                row = self._fill(info)
                if key is None:  # not cacheable: a row for this request only
                    self._transient.append(row)
                else:
                    rows[key] = row
            else:
                touch(key)
            append(row)
        needed = len(set(out))
        excess = len(rows) - max(limit, needed)
        while rows and (excess > 0 or (self.bytes > max_bytes and len(rows) > needed)):
            _, row = rows.popitem(last=False)
            self._clear(row)
            excess -= 1
        return np.fromiter(out, np.int64, len(out))

    # ---- rows ------------------------------------------------------------------
    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        new = max(needed, self.capacity * 2)
        self.names = grown(self.names, new)
        self._alloc = {res: grown(a, new) for res, a in self._alloc.items()}
        self.unschedulable = grown(self.unschedulable, new)
        self.taint_set = grown(self.taint_set, new)
        self.infos.extend([None] * (new - self.capacity))
        self._annotation_columns.clear()
        self.capacity = new

    def alloc_column(self, resource: str) -> np.ndarray | None:
        """Allocatable `resource` per row (0 where absent); None when no row has it.

        Built from the rows holding the resource the first time it is asked for,
        kept up to date from then on. Do not modify it."""
        column = self._alloc.get(resource)
        if column is None:
            holders = self._holders.get(resource)
            if not holders:
                return None
            column = np.zeros(self.capacity, np.int64)
            column[list(holders)] = list(holders.values())
            self._alloc[resource] = column
        return column

    def _fill(self, info: NodeInfo) -> int:
        if self._free:
            row = self._free.pop()
        else:
            row = self._next
            self._next += 1
            self._grow(self._next)
        self.infos[row] = info
        self.names[row] = info.name
        for res, amount in info.allocatable:
            holders = self._holders.get(res)
            if holders is None:
                holders = self._holders[res] = {}
            holders[row] = amount
            column = self._alloc.get(res)
            if column is not None:
                column[row] = amount
        self.unschedulable[row] = info.unschedulable
        self.taint_set[row] = intern_taint_set(info.taints, self.taint_sets, self._taint_set_ids)
        self.labels.set_node(row, info.name, dict(info.labels))
        if info.annotations:
            self._annotation_columns.clear()
        size = (
            512
            + 2 * len(info.name)
            + sum(len(k) + len(v) + 200 for k, v in info.labels)
            + sum(len(k) + len(v) + 100 for k, v in info.annotations)
            + sum(len(t.key) + len(t.value) + 150 for t in info.taints)
            + 100 * len(info.allocatable)
        )
        self._row_bytes[row] = size
        self.bytes += size
        self.parsed += 1
        self.parsed_bytes += size
        return row

    def _clear(self, row: int) -> None:
        info = self.infos[row]
        self.infos[row] = None
        self.bytes -= self._row_bytes.pop(row, 0)
        self.names[row] = None
        for res, _ in info.allocatable if info is not None else ():
            holders = self._holders[res]
            del holders[row]
            if not holders:  # no row has it now: drop the resource (and its column)
                del self._holders[res]
                self._alloc.pop(res, None)
            else:
                column = self._alloc.get(res)
                if column is not None:
                    column[row] = 0
        self.unschedulable[row] = False
        self.taint_set[row] = 0
        self.labels.remove_node(row)
        if info is not None and info.annotations:
            self._annotation_columns.clear()
        self._free.append(row)

    # ---- columns ---------------------------------------------------------------
    def annotation_column(self, key: str) -> np.ndarray:
        """Value of annotation `key` per row (None where absent), read-only."""
        return self._annotation_columns.column(key, self.infos, self.capacity)
