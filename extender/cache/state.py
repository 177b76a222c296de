"""ClusterState: the extender's own view of the cluster, kept lean and consistent.

One lock guards everything. Each mutation validates and parses first, then
applies without any step that can fail, so it applies fully or not at all.
Readers (the verbs) take the same lock for the length of one evaluation, so
a /filter never sees half of a /bind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from extender.cache.affinitycounts import PodAffinityIndex
from extender.cache.bulkattach import (
    TAIL,
    PlacedGroups,
    attach_alike,
    attach_all,
    group_key,
    record_copy,
)
from extender.cache.gcpolicy import FreezeAfter
from extender.cache.namespaces import NamespaceLabels, parse_namespace
from extender.cache.nodeobjects import NodeObjects, Prepared
from extender.cache.nodetable import NodeTable
from extender.cache.owners import OWNER_KINDS, Owners, parse_owner
from extender.cache.podindex import PodParts, PodRecord, PodsByNode
from extender.cache.podmemory import POD_BYTES, PodMemory
from extender.cache.view import ObjectsView, StateView
from extender.model.documents import ListItems, NotStreamable, decode_json_or_yaml
from extender.model.errors import BindError, InvalidInput
from extender.model.memo import Memo
from extender.model.node import parse_node
from extender.model.pod import PodInfo, parse_pod, same_spec

TERMINAL_PHASES = ("Succeeded", "Failed")
# Rows of parsed full Node objects kept across requests: a few per cluster node (old
# and new versions of a node that changed, nodes the cache does not know yet), and
# a fresh store once this many times the bound have been parsed.
# Remembered pods (/filter and /prioritize for a later /bind): count, age and bytes.
REMEMBERED_PODS = 100_000
REMEMBERED_BYTES = 256 * 1024 * 1024
# Pending pods from the watch are truth, not cache, but a cluster can hold any number:
# past these bounds a new pending pod is not kept (logged and counted), and its /bind
# needs the spec its /filter left in the remembered pods instead.
PENDING_PODS = 200_000
PENDING_BYTES = 512 * 1024 * 1024
# The last few NodeNames lists resolved to ids (the scheduler often repeats one).
NAME_LISTS = 8
NAME_LISTS_BYTES = 64 * 1024 * 1024
OBJECT_ROWS_PER_NODE = 4
OBJECT_ROWS_MIN = 1024
OBJECT_ROWS_RENEW = 16
OBJECT_ROWS_BYTES = 256 * 1024 * 1024  # estimated; never fewer rows than one request needs
# Specs and label sets whose record parts are kept (`_shared_parts`) before starting afresh.
PARTS_KEPT = 4096


def _pod_placement(obj: dict) -> tuple[str, bool]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    node = spec.get("nodeName") or "" if isinstance(spec, dict) else ""
    phase = status.get("phase", "") if isinstance(status, dict) else ""
    return node, phase in TERMINAL_PHASES


def object_name(kind: str, obj: Any, position: int | None = None) -> str:
    """`pod NAMESPACE/NAME` or `node NAME` for messages; the position in its list
    (when it has one) only when the object has no usable name."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        at = f" #{position}" if position is not None else ""
        return f"{kind}{at} (no metadata.name)"
    namespace = meta.get("namespace") if kind == "pod" else None
    if isinstance(namespace, str) and namespace:
        name = f"{namespace}/{name}"
    return f"{kind} {name}"


class Loaded(NamedTuple):
    """What loading a `List` put in the cache (the startup log says it)."""

    nodes: int
    pods: int  # Pod items in the List
    counted: int  # assigned, not terminal: counted on their node
    unplaced: int  # assigned to a node the List does not have: counted once it appears
    pending: int  # no spec.nodeName: take no room; their specs are kept for /bind
    terminal: int  # Succeeded or Failed: skipped
    namespaces: int = 0  # Namespace items (their labels, for namespaceSelector)

    def describe(self) -> str:
        text = (
            f"{self.nodes} nodes; of {self.pods} pods, {self.counted} assigned and counted "
            f"on their nodes, {self.pending} pending (no room taken; specs kept for /bind), "
            f"{self.terminal} terminal (skipped)"
        )
        if self.unplaced:
            text += f", {self.unplaced} assigned to nodes not in the list (held until they appear)"
        if self.namespaces:
            text += f"; {self.namespaces} namespaces"
        return text


def _contiguous(ids: np.ndarray) -> bool:
    """Whether `ids` is 0..n-1 in order: a view then slices the columns instead of
    gathering them."""
    n = len(ids)
    if not n or int(ids[0]) != 0 or int(ids[-1]) != n - 1:
        return False
    return bool((np.diff(ids) == 1).all())


class ClusterState:
    def __init__(
        self, remembered_pods: int = REMEMBERED_PODS, remember_seconds: float = 600.0
    ) -> None:
        self.lock = threading.RLock()
        self.table = NodeTable()
        self.pods: dict[str, PodRecord] = {}
        # the same records by node name; those naming an unknown node wait there,
        # unattached, until the node arrives
        self.by_node = PodsByNode()
        # uid -> (the pod as the last /filter or /prioritize sent it, whether its spec
        # differs from the one the request before sent)
        self._seen: PodMemory[tuple[PodInfo, bool]] = PodMemory(
            remembered_pods, remember_seconds, max_bytes=REMEMBERED_BYTES
        )
        # pending pods (no node, not terminal) from the watch or the snapshot, by UID: any
        # replica can bind any pending pod, even one whose /filter went to another replica
        self.pending: dict[str, PodInfo] = {}
        self.pending_bytes = 0  # POD_BYTES + footprint of each, as PodMemory charges
        self.pending_refused = 0  # new pending pods not kept: past PENDING_PODS/_BYTES
        # first in, first out: a tuple of 5,000 names would be hashed again to reorder it
        self._resolve_cache = Memo("node_name_lists", NAME_LISTS, NAME_LISTS_BYTES, lru=False)
        # what records of one spec and label set share (`_shared_parts`): by the identity
        # of what the parsed pod shares, by value, and each label set's key
        self._parts: dict[tuple, tuple] = {}
        self._parts_by_value: dict[tuple, PodParts] = {}
        self._label_keys: dict[int, tuple] = {}
        self._parts_table: NodeTable | None = None
        # the last list resolved with every name known, and its resolution: a list
        # compares equal faster than a tuple of it hashes (the strings a request
        # decodes are new objects with no cached hash), and kube-scheduler sends one
        # list pod after pod. Valid while the table and its node set stay the same.
        self._last_names: tuple[Any, int, Sequence[str], tuple] | None = None
        self._primed: tuple[Any, int, tuple[str, ...], tuple] | None = None  # prime_names
        self.node_objects = NodeObjects()  # full Node objects of requests, parsed once
        # resources /bind does not re-check: those NodeResourcesFit's filter ignores
        # (set by the Service from its engine, so bind refuses what the filter refuses)
        self.bind_ignores: Callable[[str], bool] | None = None
        # the filters' other questions that placed pods can change (the Service sets it
        # from its engine: Engine.bind_recheck), asked of the chosen node by bind()
        self.bind_recheck: Callable[[PodInfo, Any], str] | None = None
        self.ready = False
        self.ready_reason = "cluster state not loaded yet"
        # bumps on every change a filter could see; lets a verb reuse work done
        # for the same pod at the same generation (see Service.prioritize)
        self.generation = 0
        self._gc = FreezeAfter()
        self.source = "none"
        # -- inter-pod affinity (issue 12): namespace labels, and placed pods counted
        # per topology domain; the index rides on the table, so every view finds it
        self.namespaces = NamespaceLabels()
        self.table.affinity = PodAffinityIndex(self.table.labels, self.namespaces)
        # -- end inter-pod affinity

    # ---- readiness -------------------------------------------------------
    def set_ready(self, ready: bool, reason: str = "") -> None:
        self.ready = ready
        self.ready_reason = "" if ready else (reason or "not ready")

    def stats(self) -> dict[str, float]:
        return {
            "nodes": len(self.table),
            "pods": len(self.pods),
            "pending": len(self.pending),
            "pending_bytes": self.pending_bytes,
            "pending_refused": self.pending_refused,
            "remembered": len(self._seen),
            "remembered_bytes": self._seen.bytes,
            "memo_node_objects_entries": len(self.node_objects),
            "memo_node_objects_bytes": self.node_objects.bytes,
            "namespaces": len(self.namespaces),
            **self.table.affinity.stats(),
        }

    # ---- pods seen in /filter and /prioritize ----------------------------
    def remember(self, pod: PodInfo) -> None:
        """Keep the pod's parsed spec for a later /bind (bounded, expiring), and
        whether it differs from the spec sent before it (see `_spec_to_bind`)."""
        if pod.uid:
            with self.lock:
                last = self._seen.get(pod.uid)
                changed = last is not None and not same_spec(last[0], pod)
                if self._seen.put(pod.uid, (pod, changed), pod.footprint):
                    self._gc.note()  # long-lived until bound or expired

    # ---- pending pods (call with the lock held) -----------------------------
    def _keep_pending(self, uid: str, pod: PodInfo) -> None:
        size = POD_BYTES + pod.footprint
        old = self.pending.get(uid)
        if old is None:
            if len(self.pending) >= PENDING_PODS or self.pending_bytes + size > PENDING_BYTES:
                self.pending_refused += 1
                if self.pending_refused % 1000 == 1:
                    import logging  # here: a plan never logs, and logging is 1 % of its start

                    logging.getLogger(__name__).warning(
                        "pending pods past the bound (%d pods, %d bytes): pod UID %s and "
                        "%d before it not kept; their /bind needs their /filter's spec",
                        PENDING_PODS,
                        PENDING_BYTES,
                        uid,
                        self.pending_refused - 1,
                    )
                return
            self._gc.note()
        else:
            self.pending_bytes -= POD_BYTES + old.footprint
        self.pending[uid] = pod
        self.pending_bytes += size

    def _unpend(self, uid: str) -> None:
        old = self.pending.pop(uid, None)
        if old is not None:
            self.pending_bytes -= POD_BYTES + old.footprint

    # ---- node mutations --------------------------------------------------
    def apply_node(self, obj: dict) -> bool:
        info = parse_node(obj)
        with self.lock:
            nid = self.table.id_of.get(info.name)
            if nid is not None and self.table.infos[nid] == info:
                return False
            new = nid is None
            self.generation += 1
            self.table.set_node(info)
            if new:
                self._resolve_cache.clear()
                for rec in self.by_node.on(info.name).values():
                    self._attach(rec)
            return True

    def remove_node(self, name: str) -> bool:
        with self.lock:
            if name not in self.table.id_of:
                return False
            for rec in self.by_node.on(name).values():
                self._detach(rec)  # it stays in by_node, waiting for the node to return
            self.table.remove_node(name)
            self.generation += 1
            self._resolve_cache.clear()
            return True

    # ---- namespace mutations (inter-pod affinity, issue 12) --------------
    def apply_namespace(self, obj: dict) -> bool:
        """Add or update a Namespace's labels (namespaceSelector reads them)."""
        name, labels = parse_namespace(obj)
        with self.lock:
            if not self.namespaces.set(name, labels):
                return False
            self.generation += 1
            return True

    def remove_namespace(self, name: str) -> bool:
        with self.lock:
            if not self.namespaces.remove(name):
                return False
            self.generation += 1
            return True

    # ---- pod mutations ---------------------------------------------------
    def _shared_parts(self, pod: PodInfo) -> PodParts:
        """The `PodParts` of a record of `pod`: built once per parsed spec and label set
        and shared by every record of them, so a record is its identity, node and flags.

        Pods of one spec share their `requests` dict (model/pod.py), equal label sets
        one interned mapping and one resolved affinity, so the parts are found by those
        objects' identity first, each entry holding what it is keyed by (its id stays
        its own). A spec parsed with a `spec.nodeName` has a dict of its own per node:
        on that miss the parts are found by value (sorted requests, scoring requests,
        ports, labels, affinity), so the pods of one Deployment on every node still
        share one. The vector's columns are the table's: the entries go with a new
        table."""
        if self._parts_table is not self.table or len(self._parts) > PARTS_KEPT:
            self._parts.clear()
            self._parts_by_value.clear()
            self._label_keys.clear()
            self._parts_table = self.table
        labels = pod.labels
        affinity = pod.pod_affinity
        ports = pod.host_ports
        key = (
            id(pod.requests),
            id(labels),
            id(affinity),
            id(ports),
            pod.nonzero_cpu,
            pod.nonzero_memory,
            pod.terminating,
        )
        found = self._parts.get(key)
        if found is not None:
            return found[0]
        requests = tuple(sorted(pod.requests.items()))
        by_value = (
            requests,
            pod.nonzero_cpu,
            pod.nonzero_memory,
            ports,
            id(labels),
            id(affinity),
            pod.terminating,
        )
        parts = self._parts_by_value.get(by_value)
        if parts is None:
            keyed = self._label_keys.get(id(labels))
            if keyed is None:
                keyed = self._label_keys[id(labels)] = (tuple(labels.items()), labels)
            col = self.table.column
            parts = self._parts_by_value[by_value] = PodParts(
                vector=tuple((col(r), a) for r, a in requests if r != "pods"),
                nonzero_cpu=pod.nonzero_cpu,
                nonzero_mem=pod.nonzero_memory,
                ports=ports,
                requests=requests,
                labels=labels,
                label_key=keyed[0],
                spreads=not pod.terminating,
                affinity=affinity,
            )  # it holds labels and affinity: their ids in the key stay theirs
        self._parts[key] = (parts, pod.requests, ports)
        return parts

    def _record(self, pod: PodInfo, node_name: str) -> PodRecord:
        nid = self.table.id_of.get(node_name)
        if nid is not None:  # the table's own string, not the request's copy of it
            node_name = self.table.names_arr[nid]
        return PodRecord(pod.uid, pod.namespace, pod.name, node_name, self._shared_parts(pod))

    def _put(self, rec: PodRecord) -> None:
        """Add a record (its UID must not be in `pods`); count it if its node is known."""
        self.pods[rec.uid] = rec
        self.by_node.add(rec)
        self._attach(rec)

    def _attach(self, rec: PodRecord) -> None:
        nid = self.table.id_of.get(rec.node_name)
        if nid is None:
            return  # waits in by_node until apply_node brings its node
        self._attach_at(rec, nid)

    def _attach_at(self, rec: PodRecord, nid: int) -> None:
        """Count `rec` on its node, the table's node `nid`."""
        parts = rec.parts
        table = self.table
        table.add_usage(nid, parts.vector, parts.nonzero_cpu, parts.nonzero_mem, parts.ports, 1)
        where: dict[str, int] = {}  # the node's domain ids, looked up once for both indexes
        if parts.spreads:  # PodTopologySpread's counts
            table.pod_counts.add(rec.namespace, parts.label_key, parts.labels, nid, 1, where)
        table.affinity.add(
            rec.namespace, parts.labels, parts.affinity, nid, 1, parts.label_key, where
        )
        rec.attached = True
        self.generation += 1
        self._gc.note()

    def _detach(self, rec: PodRecord) -> None:
        if rec.attached:
            nid = self.table.id_of[rec.node_name]
            parts = rec.parts
            table = self.table
            table.add_usage(
                nid, parts.vector, parts.nonzero_cpu, parts.nonzero_mem, parts.ports, -1
            )
            where: dict[str, int] = {}
            if parts.spreads:
                table.pod_counts.add(rec.namespace, parts.label_key, parts.labels, nid, -1, where)
            table.affinity.add(
                rec.namespace, parts.labels, parts.affinity, nid, -1, parts.label_key, where
            )
            rec.attached = False
            self.generation += 1

    def _drop(self, uid: str) -> bool:
        rec = self.pods.pop(uid, None)
        if rec is None:
            return False
        self.by_node.discard(rec)
        self._detach(rec)
        return True

    def apply_pod(self, obj: dict) -> bool:
        """Add or update a pod from the API server (or a snapshot).

        Pods with a node and a non-terminal phase count on their node; others
        are dropped. Returns False when nothing scheduling-relevant changed,
        which for a status-only update costs one cached spec parse and a
        tuple comparison.
        """
        node_name, terminal = _pod_placement(obj)
        if terminal or not node_name:
            meta = obj.get("metadata") or {}
            uid = meta.get("uid") if isinstance(meta, dict) else None
            if not uid or not isinstance(uid, str):
                return False
            spec = None
            if not terminal:
                try:
                    spec = parse_pod(obj)
                except InvalidInput:
                    # a pending pod takes no room, so a spec podsift cannot read stops
                    # nothing here; its /filter answers the precise error
                    spec = None
            with self.lock:
                if spec is not None:
                    self._keep_pending(uid, spec)
                else:
                    self._unpend(uid)
                rec = self.pods.get(uid)
                if rec is not None and rec.assumed and not terminal:
                    # a late update of the still-pending pod: our bind is not visible yet
                    return False
                return self._drop(uid)
        pod = parse_pod(obj)
        if not pod.uid:
            raise InvalidInput("must be set for a pod placed on a node", "metadata.uid")
        with self.lock:
            self._unpend(pod.uid)
            old = self.pods.get(pod.uid)
            requests = tuple(sorted(pod.requests.items()))
            if (
                old is not None
                and old.same_usage(
                    node_name, requests, pod.nonzero_cpu, pod.nonzero_memory, pod.host_ports
                )
                # PodTopologySpread counts by labels and skips terminating pods;
                # InterPodAffinity reads labels and the affinity terms (issue 12)
                and old.labels == pod.labels
                and old.spreads != pod.terminating
                and old.affinity == pod.pod_affinity
            ):
                if old.assumed:
                    old.assumed = False  # the API server confirmed our bind
                    self._seen.discard(old.uid)
                return False
            rec = self._record(pod, node_name)
            if old is not None:
                self._drop(old.uid)
            self._put(rec)
            return True

    def _load_pods(self, pods: Iterable[dict]) -> tuple[int, int]:
        """`apply_pod` of every pod of a listing, into this fresh state (replace_all).

        Placed pods alike but for uid, name and node (cache/bulkattach.py
        `group_key`) share one parse and copy one record, and the placed pods
        are counted on their nodes group by group and node by node
        (`PlacedGroups`), the rest (host ports, a pod parsed on its own) in one
        grouped pass (`attach_all`), instead of pod by pod; the pods the fast
        path does not take (pending, terminal, on a node the listing lacks, a UID
        listed twice) go through `apply_pod`, so the state is the one `apply_pod`
        builds (tests/cache/test_bulkload.py). Returns the pending pods (no node,
        not terminal) and the terminal ones."""
        pending = terminal = 0
        groups = PlacedGroups()
        protos, held, id_of = groups.protos, self.pods, self.table.id_of
        for i, obj in enumerate(pods):
            # the common case inline: a placed pod alike to one before, on a known node
            # (what _pod_placement, group_key and _put_placed decide, without their calls)
            key = None
            spec = obj.get("spec") if obj.__class__ is dict else None
            if spec.__class__ is dict:
                node_name = spec.get("nodeName")
                status = obj.get("status")
                if (
                    node_name.__class__ is str
                    and node_name
                    and (status is None or status.__class__ is dict)
                    and (status is None or status.get("phase", "") not in TERMINAL_PHASES)
                ):
                    nid = id_of.get(node_name)
                    key = None if nid is None else group_key(obj, spec)
                    proto = None
                    if key is not None:  # PlacedGroups.proto, inline
                        for known, first in protos.get(key[-TAIL:], ()):
                            if known == key:
                                proto = first
                                break
                    if proto is not None:
                        meta = obj["metadata"]
                        uid, name = meta.get("uid"), meta.get("name")
                        if uid.__class__ is str and uid and name.__class__ is str:
                            if uid not in held:
                                rec = PodRecord(uid, proto.namespace, name, node_name, proto.parts)
                                groups.add(proto, nid, rec)  # type: ignore[arg-type]
                                if self.pending:
                                    self._unpend(uid)
                                held[uid] = rec
                                self.by_node.add(rec)
                                continue
                            key = None  # listed twice: apply_pod decides
            node_name, ended = _pod_placement(obj)
            if ended:
                terminal += 1
            elif not node_name:
                pending += 1
            try:
                if ended or not node_name or not self._put_placed(obj, node_name, groups, key):
                    self.apply_pod(obj)
            except InvalidInput as exc:
                raise InvalidInput(f"{object_name('pod', obj, i)}: {exc}") from None
        # the records still held (a UID listed again may have replaced or dropped one)
        attached = groups.attach(self.table, self.pods)
        attached += attach_all(self.table, self.pods.values())
        self.generation += attached
        self._gc.note(attached)
        return pending, terminal

    def _put_placed(
        self, obj: dict, node_name: str, groups: PlacedGroups, key: bytes | None = None
    ) -> bool:
        """Put the record of a pod placed on `node_name`, a known node, in `pods` and
        `by_node`, not attached yet (a copy of its group's when a pod alike came
        before); False for any other pod (`apply_pod` takes it). `key`: its group_key
        when the caller has it."""
        nid = self.table.id_of.get(node_name)
        if nid is None:
            return False
        if key is None:
            key = group_key(obj, obj["spec"])
        proto = None if key is None else groups.proto(key)
        if proto is not None:
            meta = obj["metadata"]
            uid, name = meta.get("uid"), meta.get("name")
            if uid.__class__ is not str or not uid or name.__class__ is not str:
                proto = None  # parse_pod says what is wrong, or what the name is
        if proto is None:
            pod = parse_pod(obj)
            uid = pod.uid
            if not uid:
                raise InvalidInput("must be set for a pod placed on a node", "metadata.uid")
            if uid in self.pods:
                return False
            rec = self._record(pod, node_name)
            if key is not None and not rec.ports:
                groups.add(groups.first(key, rec), nid, rec)
        else:
            if uid in self.pods:
                return False
            rec = record_copy(proto, uid, name, node_name)
            groups.add(proto, nid, rec)
        if self.pending:
            self._unpend(uid)
        self.pods[uid] = rec
        self.by_node.add(rec)
        return True

    def remove_pod(self, uid: str) -> bool:
        with self.lock:
            self._unpend(uid)
            return self._drop(uid)

    def replace_all(
        self,
        nodes: list[dict],
        pods: Iterable[dict],
        owners: Owners | None = None,
        namespaces: list[dict] | None = None,
    ) -> tuple[int, int]:
        """Replace everything at once (initial load, relist); atomic on errors, which
        name the object (`pod shop/web-3: spec...`, `node node-7: status...`).
        `owners` replaces the owners' selectors too and `namespaces` the namespace
        labels; None keeps those held (a live relist of nodes and pods: owners and
        namespaces are watched apart). `pods` is read once, in order, after the nodes:
        a relist hands its pages over as they arrive, so no more than a page of
        decoded pods is alive at once. Returns the pending and the terminal pods listed."""
        ns_labels = self._listed_namespaces(namespaces)
        fresh = ClusterState()
        for i, n in enumerate(nodes):
            fresh._apply_listed_node(n, i)
        listed = fresh._load_pods(pods)
        self._adopt(fresh, owners, ns_labels)
        return listed

    def _listed_namespaces(self, namespaces: Iterable[dict] | None) -> dict:
        """The labels of listed namespaces by name (None: those held now)."""
        if namespaces is None:
            return self.namespaces.snapshot()
        ns_labels = {}
        for i, ns in enumerate(namespaces):
            try:
                name, labels = parse_namespace(ns)
            except InvalidInput as exc:
                raise InvalidInput(f"{object_name('namespace', ns, i)}: {exc}") from None
            ns_labels[name] = labels
        return ns_labels

    def _apply_listed_node(self, obj: dict, i: int) -> None:
        """apply_node of a listing's node `i`, its errors naming it."""
        try:
            self.apply_node(obj)
        except InvalidInput as exc:
            raise InvalidInput(f"{object_name('node', obj, i)}: {exc}") from None

    def _adopt(self, fresh: ClusterState, owners: Owners | None, ns_labels: dict) -> None:
        """Take `fresh`'s nodes and pods (and `owners`, unless None, and the namespace
        labels) in place of this state's, at once."""
        with self.lock:
            # keep assumptions the new listing does not know about yet
            for uid, rec in self.pods.items():
                if rec.assumed and uid not in fresh.pods:
                    rec.attached = False
                    fresh._put(rec)
            fresh.table.owners = self.table.owners if owners is None else owners
            self.table = fresh.table
            # inter-pod affinity (issue 12): one namespace store for the state's life
            self.namespaces.replace(ns_labels)
            self.table.affinity.namespaces = self.namespaces
            self.pods = fresh.pods
            self.by_node = fresh.by_node
            self.pending = fresh.pending
            self.pending_bytes = fresh.pending_bytes
            self.pending_refused += fresh.pending_refused
            self._resolve_cache.clear()
            self._last_names = self._primed = None  # they hold the old table
            self.generation += 1

    def load_items(self, items: Iterable[Any]) -> Loaded:
        """Load a `List`'s items (Nodes, Pods, the Namespaces InterPodAffinity reads,
        and the owners PodTopologySpread reads: Services, ReplicationControllers,
        ReplicaSets, StatefulSets) in place of everything; atomic on errors, the first
        in the items' order raised.

        `items` is read once, in order, each item used as it comes, so a snapshot
        decoded item by item (`load_file`) never has more than one alive. Nodes may
        come before or after the pods on them (a pod before its node is counted when
        the node comes: slower, the same state)."""
        fresh = ClusterState()
        namespaces: list[dict] = []
        owners = Owners()
        counts = {"Node": 0, "Pod": 0}

        def pods() -> Iterator[dict]:
            for i, item in enumerate(items):
                kind = item.get("kind") if isinstance(item, dict) else None
                if kind == "Pod":
                    counts["Pod"] += 1
                    yield item
                elif kind == "Node":
                    fresh._apply_listed_node(item, counts["Node"])
                    counts["Node"] += 1
                elif kind == "Namespace":
                    namespaces.append(item)
                elif kind in OWNER_KINDS:
                    try:
                        owners.apply(item)
                    except InvalidInput as exc:
                        raise InvalidInput(f"items[{i}] ({kind}): {exc}") from None
                else:
                    raise InvalidInput(
                        f"items[{i}]: kind must be Node, Pod, Namespace, "
                        f"{', '.join(OWNER_KINDS)}, got {kind!r}"
                    )

        pending, terminal = fresh._load_pods(pods())
        ns_labels = self._listed_namespaces(namespaces)
        self._adopt(fresh, owners, ns_labels)
        with self.lock:
            counted = sum(1 for rec in self.pods.values() if rec.attached)
            unplaced = len(self.pods) - counted
        return Loaded(
            nodes=len(self.table),
            namespaces=len(namespaces),
            pods=counts["Pod"],
            counted=counted,
            unplaced=unplaced,
            pending=pending,
            terminal=terminal,
        )

    # ---- owners (PodTopologySpread's default constraints) -------------------
    def apply_owner(self, obj: dict) -> bool:
        """Add or update a Service, ReplicationController, ReplicaSet or StatefulSet."""
        parsed = parse_owner(obj)
        with self.lock:
            changed = self.table.owners.apply_parsed(*parsed)
            if changed:
                self.generation += 1
            return changed

    def remove_owner(self, kind: str, namespace: str, name: str) -> bool:
        with self.lock:
            found = self.table.owners.remove(kind, namespace, name)
            if found:
                self.generation += 1
            return found

    def replace_owners(self, kind: str, objects: list[Any]) -> list[tuple[int, InvalidInput]]:
        """Every owner of one kind at once (a relist); the objects that do not parse
        are left out and returned as (position, error)."""
        fresh = Owners()
        skipped = []
        for i, obj in enumerate(objects):
            if isinstance(obj, dict):
                obj = {**obj, "kind": kind}
            try:
                fresh.apply(obj)
            except InvalidInput as exc:
                skipped.append((i, exc))
        with self.lock:
            self.table.owners.replace_kind(kind, fresh)
            self.generation += 1
        return skipped

    # ---- binding ---------------------------------------------------------
    def _spec_to_bind(self, uid: str) -> PodInfo | None:
        """The spec a /bind of `uid` counts, or BindError when podsift cannot tell.

        The API server's pending pod (the watch, or the snapshot) when the state
        holds one: it is the pod being bound. Its /filter or /prioritize, if podsift
        saw one, must have carried the same spec, or the decision was made for
        another pod than the one bound (the pod changed, or the watch is behind).
        Otherwise the spec the last /filter or /prioritize carried, provided the one
        before it carried the same: in one scheduling cycle kube-scheduler sends the
        same pod to every verb, so two different specs mean podsift cannot tell
        which one the node was chosen for. kube-scheduler retries a refused bind in
        a new cycle, whose verbs agree again.
        """
        seen = self._seen.get(uid)
        truth = self.pending.get(uid)
        if truth is not None:
            if seen is not None and not same_spec(seen[0], truth):
                raise BindError(
                    f"pod {truth.namespace}/{truth.name}: the spec /filter or /prioritize "
                    "last sent differs from the pending pod podsift holds from the API "
                    "server (changed, or podsift's watch is behind); not binding a pod "
                    "the node was not chosen for"
                )
            return truth
        if seen is None:
            return None
        pod, changed = seen
        if changed:
            raise BindError(
                f"pod {pod.namespace}/{pod.name}: its last two /filter or "
                "/prioritize requests carried different specs, so podsift cannot tell "
                "which one the node was chosen for; filter it again"
            )
        return pod

    def _check_bind(self, uid: str, node_name: str) -> tuple[PodInfo | None, int]:
        """What a bind would commit, or BindError; changes nothing (not even the
        node table's columns: a resource no node has simply does not fit)."""
        pod = self._spec_to_bind(uid)
        if pod is None:
            existing = self.pods.get(uid)
            if existing is not None and existing.node_name == node_name:
                return None, -1
            if existing is not None:  # bound: its /filter's spec is forgotten
                raise BindError(
                    f"pod {existing.namespace}/{existing.name} is already bound to "
                    f"{existing.node_name}"
                )
            raise BindError(
                f"pod UID {uid!r} is neither a pending pod podsift knows nor one seen in "
                "/filter or /prioritize (or it expired); podsift needs its spec to bind it"
            )
        existing = self.pods.get(uid)
        if existing is not None:
            if existing.node_name == node_name:
                return None, -1  # idempotent retry
            raise BindError(
                f"pod {pod.namespace}/{pod.name} is already bound to {existing.node_name}"
            )
        return pod, self._check_room(pod, node_name)

    def _check_room(self, pod: PodInfo, node_name: str) -> int:
        """The node's id if `pod` fits there as NodeResourcesFit and NodePorts judge
        it, else BindError; changes nothing."""
        nid = self.table.id_of.get(node_name)
        if nid is None:
            raise BindError(f"node {node_name!r} is not known to podsift")
        short = self.table.fits(nid, tuple(sorted(pod.requests.items())), self.bind_ignores)
        if short:
            raise BindError(
                f"pod {pod.namespace}/{pod.name} no longer fits on {node_name}: {short}"
            )
        if pod.host_ports and self.table.port_conflict_at(nid, pod.host_ports):
            raise BindError(
                f"pod {pod.namespace}/{pod.name} no longer fits on {node_name}: host port in use"
            )
        return nid

    def bind(
        self, uid: str, node_name: str, assumed: bool = False, recheck: bool = True
    ) -> PodInfo | None:
        """Commit a remembered pod to a node; BindError and no change if it cannot.

        Returns the pod, or None when the pod is already bound there (a retry).
        `recheck=False` skips `bind_recheck`, for a caller that filtered the pod
        under this same hold of the lock (nothing can have changed since).
        """
        with self.lock:
            pod, nid = self._check_bind(uid, node_name)
            if pod is None:
                return None
            if recheck and self.bind_recheck is not None:
                reason = self.bind_recheck(pod, StateView(self.table, np.array([nid], np.int64)))
                if reason:
                    raise BindError(
                        f"pod {pod.namespace}/{pod.name} no longer fits on {node_name}: {reason}"
                    )
            rec = self._record(pod, node_name)
            rec.assumed = assumed
            self._put(rec)
            if not assumed:  # committed here; an assumed bind waits for the watch to say so
                self._unpend(uid)
                # the record holds what the pod uses now: its /filter's spec is not
                # needed again (a retried /bind finds the record), and keeping it for
                # its 10 minutes held 256 MiB at 13,000 binds a minute
                self._seen.discard(uid)
            return pod

    def bind_chosen(self, pod: PodInfo, nid: int, room_checked: bool) -> None:
        """Commit `pod` to the node `nid` an engine pass chose for it under this same
        hold of the lock (the in-process `schedule_one`): the state `remember(pod)` then
        `bind(pod.uid, node, recheck=False)` leave, or their BindError, without the
        round trip through the remembered pods. `room_checked` says the pass's filters
        asked the state's own questions (NodeResourcesFit with `bind_ignores`, and
        NodePorts), so the room is not judged a second time.

        Why: in-process, the pod is parsed, filtered, scored and bound in one lock hold,
        and the remembered-pods entry, its spec comparison and the room re-check were
        about a quarter of the bind's cost (docs/PERFORMANCE.md, "One pass a pod"). A pod
        the state knows in any way (bound, pending, remembered, or without a UID) takes
        the general path, which decides which spec is bound or why it is refused."""
        with self.lock:
            uid = pod.uid
            if (
                not uid
                or uid in self.pods
                or uid in self.pending
                or self._seen.get(uid) is not None
            ):
                self.remember(pod)
                self.bind(uid, self.table.names_arr[nid], recheck=False)
                return
            table = self.table
            node_name = table.names_arr[nid]
            if not room_checked:
                try:
                    self._check_room(pod, node_name)
                except BindError:
                    self.remember(pod)  # refused: kept for a /bind, as remember() keeps it
                    raise
            rec = PodRecord(uid, pod.namespace, pod.name, node_name, self._shared_parts(pod))
            self.pods[uid] = rec
            self.by_node.add(rec)
            self._attach_at(rec, nid)

    def bind_parsed(self, pod: PodInfo, node_name: str) -> None:
        """Commit a parsed pod the caller holds to a node: the checks and the commit of
        `bind`, without the round trip through the remembered pods (the planner's
        copies, tens of thousands in one plan). BindError and no change if it cannot.
        Not `bind_recheck`: a plan places one pod at a time, so nothing binds between
        its filter and its bind."""
        with self.lock:
            existing = self.pods.get(pod.uid)
            if existing is not None:
                raise BindError(
                    f"pod {pod.namespace}/{pod.name} is already bound to {existing.node_name}"
                )
            self._check_room(pod, node_name)
            self._put(self._record(pod, node_name))
            self._unpend(pod.uid)

    def bind_alike(self, pod: PodInfo, identities: list[tuple[str, str]], node_name: str) -> int:
        """Bind copies of a parsed pod, each with its own (uid, name) from `identities`,
        to a node, in order, while `bind_parsed` would take them; returns how many
        were bound (the caller's `bind_parsed` of the next says why it stopped).

        The state after is the one those `bind_parsed` calls leave, but the room is
        judged once (`NodeTable.room_count`) and the copies are counted on the node
        at once (the planner's fit binds tens of thousands). A pod with host ports
        binds none here: one copy at most fits, and `bind_parsed` judges it."""
        with self.lock:
            nid = self.table.id_of.get(node_name)
            if nid is None or pod.host_ports or not identities:
                return 0
            requests = tuple(sorted(pod.requests.items()))
            room = self.table.room_count(nid, requests, self.bind_ignores, len(identities))
            if not room:
                return 0
            proto = self._record(pod, node_name)
            records: dict[str, PodRecord] = {}
            for uid, name in identities[:room]:
                if uid in self.pods or uid in records:
                    break  # bind_parsed refuses: already bound
                records[uid] = record_copy(proto, uid, name, node_name)
            if not records:
                return 0
            for uid, rec in records.items():
                self.pods[uid] = rec
                self.by_node.add(rec)
                rec.attached = True
                if self.pending:
                    self._unpend(uid)
            attach_alike(self.table, proto, nid, len(records))
            self.generation += len(records)
            self._gc.note(len(records))
            return len(records)

    def assume(self, uid: str, node_name: str) -> None:
        """Count a pod on a node before the API server confirms the binding."""
        self.bind(uid, node_name, assumed=True)

    def forget(self, uid: str) -> None:
        """Drop an assumption that was not confirmed (bind failed or timed out)."""
        with self.lock:
            rec = self.pods.get(uid)
            if rec is not None and rec.assumed:
                self._drop(uid)

    def is_assumed(self, uid: str) -> bool:
        with self.lock:
            rec = self.pods.get(uid)
            return rec is not None and rec.assumed

    # ---- reading ---------------------------------------------------------
    def resolve(self, names: Sequence[str]) -> tuple[Any, list[int] | None, list[str], bool]:
        """Map node names to ids: (ids, positions known, unknown names, ids are 0..n-1).

        Call with the lock held. The last few name lists are cached: the
        scheduler often sends the same list again.
        """
        table = self.table
        last = self._last_names
        if (
            last is not None
            and last[0] is table
            and last[1] == table.version
            and (
                names is last[2]  # the wire decoder's tuple for the same bytes
                or (len(names) == len(last[2]) and names == last[2])
            )
        ):
            return last[3]
        primed = self._primed
        if (
            primed is not None
            and names is primed[2]
            and primed[0] is table
            and primed[1] == table.version
        ):
            return primed[3]
        key = names if names.__class__ is tuple else tuple(names)
        cache = self._resolve_cache
        hit = cache.get(key)
        if hit is not None:
            self._remember_names(names, hit)
            return hit
        id_of = self.table.id_of
        try:  # the common case, every name known: one C-level pass
            ids = np.fromiter(map(id_of.__getitem__, names), np.int64, len(names))
            known, unknown = None, []
        except KeyError:
            raw = [id_of.get(n, -1) for n in names]
            known = [i for i, v in enumerate(raw) if v >= 0]
            unknown = [names[i] for i, v in enumerate(raw) if v < 0]
            ids = np.fromiter((raw[i] for i in known), np.int64, len(known))
        result = (ids, known, unknown, _contiguous(ids))
        # known names are the table's own strings: 8 bytes in the key, 8 in the ids
        size = 16 * len(names) + sum(map(len, unknown)) + 256
        cache.put(key, result, size)
        self._remember_names(names, result)
        return result

    def prime_names(self, names: tuple[str, ...], ids: np.ndarray) -> None:
        """Cache `names` as resolving to `ids` (every name known, the table's own
        strings): what /filter answers and kube-scheduler sends /prioritize next.
        Call with the lock held."""
        # a slot of its own: one a pod would push the scheduler's whole list out of the
        # few kept in `_resolve_cache`
        result = (ids, None, [], _contiguous(ids))
        self._primed = (self.table, self.table.version, names, result)

    def _remember_names(self, names: Sequence[str], result: tuple) -> None:
        """Keep `names` as the last list resolved when every name was known: all are
        then the table's own strings, so a list equal to it is the same names."""
        if not result[2]:  # a list is copied: the caller may change it after
            kept = names if names.__class__ is tuple else list(names)
            self._last_names = (self.table, self.table.version, kept, result)

    def view(self, names: Sequence[str]) -> tuple[StateView, list[int] | None, list[str]]:
        """A NodeView of the known names; (view, their positions or None if all, unknown)."""
        ids, known, unknown, contiguous = self.resolve(names)
        return StateView(self.table, ids, contiguous), known, unknown

    def prepare_objects(self, nodes: list[Any]) -> Prepared:
        """Call WITHOUT the lock, before `view_of_objects(nodes, prepared)`: the
        objects' identities and the parse of those not cached, so the lock is held
        only for what needs it (InvalidInput names the first malformed item)."""
        return self.node_objects.prepare(nodes, "Nodes.items")

    def view_of_objects(
        self, nodes: list[Any], prepared: Prepared | None = None
    ) -> tuple[ObjectsView, list[int] | None, list[str]]:
        """A NodeView of full Node objects (authoritative for their own fields).

        Call with the lock held. Each object is parsed once per identity and kept
        as a row of `self.node_objects` (cache/nodeobjects.py), bounded to a few
        times the cluster's node count; InvalidInput names a malformed item.
        `prepared` (from `prepare_objects`, outside the lock) spares the parsing."""
        limit = max(OBJECT_ROWS_MIN, OBJECT_ROWS_PER_NODE * len(self.table))
        if (
            self.node_objects.parsed > OBJECT_ROWS_RENEW * limit
            or self.node_objects.parsed_bytes > OBJECT_ROWS_RENEW * OBJECT_ROWS_BYTES
        ):
            # the store's append-only indexes (label values, taint sets) have seen
            # many rows come and go: start afresh rather than let them grow
            self.node_objects = NodeObjects()
        objects = self.node_objects
        parsed = objects.parsed
        try:
            rows = objects.rows_of(nodes, "Nodes.items", limit, OBJECT_ROWS_BYTES, prepared)
        finally:
            self._gc.note(objects.parsed - parsed)  # rows are long-lived, like pod records
        names = objects.names[rows].tolist()
        ids, known, unknown, _ = self.resolve(names)
        if known is not None:
            rows = rows[known]
        return ObjectsView(self.table, ids, objects, rows), known, unknown

    def truth(self) -> dict:
        """Plain summary of the cache, for comparing with an API server's truth."""
        with self.lock:
            t = self.table
            nodes = {}
            for name, nid in t.id_of.items():
                nodes[name] = {
                    r: int(t.req[c][nid]) for c, r in enumerate(t.resources) if t.req[c][nid]
                }
            return {"nodes": nodes, "pods": {u: r.node_name for u, r in self.pods.items()}}

    def load_file(self, path: str) -> Loaded:
        """Load a snapshot file: a `List` in JSON or YAML.

        A JSON List is decoded item by item (`ListItems`): decoded whole, 150,000 pods
        left the process 1.3 GB large for 75 MB of state (docs/PERFORMANCE.md, "A
        snapshot, item by item"). A document that reader cannot take exactly as
        orjson would (YAML, malformed JSON, no items array) is decoded whole, as
        before, and its errors are that path's."""
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:4096].lstrip().startswith(b"{"):
            try:
                return self.load_items(ListItems(raw))
            except NotStreamable:
                pass  # decoded whole below; nothing was changed
        try:
            doc = decode_json_or_yaml(raw, path)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
            raise InvalidInput(f"{path}: must be a Kubernetes List with an items array")
        return self.load_items(doc["items"])
