"""The extender verbs over decoded JSON: validation, locking, engine calls.

This layer knows the wire shapes (as Python objects) but not HTTP; the WSGI
app and the in-process benchmark both call it, so they run the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import orjson

from extender.cache.nodeobjects import Prepared
from extender.cache.podindex import PodRecord
from extender.cache.state import ClusterState
from extender.cache.view import NodeView
from extender.cache.whatif import WhatIfView
from extender.engine.engine import Engine
from extender.engine.verdicts import FilterVerdicts
from extender.model.errors import BindError, InvalidInput
from extender.model.fields import as_integer
from extender.model.limits import check_schedulable_size
from extender.model.pod import PodInfo, parse_pod
from extender.wire import protocol

UNKNOWN_NODE_REASON = "node(s) not found in podsift's cache (it may be behind the API server)"


class Binder(Protocol):
    #: Whether `bind` waits on the network (the API server): the worker then runs
    #: /bind on a thread, never in its poller (ExtenderApp.waits_on_io).
    waits_on_io: bool

    def bind(self, uid: str, namespace: str, name: str, node: str) -> None: ...


class SnapshotBinder:
    """Binds in memory: the snapshot mode's source of truth is the state itself."""

    waits_on_io = False

    def __init__(
        self, state: ClusterState, on_bind: Callable[[], None] | None = None
    ) -> None:
        self.state = state
        self.on_bind = on_bind  # counts binds a worker restart would lose (wire.restarts)

    def bind(self, uid: str, namespace: str, name: str, node: str) -> None:
        self.state.bind(uid, node)
        if self.on_bind is not None:
            self.on_bind()


def _object(members: bytes, rest: dict[str, str]) -> dict[str, str] | orjson.Fragment:
    """A failure map: `members` (encoded JSON object members, first) and `rest`."""
    if not members:
        return rest
    if not rest:
        return orjson.Fragment(b"{" + members + b"}")
    return orjson.Fragment(b"{" + members + b"," + orjson.dumps(rest)[1:-1] + b"}")


def _require_dict(args: Any, what: str) -> dict:
    if not isinstance(args, dict):
        raise InvalidInput(
            f"request body must be a JSON object ({what}), got {type(args).__name__}"
        )
    return args


def _string(args: dict, key: str, required: bool = True) -> str:
    value = args.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput("must be a non-empty string", key)
    return value


class Candidates:
    """The nodes of one request, in the order sent."""

    __slots__ = ("view", "known", "unknown", "sent", "objects")

    def __init__(self, view, known, unknown, sent, objects) -> None:
        self.view: NodeView = view
        self.known: list[int] | None = known  # positions of known nodes in `sent`; None = all
        self.unknown: list[str] = unknown
        self.sent: Sequence[str] | None = sent  # NodeNames as sent (names mode)
        self.objects: list[Any] | None = objects  # Node objects as sent (Nodes mode)

    def names_sent(self) -> Sequence[str]:
        """Every node name of the request, in the order sent, known or not."""
        if self.sent is None:
            self.sent = [_node_name(o) for o in self.objects or ()]
        return self.sent


class Service:
    def __init__(self, state: ClusterState, engine: Engine, binder: Binder | None = None) -> None:
        self.state = state
        self.engine = engine
        self.binder = binder or SnapshotBinder(state)
        state.bind_ignores = engine.fit_ignores()  # /bind refuses what /filter refuses
        self._fragments = protocol.HostFragments()
        self.decoder = protocol.RequestDecoder()  # the wire decodes verb bodies with it
        self._verdicts = FilterVerdicts()
        # and what a bind since the pod's /filter may have changed
        self._engine_recheck = engine.bind_recheck()
        state.bind_recheck = self._bind_recheck if self._engine_recheck else None

    def _bind_recheck(self, pod: PodInfo, view: NodeView) -> str:
        """The engine's re-check of the chosen node, unless the pod's /filter passed
        that node at the state's current generation (its answer cannot have changed:
        the usual case when binds are not interleaved). Called by ClusterState.bind
        with the state lock held."""
        if self._verdicts.passed_now(self.state, pod, int(view.ids[0])):
            return ""
        assert self._engine_recheck is not None
        return self._engine_recheck(pod, view)

    # ---- decoding --------------------------------------------------------
    def pod(self, args: dict, remember: bool = True) -> PodInfo:
        """The request's pod, parsed; remembered for /bind unless `remember` is off
        (/explain: an operator's what-if must not change what a bind counts)."""
        raw = args.get("Pod")
        pod = self.decoder.parsed(raw)  # /prioritize sends the Pod /filter sent
        if pod is None:
            if not isinstance(raw, dict):
                raise InvalidInput("is required and must be a v1.Pod object", "Pod")
            try:
                pod = parse_pod(raw)
                check_schedulable_size(pod)
            except InvalidInput as exc:
                raise InvalidInput(str(exc), "Pod") from None
            self.decoder.keep_parsed(raw, pod)
        if remember:
            self.state.remember(pod)
        return pod

    def prepare(self, args: dict) -> Prepared | None:
        """Call WITHOUT the state lock: for a request of full Node objects, their
        identities and the parse of those not cached yet (InvalidInput names a
        malformed one), so parsing changed nodes never holds every other verb up."""
        if args.get("NodeNames") is not None:
            return None
        nodes = args.get("Nodes")
        if not isinstance(nodes, dict) or not isinstance(nodes.get("items"), list):
            return None  # `candidates` says what is wrong
        return self.state.prepare_objects(nodes["items"])

    def candidates(self, args: dict, prepared: Prepared | None = None) -> Candidates:
        """Call with the state lock held (after `prepare`, without it)."""
        names = args.get("NodeNames")
        nodes = args.get("Nodes")
        if names is not None and nodes is not None:
            # kube-scheduler sends one and the other as null; with both, the answer's form
            # and the candidates would be ambiguous
            raise InvalidInput(
                "NodeNames and Nodes are both given; send one (kube-scheduler sends NodeNames "
                "to a nodeCacheCapable extender, Nodes otherwise, and the other as null)"
            )
        if names is not None:
            if not isinstance(names, (list, tuple)):  # a tuple: protocol.RequestDecoder's
                raise InvalidInput("must be a list of node names", "NodeNames")
            try:
                view, known, unknown = self.state.view(names)
            except TypeError:  # an unhashable entry (a list or object)
                raise InvalidInput("must be a list of node names", "NodeNames") from None
            # known names matched the table's string keys; only the rest need a type check
            if unknown and not all(isinstance(n, str) for n in unknown):
                raise InvalidInput("must be a list of node names", "NodeNames")
            return Candidates(view, known, unknown, names, None)
        if nodes is None:
            raise InvalidInput("one of NodeNames or Nodes is required")
        items = nodes.get("items") if isinstance(nodes, dict) else None
        if items is None and isinstance(nodes, dict):
            items = []  # Go decodes a null or absent items as no nodes
        if not isinstance(items, list):
            raise InvalidInput("must be a v1.NodeList with an items array", "Nodes")
        view, known, unknown = self.state.view_of_objects(items, prepared)
        return Candidates(view, known, unknown, None, items)

    # ---- verbs -----------------------------------------------------------
    def filter(self, args: Any) -> dict[str, Any]:
        """The ExtenderFilterResult."""
        return self._filter(args)[0]

    def filter_encoded(self, args: Any) -> bytes:
        """The ExtenderFilterResult as JSON bytes. The NodeNames it answers are what
        kube-scheduler sends /prioritize next: their bytes go to the names cache, as
        the same tuple the state resolves them by (see `_filter`)."""
        answer, primed = self._filter(args, encoded=True)
        if primed is not None:
            names = orjson.dumps(primed)
            self.decoder.add(names, primed)
            answer["NodeNames"] = orjson.Fragment(names)  # encoded once, not twice
        return orjson.dumps(answer)

    def _filter(
        self, args: Any, encoded: bool = False
    ) -> tuple[dict[str, Any], tuple[str, ...] | None]:
        """(the answer, the passed names as primed in the state's name cache, if they were).

        With `encoded`, the failure maps may be orjson Fragments (the spec cache's
        failures come encoded): an answer for orjson.dumps, not for reading."""
        args = _require_dict(args, "ExtenderArgs")
        pod = self.pod(args)
        prepared = self.prepare(args)
        with self.state.lock:
            c = self.candidates(args, prepared)
            outcome = self.engine.filter(pod, c.view, encoded=encoded)
            for name in c.unknown:
                outcome.failed[name] = UNKNOWN_NODE_REASON
            failed = _object(outcome.static_failed, outcome.failed)
            unresolvable = _object(outcome.static_unresolvable, outcome.unresolvable)
            if c.objects is None:
                passed = outcome.passed
                passed_ids = primed = None
                if c.known is None and len(passed) == c.view.n:
                    names = c.sent  # every name known and passed: the list as sent
                else:
                    names = c.view.names_array[passed].tolist()
                    # what kube-scheduler sends /prioritize next: resolved already
                    passed_ids = c.view.ids[passed]
                    primed = tuple(names)
                    self.state.prime_names(primed, passed_ids)
                self._verdicts.record(self.state, pod, c.view.ids, passed, passed_ids)
                answer = {
                    "Nodes": None,
                    "NodeNames": names,
                    "FailedNodes": failed,
                    "FailedAndUnresolvableNodes": unresolvable,
                    "Error": "",
                }
                return answer, primed
            positions = outcome.passed.tolist()
            if c.known is not None:
                positions = [c.known[p] for p in positions]
            answer = {
                "Nodes": {"metadata": {}, "items": [c.objects[p] for p in positions]},
                "NodeNames": None,
                "FailedNodes": failed,
                "FailedAndUnresolvableNodes": outcome.unresolvable,
                "Error": "",
            }
            return answer, None

    def prioritize(self, args: Any) -> tuple[list[str], np.ndarray]:
        """(names in the order sent, 0..10 score per name)."""
        args = _require_dict(args, "ExtenderArgs")
        pod = self.pod(args)
        prepared = self.prepare(args)
        with self.state.lock:
            c, scores = self._scores(pod, args, prepared)
            if c.known is None:
                return c.names_sent(), scores  # every name known: in the order sent
        full = np.zeros(len(c.names_sent()), np.int64)
        full[c.known] = scores
        return c.names_sent(), full

    def prioritize_encoded(self, args: Any) -> bytes:
        """The HostPriorityList as JSON bytes, joined from pre-encoded per-node fragments;
        only a node podsift does not know (score 0) is encoded on the spot."""
        args = _require_dict(args, "ExtenderArgs")
        pod = self.pod(args)
        prepared = self.prepare(args)
        with self.state.lock:
            c, scores = self._scores(pod, args, prepared)
            parts = self._fragments.gather(self.state.table, c.view.ids, scores)
        if c.known is not None:
            sent: list[bytes | None] = [None] * len(c.names_sent())
            for pos, part in zip(c.known, parts):
                sent[pos] = part
            parts = [
                protocol.host_fragment(name, 0) if part is None else part
                for name, part in zip(c.names_sent(), sent)
            ]
        return protocol.join_fragments(parts)

    def _scores(
        self, pod: PodInfo, args: dict, prepared: Prepared | None
    ) -> tuple[Candidates, np.ndarray]:
        """The candidates and their 0..10 scores; call with the state lock held."""
        c = self.candidates(args, prepared)
        passed = None
        if c.objects is None:
            passed = self._verdicts.lookup(self.state, pod, c.view.ids)
        return c, self.engine.prioritize(pod, c.view, passed)

    def explain(self, args: Any) -> dict[str, Any]:
        args = _require_dict(args, "ExtenderArgs")
        pod = self.pod(args, remember=False)
        prepared = self.prepare(args)
        with self.state.lock:
            c = self.candidates(args, prepared)
            entries = self.engine.explain(pod, c.view)
        if c.known is None:
            return {"nodes": entries}
        names = c.names_sent()
        out: list[dict[str, Any]] = [
            {
                "name": n,
                "passed": False,
                "filters": {},
                "scores": {},
                "weighted": 0,
                "score": 0,
                "error": UNKNOWN_NODE_REASON,
            }
            for n in names
        ]
        for entry, pos in zip(entries, c.known):
            out[pos] = entry
        return {"nodes": out}

    def bind(self, args: Any) -> dict[str, str]:
        args = _require_dict(args, "ExtenderBindingArgs")
        uid = _string(args, "PodUID")
        node = _string(args, "Node")
        name = _string(args, "PodName", required=False)
        namespace = _string(args, "PodNamespace", required=False)
        try:
            self.binder.bind(uid, namespace, name, node)
        except BindError as exc:
            return {"Error": str(exc)}
        return {"Error": ""}

    def preempt(self, args: Any) -> dict[str, Any]:
        """Keep the candidate nodes where evicting the proposed victims lets the
        pod pass every filter; drop the others (and nodes podsift does not know).

        Every candidate is judged in one engine pass over a what-if view of all
        of them. A kept node's answer is its proposal as sent (victims as UIDs):
        kube-scheduler looks each victim up on that node again, so podsift never
        adds, drops or swaps one. A victim podsift does not count on that node
        frees nothing in its view but is still echoed."""
        args = _require_dict(args, "ExtenderPreemptionArgs")
        proposals = _preemption_proposals(args)
        pod = self.pod(args)
        result: dict[str, Any] = {}
        with self.state.lock:
            id_of = self.state.table.id_of
            by_node = self.state.by_node
            nodes: list[str] = []
            ids: list[int] = []
            victims: list[list[PodRecord]] = []
            for node, (uids, _) in proposals.items():
                nid = id_of.get(node)
                if nid is None:
                    continue
                on_node = by_node.on(node)
                nodes.append(node)
                ids.append(nid)
                victims.append([on_node[u] for u in dict.fromkeys(uids) if u in on_node])
            if not nodes:
                return {"NodeNameToMetaVictims": result}
            view = WhatIfView(self.state.table, np.array(ids, np.int64), victims)
            passed = self.engine.filter(pod, view, reasons=False).passed
        for pos in passed.tolist():
            node = nodes[pos]
            uids, pdb = proposals[node]
            result[node] = {"Pods": [{"UID": u} for u in uids], "NumPDBViolations": pdb}
        return {"NodeNameToMetaVictims": result}


_VICTIM_FORMS = ("NodeNameToMetaVictims", "NodeNameToVictims")
_INT64_MAX = 2**63 - 1


def _preemption_proposals(args: dict) -> dict[str, tuple[list[str], int]]:
    """{node: (victim UIDs, NumPDBViolations)} from ExtenderPreemptionArgs.

    kube-scheduler sends one of the two maps (NodeNameToMetaVictims when the
    extender is nodeCacheCapable, else NodeNameToVictims with full pods) and
    the other as null. Both non-empty would leave a node's victims ambiguous:
    InvalidInput. A node proposed with no victims is left out, since
    kube-scheduler 1.34 rejects an answer that names a node without victims."""
    given = [(key, args[key]) for key in _VICTIM_FORMS if args.get(key) is not None]
    for key, source in given:
        if not isinstance(source, dict):
            raise InvalidInput(
                f"must be an object keyed by node name, got {type(source).__name__}", key
            )
    given = [(key, source) for key, source in given if source]
    if len(given) > 1:
        raise InvalidInput(
            "NodeNameToMetaVictims and NodeNameToVictims are both given; send one "
            "(kube-scheduler sends NodeNameToMetaVictims to a nodeCacheCapable extender, "
            "NodeNameToVictims otherwise)"
        )
    proposals: dict[str, tuple[list[str], int]] = {}
    for key, source in given:
        meta = key == "NodeNameToMetaVictims"
        for node, victims in source.items():
            where = f"{key}.{node}"
            if not isinstance(victims, dict):
                raise InvalidInput(
                    f"must be an object with Pods and NumPDBViolations, got {_json_type(victims)}",
                    where,
                )
            pods = victims.get("Pods")
            if pods is None:
                pods = []
            elif not isinstance(pods, list):
                raise InvalidInput(f"must be a list, got {_json_type(pods)}", f"{where}.Pods")
            uids = [_victim_uid(p, meta, f"{where}.Pods[{i}]") for i, p in enumerate(pods)]
            pdb = _pdb_violations(victims.get("NumPDBViolations"), f"{where}.NumPDBViolations")
            if uids:
                proposals[node] = (uids, pdb)
    return proposals


def _victim_uid(victim: Any, meta: bool, where: str) -> str:
    """The UID of one victim: a MetaPod `{"UID"}` or a v1.Pod's metadata.uid."""
    if meta:
        if not isinstance(victim, dict):
            raise InvalidInput(
                f'must be a MetaPod object {{"UID": "..."}}, got {_json_type(victim)}', where
            )
        uid, where = victim.get("UID"), f"{where}.UID"
    else:
        if not isinstance(victim, dict):
            raise InvalidInput(f"must be a v1.Pod object, got {_json_type(victim)}", where)
        metadata = victim.get("metadata")
        if not isinstance(metadata, dict):
            raise InvalidInput(
                f"must be an object with the pod's uid, got {_json_type(metadata)}",
                f"{where}.metadata",
            )
        uid, where = metadata.get("uid"), f"{where}.metadata.uid"
    if not isinstance(uid, str) or not uid:
        raise InvalidInput(f"must be a non-empty string, got {_json_type(uid)}", where)
    return uid


def _pdb_violations(value: Any, where: str) -> int:
    """NumPDBViolations: a JSON integer in 0..2^63-1 (Go's int64); absent or null is 0."""
    if value is None:
        return 0
    number = as_integer(value)  # not true (a bool is an int in Python); 2.0 is 2
    if number is None:
        raise InvalidInput(f"must be an integer, got {_json_type(value)}", where)
    value = number
    if not 0 <= value <= _INT64_MAX:
        raise InvalidInput(f"must be between 0 and {_INT64_MAX}, got {value}", where)
    return value


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _node_name(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta.get("name", "") if isinstance(meta, dict) else ""
