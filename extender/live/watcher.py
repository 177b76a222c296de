"""Live cluster source: list+watch of Nodes, Pods and Namespaces into ClusterState.

(Namespaces for their labels only, which inter-pod affinity's namespaceSelector
reads; they follow the same path as the other two kinds.)

Informer-style, as client-go's reflector does it:

- one List (paginated with limit/continue) of Nodes and of Pods, applied with
  `state.replace_all` at once, then one Watch per kind from its List's
  resourceVersion with bookmarks; pods use kube-scheduler's own field selector
  so terminal pods never reach us (a pod turning terminal arrives as DELETED);
- the raw watch stream is split into lines and decoded with orjson; each event
  goes straight to `state.apply_*`, whose signature check makes a status-only
  update cost a comparison (counted as skipped);
- 410 Gone (a response or an ERROR event) means our resourceVersion is older
  than the server keeps: relist both kinds (resourceVersion unset, so the read
  is consistent) and replace the cache atomically, so nothing lost or phantom
  survives; a dropped, cut or stalled stream (no byte for `stall_timeout`,
  bookmarks included) reconnects with jittered exponential backoff and
  resumes from the last resourceVersion seen;
- readiness: not ready until both kinds are listed, and not ready while a
  kind is known to be stale (from a failure until the list/watch is back).

A relist bumps a generation number under `_apply_lock`; an event read from a
stream opened under an older generation is never applied and that stream is
closed, so a stale stream cannot undo a fresher List.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from typing import Any

from extender.cache.state import object_name
from extender.live.client import ApiError, KubeApi, WatchStream
from extender.model.errors import PodsiftError

log = logging.getLogger("podsift.watch")

NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
NAMESPACES_PATH = "/api/v1/namespaces"
# kube-scheduler's pod informer (pkg/scheduler/scheduler.go, NewInformerFactory)
# excludes terminal pods with exactly this selector.
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
# PodTopologySpread's default constraints read these owners' selectors (issue 12);
# watched only when a configured policy asks for them (`owners=True`).
OWNER_PATHS = {
    "services": ("Service", "/api/v1/services"),
    "replicationcontrollers": ("ReplicationController", "/api/v1/replicationcontrollers"),
    "replicasets": ("ReplicaSet", "/apis/apps/v1/replicasets"),
    "statefulsets": ("StatefulSet", "/apis/apps/v1/statefulsets"),
}


class Backoff:
    """Jittered exponential backoff: each delay is drawn from [d/2, d], d doubling to `maximum`."""

    def __init__(
        self, initial: float = 0.5, maximum: float = 30.0, rng: random.Random | None = None
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 32)
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0


class _Kind:
    """Per-kind watch bookkeeping; its counters are written by its own thread only."""

    def __init__(
        self, name: str, path: str, field_selector: str | None, owner_kind: str = ""
    ) -> None:
        self.name = name
        self.owner_kind = owner_kind  # "Service" etc. for the owner kinds, else ""
        self.path = path
        self.field_selector = field_selector
        self.resource_version = ""
        self.generation = 0  # generation of the List that resource_version came from
        self.stream: WatchStream | None = None
        self.applied = 0
        self.skipped = 0
        self.bookmarks = 0
        self.invalid = 0
        self.reconnects = 0
        self.watch_starts = 0


class _Gone(Exception):
    """The watch's resourceVersion expired (410): relist."""


class _StreamFault(Exception):
    """The stream failed (ERROR event other than 410, cut mid-event): reconnect."""


class _Listing:
    """A kind's List through limit/continue pages, as an iterable of its items read
    once, a page fetched when the last one's items are used up. `resource_version`
    (the List's) and `count` hold once it is exhausted."""

    def __init__(self, api: KubeApi, kind: _Kind, first_rv: str | None, page_size: int) -> None:
        self.api = api
        self.kind = kind
        self.first_rv = first_rv
        self.page_size = page_size
        self.resource_version = ""
        self.count = 0

    def __iter__(self) -> Iterator[dict]:
        kind = self.kind
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page_size}
            if kind.field_selector:
                params["fieldSelector"] = kind.field_selector
            if token:
                params["continue"] = token
            elif self.first_rv is not None:
                params["resourceVersion"] = self.first_rv
            page = self.api.list(kind.path, params)
            items = page.get("items") or ()
            for item in items:
                meta = item.get("metadata")
                if isinstance(meta, dict):
                    meta.pop("managedFields", None)  # the bulk of an object, never needed
                self.count += 1
                yield item
            meta = page.get("metadata") or {}
            del page, items  # not alive while the next page is decoded
            token = meta.get("continue") or None
            if not token:
                self.resource_version = str(meta.get("resourceVersion") or "")
                return


class ClusterWatcher:
    """Keeps a ClusterState in step with an API server (see the module docstring)."""

    def __init__(
        self,
        state: Any,
        api: KubeApi,
        *,
        page_size: int = 500,
        timeout_seconds: int = 300,
        stall_timeout: float = 120.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        list_from_cache: bool = True,
        rng: random.Random | None = None,
        owners: bool = False,
    ) -> None:
        """`timeout_seconds` is the server-side watch timeout, jittered up to 2x per watch
        (as client-go does, so replicas do not reconnect in lockstep). `list_from_cache`
        sends resourceVersion=0 on the first List so the API server answers from its
        watch cache rather than etcd (many replicas restarting at once stay cheap).
        `owners` also lists and watches Services, ReplicationControllers, ReplicaSets
        and StatefulSets (PodTopologySpread's default constraints need their selectors)."""
        self.state = state
        self.api = api
        self.page_size = page_size
        self.timeout_seconds = timeout_seconds
        self.stall_timeout = stall_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.list_from_cache = list_from_cache
        self._rng = rng or random.Random()
        self._kinds = {
            "nodes": _Kind("nodes", NODES_PATH, None),
            "pods": _Kind("pods", PODS_PATH, POD_FIELD_SELECTOR),
            "namespaces": _Kind("namespaces", NAMESPACES_PATH, None),
        }
        if owners:
            for name, (owner_kind, path) in OWNER_PATHS.items():
                self._kinds[name] = _Kind(name, path, None, owner_kind)
        self._apply_lock = threading.Lock()  # events vs. relist replacement
        self._relist_lock = threading.Lock()  # one relist at a time
        self._generation = 0  # 0: never listed
        self._need_consistent_list = False  # after 410: list without resourceVersion
        self._stale: dict[str, str] = {"sync": "initial list of nodes and pods pending"}
        self._ready_lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._threads: list[threading.Thread] = []
        self.relists = 0
        self.relist_failures = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start one daemon thread per kind; the first to run does the initial List."""
        self._publish_ready()
        for kind in self._kinds.values():
            t = threading.Thread(
                target=self._run, args=(kind,), name=f"podsift-watch-{kind.name}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads, closing open streams so blocked reads return at once."""
        self._stop.set()
        for kind in self._kinds.values():
            stream = kind.stream
            if stream is not None:
                stream.close()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Block until the initial List has been applied (True) or `timeout` passes."""
        return self._synced.wait(timeout)

    def stats(self) -> dict[str, int]:
        """Plain counters for the metrics module (read at scrape time)."""
        nodes, pods = self._kinds["nodes"], self._kinds["pods"]
        kinds = self._kinds.values()
        return {
            "events_applied": sum(k.applied for k in kinds),
            "events_skipped": sum(k.skipped for k in kinds),
            "events_applied_nodes": nodes.applied,
            "events_applied_pods": pods.applied,
            "events_skipped_nodes": nodes.skipped,
            "events_skipped_pods": pods.skipped,
            "events_applied_namespaces": self._kinds["namespaces"].applied,
            "events_invalid": sum(k.invalid for k in kinds),
            "bookmarks": sum(k.bookmarks for k in kinds),
            "relists": self.relists,
            "relist_failures": self.relist_failures,
            "reconnects": sum(k.reconnects for k in kinds),
            "watch_starts": sum(k.watch_starts for k in kinds),
            "synced": int(self._synced.is_set()),
            "stale": int(bool(self._stale)),
        }

    # -- readiness -------------------------------------------------------------------

    def _mark_stale(self, key: str, reason: str) -> None:
        with self._ready_lock:
            if self._stale.get(key) == reason:
                return
            self._stale[key] = reason
            self._publish_ready_locked()

    def _mark_fresh(self, key: str) -> None:
        with self._ready_lock:
            if key not in self._stale:
                return
            del self._stale[key]
            self._publish_ready_locked()

    def _publish_ready(self) -> None:
        with self._ready_lock:
            self._publish_ready_locked()

    def _publish_ready_locked(self) -> None:
        if self._stale:
            self.state.set_ready(False, "; ".join(self._stale[k] for k in sorted(self._stale)))
        else:
            self.state.set_ready(True)

    # -- the per-kind loop -----------------------------------------------------------

    def _run(self, kind: _Kind) -> None:
        backoff = Backoff(self.backoff_initial, self.backoff_max, self._rng)
        while not self._stop.is_set():
            try:
                if kind.generation != self._generation or self._generation == 0:
                    if not self._adopt_or_relist(kind, backoff):
                        continue
                self._watch_once(kind, backoff)
            except _Gone:
                log.info("%s watch: resourceVersion expired (410); relisting", kind.name)
                self._mark_stale("sync", "relisting after 410 Gone")
                with self._apply_lock:
                    if kind.generation == self._generation:
                        self._need_consistent_list = True
                        kind.generation = -1  # forces a relist on the next turn
            except Exception as exc:  # noqa: BLE001 - every fault means: reconnect later
                if self._stop.is_set():
                    break
                if kind.generation != self._generation:
                    continue  # a relist closed this stream: adopt the new List, no fault
                kind.reconnects += 1
                self._mark_stale(kind.name, f"{kind.name} watch interrupted: {exc}")
                delay = backoff.next_delay()
                log.warning("%s watch failed (%s); retrying in %.2fs", kind.name, exc, delay)
                self._stop.wait(delay)

    def _adopt_or_relist(self, kind: _Kind, backoff: Backoff) -> bool:
        """Take the resourceVersion of a newer List, or do the List; False to retry."""
        stale_generation = kind.generation
        with self._relist_lock:
            if self._generation != 0 and self._generation != stale_generation:
                if stale_generation != -1 or not self._need_consistent_list:
                    kind.generation = self._generation
                    return True
            try:
                self._relist()
            except ApiError as exc:
                self.relist_failures += 1
                self._mark_stale("sync", f"list failed: {exc}")
                delay = backoff.next_delay()
                log.warning("list failed (%s); retrying in %.2fs", exc, delay)
                self._stop.wait(delay)
                return False
            backoff.reset()
            kind.generation = self._generation
            return True

    def _relist(self) -> None:
        """List nodes, namespaces and owners, then the pods, and replace the cache at once.

        The pods are parsed into the fresh state page by page as they are listed, not
        gathered first: a listing held whole leaves its decoded objects' memory to
        CPython's allocator in arenas the few objects the state keeps from every page
        (a uid, a name) then pin. 150,000 pods listed whole left the process 1.3 GiB
        larger; parsed page by page, 0.19 GiB (docs/PERFORMANCE.md, "A relist, page by
        page"). A page that fails to list fails the relist and changes nothing."""
        consistent = self._need_consistent_list or not self.list_from_cache
        first_rv = None if consistent else "0"
        nodes, nodes_rv = self._list_all(self._kinds["nodes"], first_rv)
        owners = [
            (kind, *self._list_all(kind, first_rv))
            for kind in self._kinds.values()
            if kind.owner_kind
        ]
        namespaces, namespaces_rv = self._list_all(self._kinds["namespaces"], first_rv)
        pods = _Listing(self.api, self._kinds["pods"], first_rv, self.page_size)
        with self._apply_lock:
            try:
                self.state.replace_all(nodes, pods, namespaces=namespaces)
                pods_count, pods_rv = pods.count, pods.resource_version
            except ApiError:
                raise  # a page failed to list: the state is as it was
            except PodsiftError as exc:  # one object we cannot parse must not block the cache
                log.warning("relist has objects podsift cannot parse (%s); leaving them out", exc)
                listed, pods_rv = self._list_all(self._kinds["pods"], first_rv)
                pods_count = len(listed)
                nodes, listed, namespaces = self._parseable(nodes, listed, namespaces)
                self.state.replace_all(nodes, listed, namespaces=namespaces)
            for kind, items, rv in owners:
                for i, exc in self.state.replace_owners(kind.owner_kind, items):
                    kind.invalid += 1
                    log.warning("%s #%d left out of the cache: %s", kind.owner_kind, i, exc)
                kind.resource_version = rv
            self._generation += 1
            self._need_consistent_list = False
            self._kinds["nodes"].resource_version = nodes_rv
            self._kinds["pods"].resource_version = pods_rv
            self._kinds["namespaces"].resource_version = namespaces_rv
            self.relists += 1
            for other in self._kinds.values():
                if other.stream is not None:
                    other.stream.close()  # it belongs to the previous generation
        log.info(
            "listed %d nodes (rv %s), %d pods (rv %s)", len(nodes), nodes_rv, pods_count, pods_rv
        )
        self._synced.set()
        self._mark_fresh("sync")

    def _parseable(
        self, nodes: list[dict], pods: list[dict], namespaces: list[dict]
    ) -> tuple[list[dict], list[dict], list[dict]]:
        """The listed objects the state accepts (tried one by one on a scratch state)."""
        scratch = type(self.state)()
        kept: tuple[list[dict], list[dict], list[dict]] = ([], [], [])
        for items, apply, out, kind in (
            (nodes, scratch.apply_node, kept[0], self._kinds["nodes"]),
            (pods, scratch.apply_pod, kept[1], self._kinds["pods"]),
            (namespaces, scratch.apply_namespace, kept[2], self._kinds["namespaces"]),
        ):
            for i, obj in enumerate(items):
                try:
                    apply(obj)
                except PodsiftError as exc:
                    kind.invalid += 1
                    what = object_name(kind.name[:-1], obj, i)
                    log.warning("%s left out of the cache: %s", what, exc)
                    continue
                out.append(obj)
        return kept

    def _list_all(self, kind: _Kind, first_rv: str | None) -> tuple[list[dict], str]:
        """Every item of a kind through limit/continue pages, and the List's resourceVersion."""
        listing = _Listing(self.api, kind, first_rv, self.page_size)
        return list(listing), listing.resource_version

    def _watch_once(self, kind: _Kind, backoff: Backoff) -> None:
        """Open one watch from the kind's resourceVersion and apply it until it ends."""
        generation = kind.generation
        timeout = int(self.timeout_seconds * (1 + self._rng.random()))
        params: dict[str, Any] = {
            "resourceVersion": kind.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout,
        }
        if kind.field_selector:
            params["fieldSelector"] = kind.field_selector
        try:
            stream = self.api.watch(kind.path, params, read_timeout=self.stall_timeout)
        except ApiError as exc:
            if exc.gone:
                raise _Gone() from exc
            raise
        with self._apply_lock:
            if generation != self._generation or self._stop.is_set():
                stream.close()
                return
            kind.stream = stream
        kind.watch_starts += 1
        self._mark_fresh(kind.name)
        events = 0
        try:
            for event in stream:
                events += 1
                if not self._apply_event(kind, generation, event):
                    return
            if stream.truncated:
                raise _StreamFault("stream ended inside an event")
        finally:
            with self._apply_lock:
                if kind.stream is stream:
                    kind.stream = None
            stream.close()
        if events:
            backoff.reset()
        else:  # a watch that ends at once without news: do not spin
            self._stop.wait(backoff.next_delay())

    def _apply_event(self, kind: _Kind, generation: int, event: dict) -> bool:
        """Apply one decoded event; False when the stream belongs to an old generation."""
        etype = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise _StreamFault(f"watch event without an object: {str(event)[:200]}")
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise _StreamFault(
                f"ERROR event {obj.get('code')} {obj.get('reason', '')}: {obj.get('message', '')}"
            )
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        with self._apply_lock:
            if generation != self._generation:
                return False
            if etype == "BOOKMARK":
                kind.bookmarks += 1
            else:
                try:
                    changed = self._apply_object(kind, etype, obj, meta)
                except PodsiftError as exc:  # the object cannot be understood: skip it
                    kind.invalid += 1
                    what = object_name(kind.name[:-1], obj)
                    log.warning("%s event for %s not applied: %s", etype, what, exc)
                    changed = False
                if changed:
                    kind.applied += 1
                else:
                    kind.skipped += 1
            if rv:
                kind.resource_version = rv
        return True

    def _apply_object(self, kind: _Kind, etype: Any, obj: dict, meta: dict) -> bool:
        state = self.state
        if kind.owner_kind:
            if etype == "DELETED":
                namespace = meta.get("namespace") or "default"
                return state.remove_owner(kind.owner_kind, namespace, meta.get("name", ""))
            if etype in ("ADDED", "MODIFIED"):
                return state.apply_owner({**obj, "kind": kind.owner_kind})
        elif kind.name == "pods":
            if etype == "DELETED":
                return state.remove_pod(meta.get("uid", ""))
            if etype in ("ADDED", "MODIFIED"):
                return state.apply_pod(obj)
        elif kind.name == "namespaces":
            if etype == "DELETED":
                return state.remove_namespace(meta.get("name", ""))
            if etype in ("ADDED", "MODIFIED"):
                return state.apply_namespace(obj)
        else:
            if etype == "DELETED":
                return state.remove_node(meta.get("name", ""))
            if etype in ("ADDED", "MODIFIED"):
                return state.apply_node(obj)
        raise _StreamFault(f"unknown watch event type {etype!r}")
