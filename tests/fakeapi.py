"""A small Kubernetes API server for tests: Nodes and Pods over real HTTP on loopback.

Speaks the parts of the protocol podsift's watcher and binder use: List with
limit/continue (consistent snapshot per paginated list) and resourceVersion;
Watch as a chunked stream of JSON lines from a resourceVersion, with bookmarks,
`timeoutSeconds`, the `status.phase!=...` field selector (a pod leaving the
selector arrives as DELETED, as on a real server), ERROR 410 after compaction;
and the pods/binding subresource (201, 404, 409 on a UID mismatch or an already
bound pod).

Faults are set on the instance and consumed by the next matching request:
`cut_next_watch[kind] = (n, how)` sends n events then half of the next line and
closes (`how` "reset": no terminating chunk; "end": a proper end of stream);
`stall_next_watch[kind] = k` answers k watches with headers and then silence;
`compact()` expires every resourceVersion so far (open watches get ERROR 410);
`gone_as_status = True` answers an expired watch with HTTP 410 instead;
`fail_next_lists = k` answers 500 to k List requests; `bind_status` forces the
Binding answer; `bind_applies = False` answers 201 but never binds (lost write);
`bind_delay` seconds pass before a Binding is answered; `hang_up_next_bindings
= k` reads k Bindings and closes their connections without an answer (nothing
applied); `bind_chunked = True` sends Binding answers chunked. `drop_idle()`
closes every connection not inside a request (a server's idle timeout);
`start(client_ca=...)` asks clients for a certificate signed by that CA.
"""

from __future__ import annotations

import base64
import bisect
import copy
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

TERMINAL = ("Succeeded", "Failed")


def write_kubeconfig(
    path, server_url: str, cluster: dict | None = None, token: str = "s3cret"
) -> str:
    """A kubeconfig at `path` for the server at `server_url` (extra cluster fields
    in `cluster`, a bearer token), as the path's string."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server_url, **(cluster or {})}}],
        "users": [{"name": "me", "user": {"token": token}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "fake", "user": "me"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", **labels) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def make_pod(
    name: str,
    uid: str,
    node: str = "",
    cpu: str = "100m",
    memory: str = "128Mi",
    namespace: str = "default",
    phase: str = "Running",
) -> dict:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "c",
                "image": "nginx:1.25",
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }
        ]
    }
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": spec,
        "status": {"phase": phase if node else "Pending"},
    }


def _selector_matches(obj: dict, selector: str | None) -> bool:
    """Only `status.phase!=X` clauses (what the watcher sends) are understood."""
    if not selector:
        return True
    phase = (obj.get("status") or {}).get("phase", "")
    for clause in selector.split(","):
        field, _, value = clause.partition("!=")
        if field != "status.phase":
            raise ValueError(f"unsupported field selector {clause!r}")
        if phase == value:
            return False
    return True


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }


KINDS = (
    "nodes",
    "pods",
    "namespaces",
    "services",
    "replicationcontrollers",
    "replicasets",
    "statefulsets",
)
LIST_PATHS = (
    "/api/v1/nodes",
    "/api/v1/pods",
    "/api/v1/namespaces",
    "/api/v1/services",
    "/api/v1/replicationcontrollers",
    "/apis/apps/v1/replicasets",
    "/apis/apps/v1/statefulsets",
)

LIST_KINDS = {
    "nodes": b"NodeList",
    "pods": b"PodList",
    "namespaces": b"NamespaceList",
    "services": b"ServiceList",
    "replicationcontrollers": b"ReplicationControllerList",
    "replicasets": b"ReplicaSetList",
    "statefulsets": b"StatefulSetList",
}


class FakeApiServer:
    """The server state, the faults, and a ThreadingHTTPServer serving them."""

    def __init__(self, bookmark_interval: float | None = None) -> None:
        self.cond = threading.Condition()
        self.rv = 100
        # by name / uid; namespaces (InterPodAffinity) by name, the owner kinds
        # (PodTopologySpread) by namespace/name
        self.objects: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        # per kind: (rv, type, object copy, previous object copy or None)
        self.history: dict[str, list[tuple[int, str, dict, dict | None]]] = {k: [] for k in KINDS}
        self.history_rvs: dict[str, list[int]] = {k: [] for k in KINDS}
        self.compacted_rv = 0
        self.epoch = 0  # bumped by compact(): open watches end with ERROR 410 or a cut
        self.cut_open_streams = False
        self.authorization: list[str | None] = []
        self.bookmark_interval = bookmark_interval
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.cut_next_watch: dict[str, tuple[int, str] | None] = {k: None for k in KINDS}
        self.stall_next_watch: dict[str, int] = {k: 0 for k in KINDS}
        self.gone_as_status = False
        self.fail_next_lists = 0
        self.bind_status: int | None = None
        self.bind_applies = True
        self.bind_delay = 0.0
        self.hang_up_next_bindings = 0
        self.bind_chunked = False
        self.connections = 0  # accepted so far
        self._idle: set[Any] = set()  # handlers waiting for their connection's next request
        self._snapshots: dict[int, tuple[int, list[bytes]]] = {}
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, tls: tuple[str, str] | None = None, client_ca: str | None = None) -> str:
        """Serve on a free loopback port; `tls=(certfile, keyfile)` serves HTTPS,
        asking for a client certificate signed by `client_ca` when given."""
        server = self

        class Handler(_Handler):
            api = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            if client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cafile=client_ca)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self._scheme = "https"
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def drop_idle(self) -> int:
        """Close every kept-alive connection waiting for its next request, as a
        server's idle timeout does; how many."""
        with self.cond:
            idle, self._idle = list(self._idle), set()
        for handler in idle:
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(idle)

    def stop(self) -> None:
        self._stopping.set()
        with self.cond:
            self.cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- mutations (each one resourceVersion, recorded for watches) --------------------

    def _record(self, kind: str, etype: str, obj: dict, prev: dict | None) -> None:
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        self.history[kind].append((self.rv, etype, copy.deepcopy(obj), prev))
        self.history_rvs[kind].append(self.rv)
        self.cond.notify_all()

    def upsert_node(self, obj: dict) -> None:
        with self.cond:
            obj = copy.deepcopy(obj)
            prev = self.objects["nodes"].get(obj["metadata"]["name"])
            self.objects["nodes"][obj["metadata"]["name"]] = obj
            self._record("nodes", "MODIFIED" if prev else "ADDED", obj, copy.deepcopy(prev))

    def delete_node(self, name: str) -> None:
        with self.cond:
            obj = self.objects["nodes"].pop(name)
            self._record("nodes", "DELETED", obj, copy.deepcopy(obj))

    def upsert_namespace(self, obj: dict) -> None:
        with self.cond:
            obj = copy.deepcopy(obj)
            prev = self.objects["namespaces"].get(obj["metadata"]["name"])
            self.objects["namespaces"][obj["metadata"]["name"]] = obj
            self._record("namespaces", "MODIFIED" if prev else "ADDED", obj, copy.deepcopy(prev))

    def upsert_pod(self, obj: dict) -> None:
        with self.cond:
            obj = copy.deepcopy(obj)
            uid = obj["metadata"]["uid"]
            prev = self.objects["pods"].get(uid)
            self.objects["pods"][uid] = obj
            self._record("pods", "MODIFIED" if prev else "ADDED", obj, copy.deepcopy(prev))

    def update_pod(self, uid: str, mutate) -> None:
        """Apply `mutate(pod_dict)` to a stored pod as one MODIFIED event."""
        with self.cond:
            obj = self.objects["pods"][uid]
            prev = copy.deepcopy(obj)
            mutate(obj)
            self._record("pods", "MODIFIED", obj, prev)

    def upsert_owner(self, kind: str, obj: dict) -> None:
        """A Service, ReplicationController, ReplicaSet or StatefulSet (`kind`: its path
        segment, "services" ...), keyed by namespace/name."""
        with self.cond:
            obj = copy.deepcopy(obj)
            key = f"{obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}"
            prev = self.objects[kind].get(key)
            self.objects[kind][key] = obj
            self._record(kind, "MODIFIED" if prev else "ADDED", obj, copy.deepcopy(prev))

    def delete_owner(self, kind: str, key: str) -> None:
        with self.cond:
            obj = self.objects[kind].pop(key)
            self._record(kind, "DELETED", obj, copy.deepcopy(obj))

    def delete_pod(self, uid: str) -> None:
        with self.cond:
            obj = self.objects["pods"].pop(uid)
            self._record("pods", "DELETED", obj, copy.deepcopy(obj))

    def compact(self, open_streams: str = "error") -> None:
        """Forget history: every resourceVersion so far becomes too old (410).

        Open watches get an ERROR 410 event (`open_streams="error"`) or are cut
        without one (`"cut"`), so the client meets the 410 when it reconnects.
        """
        with self.cond:
            self.compacted_rv = self.rv
            self.epoch += 1
            self.cut_open_streams = open_streams == "cut"
            self.history = {k: [] for k in KINDS}
            self.history_rvs = {k: [] for k in KINDS}
            self._snapshots.clear()
            self.cond.notify_all()

    def truth(self) -> dict:
        """What a correct cache must hold: node names; uid -> node of placed live pods."""
        with self.cond:
            pods = {}
            for uid, pod in self.objects["pods"].items():
                node = pod["spec"].get("nodeName")
                if node and pod["status"].get("phase") not in TERMINAL:
                    pods[uid] = node
            return {"nodes": set(self.objects["nodes"]), "pods": pods}

    def count(self, method: str, path: str, **params: str) -> int:
        """Requests seen with this method, path and (a subset of) query parameters."""
        with self.cond:
            return sum(
                1
                for m, p, q in self.requests
                if m == method and p == path and all(q.get(k) == v for k, v in params.items())
            )

    # -- request handling (called from handler threads) --------------------------------

    def handle_list(self, h: _Handler, kind: str, q: dict[str, str]) -> None:
        with self.cond:
            if self.fail_next_lists > 0:
                self.fail_next_lists -= 1
                return h.send_json(500, _status(500, "InternalError", "injected list failure"))
            limit = int(q.get("limit", "0") or 0)
            token = q.get("continue")
            if token:
                try:
                    snap_id, offset = map(int, base64.b64decode(token).decode().split(":"))
                except ValueError:
                    return h.send_json(400, _status(400, "BadRequest", "bad continue token"))
                if snap_id not in self._snapshots:
                    return h.send_json(
                        410, _status(410, "Expired", "The provided continue parameter is too old")
                    )
            else:
                selector = q.get("fieldSelector")
                objs = sorted(
                    self.objects[kind].values(),
                    key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
                )
                items = [orjson.dumps(o) for o in objs if _selector_matches(o, selector)]
                snap_id, offset = len(self._snapshots) + 1000 * self.epoch + 1, 0
                self._snapshots[snap_id] = (self.rv, items)
            list_rv, items = self._snapshots[snap_id]
            end = offset + limit if limit else len(items)
            meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
            if end < len(items):
                meta["continue"] = base64.b64encode(f"{snap_id}:{end}".encode()).decode()
            page = items[offset:end]
        body = (
            b'{"kind":"'
            + LIST_KINDS[kind]
            + b'","apiVersion":"v1","metadata":'
            + orjson.dumps(meta)
            + b',"items":['
            + b",".join(page)
            + b"]}"
        )
        h.send_bytes(200, body)

    def _events_after(self, kind: str, cursor: int, selector: str | None) -> list[bytes]:
        out = []
        start = bisect.bisect_right(self.history_rvs[kind], cursor)
        for _rv, etype, obj, prev in self.history[kind][start:]:
            now_in = etype != "DELETED" and _selector_matches(obj, selector)
            was_in = prev is not None and _selector_matches(prev, selector)
            if etype == "DELETED":
                kind_out = "DELETED" if was_in else None
            elif now_in:
                kind_out = "MODIFIED" if was_in else "ADDED"
            else:
                kind_out = "DELETED" if was_in else None
            if kind_out:
                out.append(orjson.dumps({"type": kind_out, "object": obj}))
        return out

    def handle_watch(self, h: _Handler, kind: str, q: dict[str, str]) -> None:
        selector = q.get("fieldSelector")
        timeout = float(q.get("timeoutSeconds", "30"))
        bookmarks = q.get("allowWatchBookmarks") == "true"
        with self.cond:
            cursor = int(q.get("resourceVersion") or 0)
            epoch = self.epoch
            gone = cursor and cursor < self.compacted_rv
            if gone and self.gone_as_status:
                return h.send_json(410, _status(410, "Expired", "too old resource version"))
            stall = self.stall_next_watch[kind] > 0
            if stall:
                self.stall_next_watch[kind] -= 1
            cut = self.cut_next_watch[kind]
            self.cut_next_watch[kind] = None
        h.start_chunked()
        if gone:
            h.send_chunk(
                orjson.dumps({"type": "ERROR", "object": _status(410, "Expired", "too old")})
                + b"\n"
            )
            return h.end_chunked()
        if stall:
            self._stopping.wait(60)  # the client's read timeout fires long before this
            return h.abort()
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        sent = 0
        while not self._stopping.is_set():
            with self.cond:
                if self.epoch != epoch and self.cut_open_streams:
                    return h.abort()
                if self.epoch != epoch:
                    events = [
                        orjson.dumps({"type": "ERROR", "object": _status(410, "Expired", "gone")})
                    ]
                    expired = True
                else:
                    events = self._events_after(kind, cursor, selector)
                    expired = False
                    cursor = self.rv
                    if not events:
                        now = time.monotonic()
                        wait = deadline - now
                        if bookmarks and self.bookmark_interval:
                            wait = min(wait, last_bookmark + self.bookmark_interval - now)
                        # re-checked under the lock stop() notifies with: a stop between
                        # the loop's check and this wait would otherwise sleep to the deadline
                        if wait > 0 and not self._stopping.is_set():
                            self.cond.wait(wait)
                        if time.monotonic() >= deadline:
                            break
                        if (
                            bookmarks
                            and self.bookmark_interval
                            and (time.monotonic() - last_bookmark >= self.bookmark_interval)
                        ):
                            last_bookmark = time.monotonic()
                            events = self._events_after(kind, cursor, selector)
                            cursor = self.rv
                            bookmark = {
                                "type": "BOOKMARK",
                                "object": {
                                    "kind": "Pod" if kind == "pods" else "Node",
                                    "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(cursor)},
                                },
                            }
                            events.append(orjson.dumps(bookmark))
            for line in events:
                if cut is not None and sent == cut[0]:
                    h.send_chunk(line[: len(line) // 2])
                    return h.end_chunked() if cut[1] == "end" else h.abort()
                try:
                    h.send_chunk(line + b"\n")
                except OSError:
                    return None
                sent += 1
            if expired:
                break
        if self._stopping.is_set():
            return h.abort()  # a server going away cuts its streams, it does not end them
        try:
            h.end_chunked()
        except OSError:
            pass

    def handle_binding(self, h: _Handler, namespace: str, name: str, body: bytes) -> None:
        binding = orjson.loads(body)
        target = binding["target"]["name"]
        want_uid = (binding.get("metadata") or {}).get("uid")
        if self.bind_delay:
            time.sleep(self.bind_delay)
        with self.cond:
            if self.hang_up_next_bindings > 0:
                self.hang_up_next_bindings -= 1
                return h.abort()
        send = h.send_json_chunked if self.bind_chunked else h.send_json
        with self.cond:
            if self.bind_status is not None:
                code = self.bind_status
                reasons = {409: "Conflict", 422: "Invalid", 500: "InternalError"}
                return send(
                    code, _status(code, reasons.get(code, "Error"), "injected binding failure")
                )
            pod = next(
                (
                    p
                    for p in self.objects["pods"].values()
                    if p["metadata"]["namespace"] == namespace and p["metadata"]["name"] == name
                ),
                None,
            )
            if pod is None:
                return send(404, _status(404, "NotFound", f'pods "{name}" not found'))
            if want_uid and want_uid != pod["metadata"]["uid"]:
                return send(
                    409,
                    _status(
                        409, "Conflict", f"Precondition failed: UID in precondition: {want_uid}"
                    ),
                )
            if pod["spec"].get("nodeName"):
                msg = f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"'
                return send(409, _status(409, "Conflict", msg))
            if self.bind_applies:

                def place(p: dict) -> None:
                    p["spec"]["nodeName"] = target
                    p["status"]["phase"] = "Pending"

                self.update_pod(pod["metadata"]["uid"], place)
        send(201, _status(201, "", ""))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients cutting connections is what these tests do


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
        pass

    def setup(self) -> None:
        super().setup()
        with self.api.cond:
            self.api.connections += 1

    def handle_one_request(self) -> None:
        # idle (for drop_idle) until the next request's first line has arrived
        with self.api.cond:
            self.api._idle.add(self)
        try:
            self.rfile.peek(1)
        except (OSError, ValueError):
            pass
        with self.api.cond:
            self.api._idle.discard(self)
        super().handle_one_request()

    def _route(self, method: str) -> None:
        if self.api._stopping.is_set():
            # a stopped server answers nothing, even on a kept-alive connection whose
            # handler thread outlives the listening socket: a clean answer here would
            # look to a client like a healthy server
            return self.abort()
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.api.cond:
            self.api.requests.append((method, parts.path, q))
            self.api.authorization.append(self.headers.get("Authorization"))
        segs = parts.path.strip("/").split("/")
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if method == "GET" and parts.path in LIST_PATHS:
            kind = segs[-1]
            if q.get("watch") in ("1", "true"):
                return self.api.handle_watch(self, kind, q)
            return self.api.handle_list(self, kind, q)
        if (
            method == "POST"
            and len(segs) == 7
            and segs[:3] == ["api", "v1", "namespaces"]
            and segs[4] == "pods"
            and segs[6] == "binding"
        ):
            return self.api.handle_binding(self, segs[3], segs[5], body)
        self.send_json(404, _status(404, "NotFound", f"no route {method} {parts.path}"))

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    # -- writing helpers ---------------------------------------------------------------

    def send_bytes(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code: int, doc: dict) -> None:
        self.send_bytes(code, orjson.dumps(doc))

    def send_json_chunked(self, code: int, doc: dict) -> None:
        """A JSON answer in chunked encoding, a few bytes a chunk (with an extension)."""
        body = orjson.dumps(doc)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 7):
            piece = body[start : start + 7]
            self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        self.wfile.flush()

    def start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def abort(self) -> None:
        """Drop the connection without ending the chunked body (a cut connection)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
