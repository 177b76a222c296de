"""What the engine verifies of a plugin's answers before it uses them.

A filter's verdict decides where a pod may go and a score how it is ranked,
so a plugin that returns the wrong thing must fail loudly rather than place
pods wrongly: a filter must return bool[n], `reasons` one string per failed
node (and `unresolvable_mask` one bool), a score integers of shape (n,)
(clamped to 0..MAX_NODE_SCORE, as a pure score function should be). The
registry's trusted built-ins skip the filter and score checks (their tests
prove them); the length of `reasons` is checked always, since a short list
would silently drop failed nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.framework.policy import MAX_NODE_SCORE
from extender.model.errors import PolicyError


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"a {type(value).__name__}"


def checked_filter(name: str, result: Any, n: int) -> np.ndarray:
    """`result` as bool[n], or PolicyError naming the policy."""
    arr = np.asarray(result)  # the array itself when it is one
    if arr.dtype != np.bool_ or arr.shape != (n,):
        raise PolicyError(
            f"policy {name}: filter() must return a bool array of shape ({n},), "
            f"got {_describe(result)}"
        )
    return arr


def checked_reasons(name: str, reasons: Any, count: int, strings: bool = True) -> list[str]:
    """`reasons` as a list of `count` strings, or PolicyError naming the policy.

    `strings=False` checks only the length (the trusted built-ins: a check per
    reason costs ~4 µs a pod when a selector fails hundreds of nodes)."""
    if isinstance(reasons, tuple):
        reasons = list(reasons)
    if not isinstance(reasons, list) or len(reasons) != count:
        got = f"{len(reasons)} reasons" if isinstance(reasons, list) else _describe(reasons)
        raise PolicyError(f"policy {name}: reasons() must return {count} strings, got {got}")
    if strings:
        for reason in reasons:
            if reason.__class__ is not str:
                raise PolicyError(
                    f"policy {name}: reasons() must return strings, got {type(reason).__name__}"
                )
    return reasons


def checked_unresolvable(name: str, result: Any, count: int) -> np.ndarray:
    """`unresolvable_mask`'s answer as bool[count], or PolicyError naming the policy."""
    arr = np.asarray(result)
    if arr.dtype != np.bool_ or arr.shape != (count,):
        raise PolicyError(
            f"policy {name}: unresolvable_mask() must return a bool array of shape ({count},), "
            f"got {_describe(result)}"
        )
    return arr


def _int64s(name: str, method: str, values: Any, n: int) -> np.ndarray:
    """`values` as int64[n], or PolicyError naming the policy and its method."""
    arr = np.asarray(values)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise PolicyError(
            f"policy {name}: {method}() must return an integer array of shape ({n},), "
            f"got {_describe(values)}"
        )
    return arr.astype(np.int64, copy=False)


def checked_raw(name: str, values: Any, n: int) -> np.ndarray:
    """`raw_score`'s answer as int64[n] (any integers: normalization maps them onto
    0..MAX_NODE_SCORE), or PolicyError naming the policy."""
    return _int64s(name, "raw_score", values, n)


def checked_scores(name: str, scores: Any, n: int, strict: bool = False) -> np.ndarray:
    """`scores` as int64[n] clamped to 0..MAX_NODE_SCORE, or PolicyError naming the policy.

    `strict` (extender.testing) refuses a value out of range instead of clamping it."""
    arr = _int64s(name, "score", scores, n)
    if strict and n and (int(arr.min()) < 0 or int(arr.max()) > MAX_NODE_SCORE):
        raise PolicyError(
            f"policy {name}: score() returned values in {int(arr.min())}..{int(arr.max())}, "
            f"outside 0..{MAX_NODE_SCORE} (the engine would clamp them)"
        )
    return np.clip(arr, 0, MAX_NODE_SCORE)
