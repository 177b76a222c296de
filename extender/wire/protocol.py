"""Wire encoding: orjson in, orjson or pre-encoded fragments out.

Go's encoding/json decodes these answers into the extender/v1 structs: keys
are the Go field names, `Score` is an integer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from extender.model.errors import InvalidInput

_SCORE_SUFFIX = tuple(b"%d}" % s for s in range(11))


def _host_head(name: str) -> bytes:
    return b'{"Host":' + orjson.dumps(name) + b',"Score":'


def decode(body: bytes) -> Any:
    """Parse a request body; InvalidInput (HTTP 400) when it is not JSON."""
    if not body:
        raise InvalidInput("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None


# How Go's encoding/json writes the last field of ExtenderArgs (Pod, Nodes, NodeNames in
# struct order), as kube-scheduler sends it: `...,"NodeNames":["a","b"]}`.
_NAMES_MEMBER = b',"NodeNames":['
_NAMES_END = b"]}"


class RequestDecoder:
    """Decodes verb bodies, taking what repeats from the last bodies with the same bytes.

    kube-scheduler sends the same 1,000 names pod after pod, and each pod twice
    (/filter, then /prioritize). Decoding the names made 1,000 new strings a
    request, and recognizing them as the list resolved last time compared 1,000
    pairs of strings: together about half of what podsift's own plumbing cost a
    /filter (docs/PERFORMANCE.md, "The names of a request"). Here the array's
    bytes are compared with the last few arrays (one memcmp each) and the names
    come back as the same tuple as before, which the state recognizes by
    identity; the rest of the body (the Pod) is compared with the last one's, and
    an equal one comes back as a copy of the same decoded object, whose parse the
    service keeps (`parsed`, `keep_parsed`).

    The split is exact: inside a JSON string every quote is escaped, so
    `,"NodeNames":[` can only be a real member, and when the body ends with the
    array and the object's `}`, the body is valid JSON exactly when the rest (with
    the member removed) and the array are; then the decoded object is the same
    but for NodeNames being a tuple. Anything else (another layout, invalid JSON,
    an array holding something other than strings) is decoded whole, as before,
    with the same error messages. Thread-safe: entries are replaced, never
    changed in place, and the objects kept are never handed out to be changed
    (the arguments are a fresh dict each time; no verb changes a decoded Pod).
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: tuple[tuple[bytes, tuple[str, ...]], ...] = ()
        # the last rest of a body: its bytes, its decoded object, and [the Pod's parse]
        self._rest: tuple[bytes, dict, list[Any]] | None = None

    def decode(self, body: bytes) -> Any:
        at = body.rfind(_NAMES_MEMBER)
        if at < 0 or not body.endswith(_NAMES_END):
            return decode(body)
        raw = body[at + len(_NAMES_MEMBER) - 1 : -1]  # the array, brackets included
        names = self._names(raw)
        if names is None:
            return decode(body)
        rest = body[:at]
        last = self._rest
        if last is not None and last[0] == rest:
            args = dict(last[1])
        else:
            try:
                args = orjson.loads(rest + b"}")
            except orjson.JSONDecodeError:
                return decode(body)  # the whole body's own error message
            if args.__class__ is not dict:
                return decode(body)
            self._rest = (rest, args, [None])
            args = dict(args)
        args["NodeNames"] = names  # the last member wins, as orjson decodes duplicates
        return args

    def parsed(self, pod: Any) -> Any:
        """What `keep_parsed` kept for `pod`, if it is the last decoded body's Pod
        object itself (never a caller's own dict, which it could change), else None."""
        last = self._rest
        if last is None or last[1].get("Pod") is not pod:
            return None
        return last[2][0]

    def keep_parsed(self, pod: Any, info: Any) -> None:
        """Keep `info`, the valid parse of `pod`, if `pod` is the last decoded body's Pod."""
        last = self._rest
        if last is not None and last[1].get("Pod") is pod:
            last[2][0] = info

    def add(self, raw: bytes, names: tuple[str, ...]) -> None:
        """Know `raw` (an encoded array) as `names`, ahead of a request carrying it."""
        self._entries = ((raw, names), *self._entries[: self.size - 1])

    def _names(self, raw: bytes) -> tuple[str, ...] | None:
        """The names of the array `raw`, from the cache when seen; None when it is not
        an array of strings."""
        entries = self._entries
        for k, (known, names) in enumerate(entries):
            if known == raw:
                if k:  # most recently used first: /filter's names outlive the primed ones
                    self._entries = ((raw, names), *entries[:k], *entries[k + 1 :])
                return names
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if decoded.__class__ is not list or not all(n.__class__ is str for n in decoded):
            return None
        names = tuple(decoded)
        self._entries = ((raw, names), *entries[: self.size - 1])
        return names


class HostFragments:
    """Per-node pre-encoded `{"Host":"<name>","Score":<n>}` for every n in 0..10.

    Indexed by the node table's ids; rebuilt when the table's node set changes
    (rare), so a 1,000-entry answer is one fancy-index and one join (~16 us
    against ~120 us for building dicts and encoding them).
    """

    def __init__(self) -> None:
        self._table_id = -1
        self._version = -1
        self._frags = np.empty((0, 11), object)

    def gather(self, table: Any, ids: np.ndarray, scores: np.ndarray) -> list[bytes]:
        """Fragments for (ids, scores); call with the state lock held."""
        if (
            self._table_id != id(table)
            or self._version != table.version
            or len(self._frags) < len(table.names_arr)
        ):
            frags = np.empty((len(table.names_arr), 11), object)
            for nid, name in enumerate(table.names_arr.tolist()):
                if name is not None:
                    head = _host_head(name)
                    frags[nid] = [head + suffix for suffix in _SCORE_SUFFIX]
            self._frags, self._table_id, self._version = frags, id(table), table.version
        return self._frags[ids, scores].tolist()


def join_fragments(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"


def host_fragment(name: str, score: int) -> bytes:
    """One `{"Host": name, "Score": n}` encoded on the spot, for a node outside the
    table (a name podsift does not know): too rare a path for a cache of its own."""
    return _host_head(name) + _SCORE_SUFFIX[score]
