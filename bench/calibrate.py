"""The calibration endpoint: what HTTP itself costs, with no extender behind it.

A bare WSGI callable, run under the same gunicorn settings as `podsift serve`
(one worker of podsift's class, same thread count, keep-alive 75 s) and driven by the
same client with the same workload. Exactly what it does per request:

- reads the whole body and parses it with orjson (as any extender must);
- `/filter`: answers an ExtenderFilterResult in which every node passes: the
  `NodeNames` it received (or, with full `Nodes`, the `Nodes` it received),
  re-encoded with one orjson.dumps of the small result dict;
- `/prioritize`: answers `[{"Host": name, "Score": 0}, ...]` for the names (or
  Nodes) received. The encoded answer is cached per list of names (a few
  entries), and since this filter passes every node, every prioritize after
  the first sends the same list: in effect a constant of the right shape;
- `/bind`: answers the constant `{"Error":""}`; or, when started with
  `PODSIFT_CALIBRATION_API` (an API server's https URL), with
  `PODSIFT_CALIBRATION_TOKEN` and `PODSIFT_CALIBRATION_CA`, POSTs the pod's
  Binding there first, through podsift's own Binding client
  (`KubeApi.bind`, extender/live/client.py), and answers its error if it fails: the floor of
  an extender configured with `bindVerb`, which must bind (the kube-scheduler
  bench's `calibration-bind` run);
- `GET /readyz`, `/healthz`: 200.

It keeps no cluster state and checks nothing, so its placements mean nothing
and the HTTP bench does not validate them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from extender.live.client import KubeApi
from extender.model.errors import BindError

JSON_HEADERS = [("Content-Type", "application/json")]
BIND_ANSWER = b'{"Error":""}'
_PRIORITY_CACHE: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
_PRIORITY_CACHE_SIZE = 8


def _names(args: dict[str, Any]) -> list[str]:
    names = args.get("NodeNames")
    if names is not None:
        return names
    nodes = args.get("Nodes") or {}
    return [n["metadata"]["name"] for n in nodes.get("items") or []]


def _filter(args: dict[str, Any]) -> bytes:
    result: dict[str, Any] = {
        "Nodes": None,
        "NodeNames": None,
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }
    if args.get("NodeNames") is not None:
        result["NodeNames"] = args["NodeNames"]
    else:
        result["Nodes"] = args.get("Nodes")
    return orjson.dumps(result)


def _prioritize(args: dict[str, Any]) -> bytes:
    key = tuple(_names(args))
    answer = _PRIORITY_CACHE.get(key)
    if answer is None:
        answer = orjson.dumps([{"Host": name, "Score": 0} for name in key])
        _PRIORITY_CACHE[key] = answer
        if len(_PRIORITY_CACHE) > _PRIORITY_CACHE_SIZE:
            _PRIORITY_CACHE.popitem(last=False)
    return answer


def _bind(args: dict[str, Any]) -> bytes:
    return BIND_ANSWER


def _binder(api: str, token: str, ca: str) -> Callable[[dict[str, Any]], bytes]:
    """`/bind` that POSTs the Binding through podsift's own `KubeApi.bind` (the same
    client, body and UID precondition), with nothing else: no assumption, no state,
    no watch."""
    client = KubeApi(api, ca_file=ca or None, token_source=lambda: f"Bearer {token}")

    def bind(args: dict[str, Any]) -> bytes:
        try:
            client.bind(args["PodNamespace"], args["PodName"], args["PodUID"], args["Node"])
        except BindError as exc:
            return orjson.dumps({"Error": f"calibration: {exc}"})
        return BIND_ANSWER

    return bind


VERBS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "/filter": _filter,
    "/prioritize": _prioritize,
    "/bind": _bind,
}
if os.environ.get("PODSIFT_CALIBRATION_API"):
    VERBS["/bind"] = _binder(
        os.environ["PODSIFT_CALIBRATION_API"],
        os.environ.get("PODSIFT_CALIBRATION_TOKEN", ""),
        os.environ.get("PODSIFT_CALIBRATION_CA", ""),
    )


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """WSGI entry point (`bench.calibrate:app`)."""
    path = environ.get("PATH_INFO", "")
    handler = VERBS.get(path)
    if handler is None:
        if path in ("/readyz", "/healthz"):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    try:
        args = orjson.loads(body)
        answer = handler(args)
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        answer = orjson.dumps({"Error": f"calibration: bad request: {exc}"})
        start_response("400 Bad Request", JSON_HEADERS + [("Content-Length", str(len(answer)))])
        return [answer]
    start_response("200 OK", JSON_HEADERS + [("Content-Length", str(len(answer)))])
    return [answer]
