"""Read-only constant answers (all pass, all zero) shared across requests.

Most pods carry no topology spread constraint and no inter-pod affinity term
that applies: those plugins then answer "every node passes" or "every node
scores 0". Allocating a fresh array per request for that costs more than the
answer is worth; the engine only reads a policy's arrays, so one read-only array
per (size, value) serves every such request (a write would fail loudly).
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


def all_true(n: int) -> np.ndarray:
    """bool[n], every element True, read-only."""
    return _constant(n, "true")


def all_false(n: int) -> np.ndarray:
    """bool[n], every element False, read-only."""
    return _constant(n, "false")


def zero_scores(n: int) -> np.ndarray:
    """int64[n] of 0, read-only."""
    return _constant(n, "zero")
