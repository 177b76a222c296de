"""The WSGI application: a fast dispatcher for the extender verbs, Flask for the rest.

The verbs are the hot path (kube-scheduler calls them for every pod), so they
are routed by one dict lookup on PATH_INFO, without Flask's request objects
(~0.3 ms a request on this machine). Everything else (health, readiness,
metrics, the OpenAPI document) goes to a small Flask app.

Errors, by verb (see README "Errors"):
- a body that is not JSON, or not a JSON object: HTTP 400 `{"Error": ...}`;
- a body over the size limit: HTTP 413; a verb path with a method other than POST: 405;
- an invalid Pod, node list or binding inside a well-formed body: `/filter` and `/bind`
  answer 200 with the message in their result's `Error` field (kube-scheduler logs that
  text; for a non-200 it logs only the status code); `/prioritize`, `/preempt` and
  `/explain`, whose results have no `Error` field, answer 400 `{"Error": ...}`;
- before the cluster cache is synced (`/readyz` 503): `/filter` and `/bind` answer 200
  with `Error` saying why, the others 503 `{"Error": ...}` with `Retry-After`, so
  kube-scheduler retries the pod instead of preempting on a cache that knows nothing.
Nothing on an error path changes the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson
from flask import Flask, Response
from werkzeug.exceptions import MethodNotAllowed

from extender.model.errors import InvalidInput, PolicyError
from extender.wire import metrics
from extender.wire.service import Service

log = logging.getLogger("podsift.app")

# Sized for node names (nodeCacheCapable: true, the shipped manifests): a 5,000-node
# request is ~150 KB, a pod at most ~1.5 MB (etcd's object limit). Decoding JSON takes
# up to ~30x its size in memory, so the limit bounds the worker's high-water mark.
# Full Node objects are ~9 KB a node: 5,000 nodes need --max-body of ~48 MiB.
DEFAULT_MAX_BODY = 8 * 1024 * 1024
_RAISE_HINT = (
    "; full Node objects (nodeCacheCapable: false) take ~9 KB a node: raise --max-body"
)
# Seconds a client should wait before asking again while podsift is not synced.
NOT_READY_RETRY_AFTER = "1"


def _error_body(message: str) -> bytes:
    return orjson.dumps({"Error": message})


def _filter_error(message: str) -> bytes:
    return orjson.dumps(
        {
            "Nodes": None,
            "NodeNames": None,
            "FailedNodes": {},
            "FailedAndUnresolvableNodes": {},
            "Error": message,
        }
    )


class ExtenderApp:
    """WSGI callable: verbs first, then the Flask app for every other path."""

    def __init__(
        self,
        service: Service,
        *,
        path_prefix: str = "",
        max_body: int = DEFAULT_MAX_BODY,
        readiness_notes: Callable[[], list[str]] | None = None,
    ) -> None:
        self.service = service
        self.max_body = max_body
        prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.prefix = prefix
        self.state = service.state  # its `ready` is read once per verb request
        # path -> (verb, handler(args) -> (body, outcome),
        #          error encoder for content errors or None for 400)
        self.verbs: dict[
            str, tuple[str, Callable[[Any], tuple[bytes, str]], Callable[[str], bytes] | None]
        ] = {
            prefix + "/filter": ("filter", self._filter, _filter_error),
            prefix + "/prioritize": ("prioritize", self._prioritize, None),
            prefix + "/bind": ("bind", self._bind, _error_body),
            prefix + "/preempt": ("preempt", self._preempt, None),
            prefix + "/explain": ("explain", self._explain, None),
        }
        self.flask = build_flask_app(service, readiness_notes)
        # Paths whose handler waits on the network. The worker runs a small plain
        # request in its poller thread, where such a wait would hold up every other
        # connection; these it hands to a thread (wire/worker.py).
        self.waits_on_io: frozenset[str] = (
            frozenset({prefix + "/bind"}) if service.binder.waits_on_io else frozenset()
        )

    # ---- verb handlers: decoded args in, (encoded answer, outcome) out -----
    def _filter(self, args: Any) -> tuple[bytes, str]:
        return self.service.filter_encoded(args), "ok"

    def _prioritize(self, args: Any) -> tuple[bytes, str]:
        return self.service.prioritize_encoded(args), "ok"

    def _bind(self, args: Any) -> tuple[bytes, str]:
        result = self.service.bind(args)
        if result["Error"]:  # refused (no longer fits, API conflict): not a success
            metrics.observe_bind("error")
            return orjson.dumps(result), "rejected"
        metrics.observe_bind("ok")
        return orjson.dumps(result), "ok"

    def _preempt(self, args: Any) -> tuple[bytes, str]:
        return orjson.dumps(self.service.preempt(args)), "ok"

    def _explain(self, args: Any) -> tuple[bytes, str]:
        return orjson.dumps(self.service.explain(args)), "ok"

    # ---- WSGI --------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> Any:
        route = self.verbs.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.flask(environ, start_response)
        verb, handler, content_error = route
        start = time.perf_counter()
        status, body, outcome = self._dispatch(environ, handler, content_error)
        metrics.observe_request(verb, outcome, time.perf_counter() - start)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if status.startswith("405"):
            headers.append(("Allow", "POST"))
        elif status.startswith("503"):
            headers.append(("Retry-After", NOT_READY_RETRY_AFTER))
        start_response(status, headers)
        return [body]

    @staticmethod
    def _discard(stream: Any, length: int, cap: int = 256 * 1024 * 1024) -> None:
        """Read and drop a refused body, so closing the connection does not reset it
        (a TCP reset would discard the 413 answer before the client reads it)."""
        left = min(length, cap)
        while left > 0:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)

    def _dispatch(self, environ: dict, handler, content_error) -> tuple[str, bytes, str]:
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 Method Not Allowed", _error_body("use POST for extender verbs"), "error"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return "400 Bad Request", _error_body("invalid Content-Length"), "bad_request"
        if length > self.max_body:
            self._discard(environ["wsgi.input"], length)
            return (
                "413 Request Entity Too Large",
                _error_body(
                    f"request body of {length} bytes exceeds the limit of {self.max_body}"
                    + _RAISE_HINT
                ),
                "bad_request",
            )
        stream = environ["wsgi.input"]
        if length:
            body = stream.read(length)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = stream.read(self.max_body + 1)  # no Content-Length: read to the limit
            if len(body) > self.max_body:
                self._discard(stream, 1 << 62)
                message = f"request body exceeds the limit of {self.max_body} bytes" + _RAISE_HINT
                return "413 Request Entity Too Large", _error_body(message), "bad_request"
        else:
            body = b""
        if not self.state.ready:  # the body is read either way: the connection stays usable
            return self._not_ready(content_error)
        try:
            args = self.service.decoder.decode(body)
        except InvalidInput as exc:
            return "400 Bad Request", _error_body(str(exc)), "bad_request"
        del body  # the decoded objects are what the handler reads: free the bytes now
        if not isinstance(args, dict):
            message = f"request body must be a JSON object, got {type(args).__name__}"
            return "400 Bad Request", _error_body(message), "bad_request"
        try:
            answer, outcome = handler(args)
            return "200 OK", answer, outcome
        except InvalidInput as exc:
            if content_error is not None:
                return "200 OK", content_error(str(exc)), "bad_request"
            return "400 Bad Request", _error_body(str(exc)), "bad_request"
        except PolicyError as exc:  # a plugin broke its interface: its message says how
            log.error("%s", exc)
            body = content_error(str(exc)) if content_error is not None else _error_body(str(exc))
            return "500 Internal Server Error", body, "error"
        except Exception as exc:  # a bug: answer with a message, keep serving, log the traceback
            log.exception("internal error while serving a request")
            msg = f"internal error: {type(exc).__name__}: {exc}"
            body = content_error(msg) if content_error is not None else _error_body(msg)
            return "500 Internal Server Error", body, "error"

    def _not_ready(self, content_error) -> tuple[str, bytes, str]:
        """Refuse a verb before the cache is synced: an answer from an empty or stale
        cache (every node "not found") would let kube-scheduler preempt for nothing."""
        reason = self.state.ready_reason or "not ready"
        message = f"podsift is not synced with the cluster yet: {reason}"
        if content_error is not None:  # /filter, /bind: kube-scheduler logs the Error text
            return "200 OK", content_error(message), "not_ready"
        return "503 Service Unavailable", _error_body(message), "not_ready"


def build_flask_app(
    service: Service, readiness_notes: Callable[[], list[str]] | None = None
) -> Flask:
    """Health, readiness, metrics and the OpenAPI document. `readiness_notes` adds
    lines to /readyz's answer (a restarted worker's losses, a vanished snapshot):
    they say what is served without changing whether it is served."""
    app = Flask("podsift")
    # GET (and HEAD, which HTTP requires with it) is all these paths answer: an OPTIONS
    # gets the same 405 with Allow as any other method, as on the verbs
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    state = service.state

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b"ok\n", mimetype="text/plain")

    @app.get("/readyz")
    def readyz() -> Response:
        notes = "".join(f"{note}\n" for note in readiness_notes()) if readiness_notes else ""
        if state.ready:
            return Response(f"ready\n{notes}", mimetype="text/plain")
        return Response(
            f"not ready: {state.ready_reason}\n{notes}", status=503, mimetype="text/plain"
        )

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    @app.get("/openapi.json")
    def openapi() -> Response:
        doc = resources.files("extender.wire").joinpath("openapi.json").read_bytes()
        return Response(doc, mimetype="application/json")

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return Response(_error_body("no such endpoint"), status=404, mimetype="application/json")

    @app.errorhandler(405)
    def not_allowed(exc: MethodNotAllowed) -> Response:
        allowed = ", ".join(exc.valid_methods or ())
        response = Response(
            _error_body(f"method not allowed; this path answers {allowed}"),
            status=405,
            mimetype="application/json",
        )
        response.headers["Allow"] = allowed  # RFC 9110: a 405 says which methods work
        return response

    return app
