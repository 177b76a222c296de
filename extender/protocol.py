"""Wire encoding: orjson in, orjson or pre-encoded fragments out.

Go's encoding/json decodes these answers into the extender/v1 structs: keys
are the Go field names, `Score` is an integer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from extender.errors import InvalidInput

_SCORE_SUFFIX = tuple(b"%d}" % s for s in range(11))
_host_prefix: dict[str, bytes] = {}
_PREFIX_CACHE_LIMIT = 100_000


def decode(body: bytes) -> Any:
    """Parse a request body; InvalidInput (HTTP 400) when it is not JSON."""
    if not body:
        raise InvalidInput("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None


def encode(obj: Any) -> bytes:
    return orjson.dumps(obj)


def encode_host_priority_list(names: list[str], scores: np.ndarray) -> bytes:
    """`[{"Host": name, "Score": n}, ...]` joined from cached per-host fragments."""
    prefix = _host_prefix
    parts = []
    append = parts.append
    for name, score in zip(names, scores.tolist()):
        p = prefix.get(name)
        if p is None:
            if len(prefix) >= _PREFIX_CACHE_LIMIT:
                prefix.clear()
            p = prefix[name] = b'{"Host":' + orjson.dumps(name) + b',"Score":'
        append(p + _SCORE_SUFFIX[score])
    return b"[" + b",".join(parts) + b"]"
