"""Read-only constant answers (every node passes, every node scores 0), shared.

Most pods carry no host port, no topology spread constraint and no inter-pod
affinity term that applies: those plugins then answer "every node passes" or
"every node scores 0". One read-only array per (size, kind) serves every such
request (a write would fail loudly), and the engine knows these arrays by
identity: it skips and-ing an `all_pass` into the request's mask and adding a
`zero_scores` into the weighted total, work whose result it knows already
(docs/PLUGINS.md, "Rules that keep podsift fast and exact"; docs/PERFORMANCE.md,
"One pass a pod").
"""

from __future__ import annotations

import numpy as np

_MAX_KEPT = 64  # distinct (size, kind) pairs kept: node counts of the views asked about
_kept: dict[tuple[int, str], np.ndarray] = {}


def _constant(n: int, kind: str) -> np.ndarray:
    key = (n, kind)
    arr = _kept.get(key)
    if arr is None:
        if kind == "true":
            arr = np.ones(n, dtype=bool)
        elif kind == "false":
            arr = np.zeros(n, dtype=bool)
        else:
            arr = np.zeros(n, dtype=np.int64)
        arr.flags.writeable = False
        if len(_kept) >= _MAX_KEPT:
            _kept.clear()
        _kept[key] = arr
    return arr


def all_pass(n: int) -> np.ndarray:
    """bool[n], every element True, read-only: a filter's "every node passes"."""
    return _constant(n, "true")


def all_fail(n: int) -> np.ndarray:
    """bool[n], every element False, read-only."""
    return _constant(n, "false")


def zero_scores(n: int) -> np.ndarray:
    """int64[n] of 0, read-only: a score's "no node is preferred"."""
    return _constant(n, "zero")
