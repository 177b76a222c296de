"""InterPodAffinity's min-max normalization, in integers, as upstream's float64 gives it.

Upstream: int64(float64(100) * (float64(s - min) / float64(max - min))). For
s - min = a and max - min = d, the exact floor(100 * a / d) is what the float
expression gives too, except where 100 * a / d is an integer k: the float
quotient a / d is then k / 100 rounded, the same double for every (a, d), and
100 times it rounds below k for k in 29, 57 and 58, which Go truncates to k - 1
(tests/policies/test_inter_pod_affinity.py checks the table against floats,
and the inexact case on random values). Exact for d up to 2^40, far beyond
the sums of weights times pods a cluster can reach.
"""

from __future__ import annotations

import numpy as np

from extender.api import MAX_NODE_SCORE

INT64_MAX = 2**63 - 1

# k -> what Go's int64(100.0 * (k / 100.0)) is, for k in 0..100
_GO_EXACT = np.arange(MAX_NODE_SCORE + 1, dtype=np.int64)
_GO_EXACT[[29, 57, 58]] -= 1
_GO_EXACT.flags.writeable = False


def min_max_normalize(raw: np.ndarray, factor: int = 1) -> np.ndarray:
    """int64[n] in 0..100: (raw - min) scaled by max - min; all 0 when they are equal.

    `factor` is a positive integer dividing every value of `raw` (the gcd of the
    weights they sum; 1 always does). It decides when Go's inexact cases can
    occur at all: 100 * a / d is an integer k in 29, 57 or 58 only if 50 divides
    d / factor (a and d are multiples of it, and 100 * (a / factor) = k * (d /
    factor) with k prime to 100, or 2 x 29 for 58); otherwise the exact floor is
    the answer, with no remainder to look at."""
    if raw.size == 0:
        return np.zeros(0, np.int64)
    low = int(raw.min())
    spread = int(raw.max()) - low
    if spread == 0:
        return np.zeros(raw.size, np.int64)
    if (spread // factor) % 50 and spread <= INT64_MAX // MAX_NODE_SCORE:
        scores = raw - np.int64(low)  # a new array: scaled in place
        scores *= np.int64(MAX_NODE_SCORE)
        scores //= np.int64(spread)
        return scores
    if spread <= INT64_MAX // MAX_NODE_SCORE:
        scaled = (raw - np.int64(low)) * np.int64(MAX_NODE_SCORE)
        scores, remainder = np.divmod(scaled, np.int64(spread))
    else:  # beyond int64 once scaled: Python integers
        big = [(int(v) - low) * MAX_NODE_SCORE for v in raw.tolist()]
        scores = np.array([b // spread for b in big], np.int64)
        remainder = np.array([b % spread for b in big], np.int64)
    exact = remainder == 0
    return np.where(exact, _GO_EXACT[scores], scores)
