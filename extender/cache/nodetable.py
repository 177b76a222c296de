"""Columnar node table: dense integer ids and integer numpy columns.

Every node gets a small integer id (reused after deletion), so per-request
work is array indexing instead of dict walks. Resource amounts are int64
(CPU in millicores, everything else in whole units). The table is not
thread-safe on its own: `ClusterState` holds the lock around every use.

Bounded: every value in a column is in 0..OVER_MAX_AMOUNT. Allocatable is
parsed at most MAX_AMOUNT and a pod's request at most OVER_MAX_AMOUNT
(model/quantity.py); a node's usage sum that passes OVER_MAX_AMOUNT (pods the
API server placed beyond any allocatable) is kept exactly in Python integers
beside the column, which holds OVER_MAX_AMOUNT: "more than any node has", the
same verdict for every check, and removing those pods again is exact.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

import numpy as np

from extender.cache.columns import (
    AnnotationColumns,
    column_cache,
    grown,
    intern_taint_set,
)
from extender.cache.labelindex import LabelIndex
from extender.cache.owners import Owners
from extender.cache.podcounts import PodCounts
from extender.model.hostports import (
    WILDCARD_IP,
    HostPort,
    group_conflicts,
    sanitize,
    wanted_by_key,
)
from extender.model.node import NodeInfo
from extender.model.quantity import OVER_MAX_AMOUNT
from extender.model.resources import lacks_room
from extender.model.taints import Taint

FIXED_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")
PODS = FIXED_RESOURCES.index("pods")
# keys of the non-zero scoring columns in NodeTable.over (resource columns use their index)
NONZERO_CPU = -1
NONZERO_MEM = -2

# Every table gets its own taint epoch: a (table, taint set id) pair never means
# two different taint sets, so a policy may cache per-set verdicts by epoch.
_taint_epochs = itertools.count(1)
# Static versions are drawn from one counter for every table, so a version names
# one table's node objects at one moment, and nothing else, for the process's life.
_static_versions = itertools.count(1)


def _read_only_view(column: np.ndarray) -> np.ndarray:
    view = column.view()
    view.flags.writeable = False
    return view


class ReadOnlyColumns:
    """Read-only views of the table's columns, for the NodeViews policies read.

    A slice of a read-only array is read-only for free, where flagging each
    gathered column costs ~0.3 µs (~40 times a request); and nothing that reads
    through these can write into the table. Rebuilt when the table replaces its
    arrays (growth), extended when it adds a resource column."""

    __slots__ = (
        "names",
        "alloc",
        "req",
        "nonzero_cpu",
        "nonzero_mem",
        "unschedulable",
        "taint_set",
    )

    def __init__(self, table: NodeTable) -> None:
        self.names = _read_only_view(table.names_arr)
        self.alloc = [_read_only_view(a) for a in table.alloc]
        self.req = [_read_only_view(a) for a in table.req]
        self.nonzero_cpu = _read_only_view(table.nonzero_cpu)
        self.nonzero_mem = _read_only_view(table.nonzero_mem)
        self.unschedulable = _read_only_view(table.unschedulable)
        self.taint_set = _read_only_view(table.taint_set)


class NodeTable:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.resource_col: dict[str, int] = {r: i for i, r in enumerate(FIXED_RESOURCES)}
        self.resources: list[str] = list(FIXED_RESOURCES)
        self.alloc: list[np.ndarray] = [np.zeros(capacity, np.int64) for _ in self.resources]
        self.req: list[np.ndarray] = [np.zeros(capacity, np.int64) for _ in self.resources]
        self.nonzero_cpu = np.zeros(capacity, np.int64)
        self.nonzero_mem = np.zeros(capacity, np.int64)
        self.unschedulable = np.zeros(capacity, bool)
        self.taint_set = np.zeros(capacity, np.int32)
        # append-only: a set id keeps its meaning for the life of the table
        self.taint_sets: list[tuple[Taint, ...]] = [()]
        self._taint_set_ids: dict[tuple[Taint, ...], int] = {(): 0}
        self.taint_epoch = next(_taint_epochs)
        self.names_arr = np.empty(capacity, dtype=object)
        self.id_of: dict[str, int] = {}
        self.infos: list[NodeInfo | None] = [None] * capacity
        self.labels = LabelIndex()
        # PodTopologySpread (issue 12): matching pods per node and domain; owners' selectors
        self.pod_counts = PodCounts(self.labels)
        self.owners = Owners()
        # (protocol, port) -> node id -> Counter of sanitized IPs in use
        self.ports: dict[tuple[str, int], dict[int, Counter]] = {}
        # image name -> {node id: size}: sparse, since a cluster can have thousands of
        # distinct image names; dense columns are built for the images pods ask about
        self.image_nodes: dict[str, dict[int, int]] = {}
        self._image_columns = column_cache()
        # annotation key -> value per node id (None where absent), built on demand
        self._annotation_columns = AnnotationColumns()
        # (column, node id) -> exact usage sum, for the few cells above OVER_MAX_AMOUNT
        self.over: dict[tuple[int, int], int] = {}
        self._free: list[int] = []
        self._next = 0
        self.version = 0  # bumps when the node set (names/ids) changes
        # changes whenever any node object changes, arrives or leaves (never for the pods
        # placed): what policies declared STATIC read (engine/speccache.py)
        self.static_version = next(_static_versions)
        # resource -> (min, max) allocatable over the nodes, for `static_version`
        self._alloc_bounds: dict[str, tuple[int, int]] = {}
        self._alloc_bounds_version = self.static_version
        self.read = ReadOnlyColumns(self)

    # ---- structure -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.id_of)

    @property
    def id_bound(self) -> int:
        """Every node id is below it (ids are reused, so it only grows): what the spec
        cache sizes its by-id columns by, rather than the doubled `capacity`."""
        return self._next

    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        new = max(needed, self.capacity * 2)
        self.alloc = [grown(a, new) for a in self.alloc]
        self.req = [grown(a, new) for a in self.req]
        self.nonzero_cpu = grown(self.nonzero_cpu, new)
        self.nonzero_mem = grown(self.nonzero_mem, new)
        self.unschedulable = grown(self.unschedulable, new)
        self.taint_set = grown(self.taint_set, new)
        self.names_arr = grown(self.names_arr, new)
        self._image_columns.clear()
        self._annotation_columns.clear()
        self.infos.extend([None] * (new - self.capacity))
        self.capacity = new
        self.read = ReadOnlyColumns(self)

    def column(self, resource: str) -> int:
        """Column of `resource`, adding an all-zero column for a new one."""
        col = self.resource_col.get(resource)
        if col is None:
            col = len(self.resources)
            self.resources.append(resource)
            self.resource_col[resource] = col
            self.alloc.append(np.zeros(self.capacity, np.int64))
            self.req.append(np.zeros(self.capacity, np.int64))
            self.read.alloc.append(_read_only_view(self.alloc[-1]))
            self.read.req.append(_read_only_view(self.req[-1]))
        return col

    def alloc_bounds(self, resource: str) -> tuple[int, int]:
        """(min, max) of `resource`'s allocatable over every node, (0, 0) with none.

        Allocatable changes only with a node object, which bumps `static_version`, so
        the pair is kept until then: the scoring policies' fast paths (every node has
        the resource; no product can wrap) cost a request a dict lookup instead of
        two reductions per resource (docs/PERFORMANCE.md, "The dynamic policies' calls")."""
        if self._alloc_bounds_version != self.static_version:
            self._alloc_bounds = {}
            self._alloc_bounds_version = self.static_version
        found = self._alloc_bounds.get(resource)
        if found is None:
            col = self.resource_col.get(resource)
            if col is None or not self.id_of:
                found = (0, 0)
            else:
                ids = np.fromiter(self.id_of.values(), np.int64, len(self.id_of))
                live = self.alloc[col][ids]
                found = (int(live.min()), int(live.max()))
            self._alloc_bounds[resource] = found
        return found

    def intern_taints(self, taints: tuple[Taint, ...]) -> int:
        return intern_taint_set(taints, self.taint_sets, self._taint_set_ids)

    # ---- nodes -----------------------------------------------------------
    def set_node(self, info: NodeInfo) -> int:
        """Insert or update a node's own data (not its pods); returns its id."""
        nid = self.id_of.get(info.name)
        if nid is None:
            if self._free:
                nid = self._free.pop()
            else:
                nid = self._next
                self._next += 1
                self._grow(self._next)
            self.id_of[info.name] = nid
            self.names_arr[nid] = info.name
            self.version += 1
        old = self.infos[nid]
        self.infos[nid] = info
        self.static_version = next(_static_versions)
        if old is None or old.allocatable != info.allocatable:
            for a in self.alloc:
                a[nid] = 0
            for res, amount in info.allocatable:
                self.alloc[self.column(res)][nid] = amount
        self.unschedulable[nid] = info.unschedulable
        self.taint_set[nid] = self.intern_taints(info.taints)
        if old is None or old.labels != info.labels:
            self.labels.set_node(nid, info.name, dict(info.labels))
        if old is None or old.images != info.images:
            if old is not None:
                self._set_images(nid, old.images, remove=True)
            self._set_images(nid, info.images, remove=False)
        if old is None or old.annotations != info.annotations:
            self._annotation_columns.clear()
        return nid

    def _set_images(self, nid: int, images, remove: bool) -> None:
        # the cached columns of these images are stale; none cached (a load): none to drop
        drop = self._image_columns.pop if len(self._image_columns) else None
        for names, size in images:
            for name in names:
                if drop is not None:
                    drop(name)
                holders = self.image_nodes.get(name)
                if remove:
                    if holders is not None:
                        holders.pop(nid, None)
                        if not holders:
                            del self.image_nodes[name]
                else:
                    if holders is None:
                        holders = self.image_nodes[name] = {}
                    holders[nid] = size

    def image_column(self, name: str) -> np.ndarray | None:
        """Size of image `name` per node id (0 where absent); None if no node has it."""
        column = self._image_columns.get(name)
        if column is None:
            holders = self.image_nodes.get(name)
            if holders is None:
                return None
            column = np.zeros(self.capacity, np.int64)
            column[list(holders)] = list(holders.values())
            column.flags.writeable = False
            self._image_columns.put(name, column, column.nbytes + len(name) + 64)
        return column

    def annotation_column(self, key: str) -> np.ndarray:
        """Value of annotation `key` per node id (None where absent), read-only."""
        return self._annotation_columns.column(key, self.infos, self.capacity)

    def image_spread(self, name: str) -> int:
        """How many nodes have image `name`."""
        holders = self.image_nodes.get(name)
        return 0 if holders is None else len(holders)

    def remove_node(self, name: str) -> int | None:
        """Drop a node; its pods must have been detached by the caller first."""
        nid = self.id_of.pop(name, None)
        if nid is None:
            return None
        info = self.infos[nid]
        if info is not None:
            self._set_images(nid, info.images, remove=True)
            if info.annotations:
                self._annotation_columns.clear()
        self.infos[nid] = None
        for a in self.alloc:
            a[nid] = 0
        for a in self.req:
            a[nid] = 0
        self.nonzero_cpu[nid] = 0
        self.nonzero_mem[nid] = 0
        if self.over:
            for key in [k for k in self.over if k[1] == nid]:
                del self.over[key]
        self.unschedulable[nid] = False
        self.taint_set[nid] = 0
        self.names_arr[nid] = None
        self.labels.remove_node(nid)
        for by_node in self.ports.values():
            by_node.pop(nid, None)
        self._free.append(nid)
        self.version += 1
        self.static_version = next(_static_versions)
        return nid

    # ---- pods on nodes ---------------------------------------------------
    def add_usage(
        self,
        nid: int,
        vector: tuple[tuple[int, int], ...],
        nonzero_cpu: int,
        nonzero_mem: int,
        ports: tuple[HostPort, ...],
        sign: int,
    ) -> None:
        """Add (sign=1) or remove (sign=-1) one pod's usage on node `nid`."""
        req = self.req
        over = self.over
        for col, amount in vector:
            column = req[col]
            total = column.item(nid) + sign * amount
            if total > OVER_MAX_AMOUNT or (over and (col, nid) in over):
                self._add(column, col, nid, sign * amount)  # beyond the bound: kept exactly
            else:
                column[nid] = total
        for column, key, amount in (
            (self.nonzero_cpu, NONZERO_CPU, nonzero_cpu),
            (self.nonzero_mem, NONZERO_MEM, nonzero_mem),
        ):
            total = column.item(nid) + sign * amount
            if total > OVER_MAX_AMOUNT or (over and (key, nid) in over):
                self._add(column, key, nid, sign * amount)
            else:
                column[nid] = total
        req[PODS][nid] += sign  # a pod count: never near int64
        for p in ports:
            ip, proto, port = sanitize(p)
            by_node = self.ports.setdefault((proto, port), {})
            ips = by_node.get(nid)
            if sign > 0:
                if ips is None:
                    ips = by_node[nid] = Counter()
                ips[ip] += 1
            elif ips is not None:
                ips[ip] -= 1
                if ips[ip] <= 0:
                    del ips[ip]
                if not ips:
                    del by_node[nid]

    def add_summed_usage(
        self, nid: int, sums: dict[int, int], nonzero_cpu: int, nonzero_mem: int, pods: int
    ) -> None:
        """Add the usage of `pods` pods without host ports on node `nid` at once:
        `sums` maps resource column to their summed amounts. The same cells as that
        many `add_usage(..., 1)` calls (the sums are exact Python integers, and a
        cell past OVER_MAX_AMOUNT is kept in `over` alike), in one write per cell."""
        req = self.req
        for col, amount in sums.items():
            self._add(req[col], col, nid, amount)
        self._add(self.nonzero_cpu, NONZERO_CPU, nid, nonzero_cpu)
        self._add(self.nonzero_mem, NONZERO_MEM, nid, nonzero_mem)
        req[PODS][nid] += pods

    def _add(self, column: np.ndarray, key: int, nid: int, delta: int) -> None:
        """column[nid] += delta, exactly, the column saturating at OVER_MAX_AMOUNT."""
        over = self.over
        exact = over.get((key, nid)) if over else None
        total = (column.item(nid) if exact is None else exact) + delta
        if total > OVER_MAX_AMOUNT:
            over[(key, nid)] = total
            column[nid] = OVER_MAX_AMOUNT
        else:
            if exact is not None:
                del over[(key, nid)]
            column[nid] = total

    def exact_usage(self, key: int, nid: int) -> int:
        """The exact usage sum behind one cell (a resource column index, NONZERO_CPU
        or NONZERO_MEM), which the column holds saturated at OVER_MAX_AMOUNT."""
        exact = self.over.get((key, nid))
        if exact is not None:
            return exact
        column = self.nonzero_cpu if key == NONZERO_CPU else self.nonzero_mem if key < 0 else None
        return int((self.req[key] if column is None else column)[nid])

    def fits(
        self,
        nid: int,
        requests: tuple[tuple[str, int], ...],
        ignores: Callable[[str], bool] | None = None,
    ) -> str:
        """'' if a pod with `requests` fits on `nid` now, else the first shortfall.

        The test NodeResourcesFit's filter makes (`lacks_room`), with a resource no
        column has counting as allocatable 0 everywhere (it adds no column), and
        the resources that filter ignores (`ignores`) left unchecked."""
        if lacks_room(int(self.alloc[PODS][nid]), int(self.req[PODS][nid]), 1):
            return "Too many pods"
        for resource, amount in requests:
            if ignores is not None and ignores(resource):
                continue
            col = self.resource_col.get(resource)
            if col is None:
                if amount > 0:
                    return f"Insufficient {resource}"
                continue
            if amount and lacks_room(int(self.alloc[col][nid]), int(self.req[col][nid]), amount):
                return f"Insufficient {resource}"
        return ""

    def room_count(
        self,
        nid: int,
        requests: tuple[tuple[str, int], ...],
        ignores: Callable[[str], bool] | None,
        most: int,
    ) -> int:
        """How many pods with `requests`, bound one after another, `fits` admits on
        `nid` (at most `most`), without binding them: a copy j (from 0) fits while
        allocatable - (requested + j x step) >= amount for every checked resource,
        where step is what a bind adds to the cell (the amount; 1 pod for the pod
        count). A cell at the saturation bound admits none, as `fits` finds after
        the binds (allocatable never exceeds the bound)."""
        count = self._room(int(self.alloc[PODS][nid]), int(self.req[PODS][nid]), 1, 1, most)
        for resource, amount in requests:
            if count <= 0:
                break
            if ignores is not None and ignores(resource):
                continue
            col = self.resource_col.get(resource)
            if col is None:
                if amount > 0:
                    return 0
                continue
            if amount < 0:
                return 0  # never parsed so; one by one, `fits` says what happens
            if amount:
                step = 1 if col == PODS else amount
                room = self._room(
                    int(self.alloc[col][nid]), int(self.req[col][nid]), amount, step, count
                )
                count = min(count, room)
        return max(count, 0)

    @staticmethod
    def _room(allocatable: int, requested: int, amount: int, step: int, most: int) -> int:
        if lacks_room(allocatable, requested, amount):
            return 0
        return min(most, (allocatable - requested - amount) // step + 1)

    def port_conflict_mask(self, wanted: tuple[HostPort, ...]) -> np.ndarray:
        """Per-node-id mask, read-only: the node already uses one of the wanted host ports.

        Each (protocol, port) the pod wants is looked up once and each node using
        it judged by one set operation: the cost is the pod's distinct ports plus
        the (port, node) pairs in use among them, never ports x nodes. A port
        wanted on every address (no hostIP, the usual case) conflicts wherever it
        is used: those nodes are marked in one numpy call, not one by one."""
        mask = np.zeros(self.capacity, bool)
        ports = self.ports
        for key, ips in wanted_by_key(wanted).items():
            by_node = ports.get(key)
            if not by_node:
                continue
            if WILDCARD_IP in ips:  # a hostPort without hostIP: every node using the port
                mask[np.fromiter(by_node, np.intp, len(by_node))] = True
                continue
            for nid, used in by_node.items():
                if group_conflicts(ips, used):
                    mask[nid] = True
        mask.flags.writeable = False
        return mask

    def port_conflict_at(self, nid: int, wanted: tuple[HostPort, ...]) -> bool:
        """`port_conflict_mask(wanted)[nid]` for one node (/bind's re-check): the cost is
        the pod's distinct ports, not the nodes using them, which grow with the
        cluster (a host-port agent on 15,000 nodes made every such bind a loop over
        all of them)."""
        ports = self.ports
        for key, ips in wanted_by_key(wanted).items():
            by_node = ports.get(key)
            if by_node:
                used = by_node.get(nid)
                if used and group_conflicts(ips, used):
                    return True
        return False

    def port_conflict_keys(self, wanted: tuple[HostPort, ...]) -> dict[int, list[tuple[str, int]]]:
        """Node id -> the (protocol, port) keys on which the wanted host ports conflict
        there (only nodes with a conflict); same cost as `port_conflict_mask`."""
        out: dict[int, list[tuple[str, int]]] = {}
        ports = self.ports
        for key, ips in wanted_by_key(wanted).items():
            by_node = ports.get(key)
            if not by_node:
                continue
            everywhere = WILDCARD_IP in ips  # conflicts with any IP in use
            for nid, used in by_node.items():
                if everywhere or group_conflicts(ips, used):
                    found = out.get(nid)
                    if found is None:
                        out[nid] = [key]
                    else:
                        found.append(key)
        return out
