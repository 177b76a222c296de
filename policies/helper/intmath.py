"""Exact integer ratios over int64 arrays, for scores that must never wrap.

Scores are ratios like `requested * 100 / capacity`. Products that could leave
int64 (a huge extended-resource capacity times a scale) are detected with one
max() per call and then computed in two exact steps, or with Python integers,
instead; the common case stays one vector multiply and divide.
"""

from __future__ import annotations

import functools
import math

import numpy as np

INT64_MAX = 2**63 - 1


def scaled_ratio(num: np.ndarray, den: np.ndarray, scale: int) -> np.ndarray:
    """floor(num * scale / den) per element, for 0 <= num <= den and den >= 1.

    This is upstream's `requested * MaxNodeScore / capacity` (Go's int64
    division truncates, which equals floor for non-negative operands).
    """
    if den.size and int(den.max()) <= INT64_MAX // scale:
        return num * np.int64(scale) // den
    return scaled_ratio_rem(num, den, scale)[0]


def scaled_ratio_rem(num: np.ndarray, den: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """scaled_ratio and, per element, whether the division left a remainder.

    When den * scale would leave int64 the scale is applied in two exact steps
    (long division by two factors of `scale`), and only beyond that in Python
    integers, so nothing ever wraps.
    """
    if den.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    top = int(den.max())
    if top <= INT64_MAX // scale:
        quotient, remainder = np.divmod(num * np.int64(scale), den)
        return quotient, remainder != 0
    first, second = _split(scale)
    if top <= INT64_MAX // max(first, second):
        high, rest = np.divmod(num * np.int64(first), den)
        low, remainder = np.divmod(rest * np.int64(second), den)
        return high * np.int64(second) + low, remainder != 0
    big_num, big_den = num.astype(object) * scale, den.astype(object)
    return (big_num // big_den).astype(np.int64), (big_num % big_den != 0).astype(bool)


@functools.lru_cache(maxsize=64)
def _split(scale: int) -> tuple[int, int]:
    """scale = first * second with first the largest divisor not above sqrt(scale)."""
    first = math.isqrt(scale)
    while scale % first:
        first -= 1
    return first, scale // first


def mul_div(values: np.ndarray, mul: int, div: int) -> np.ndarray:
    """floor(values * mul / div) per element for values >= 0, mul >= 0, div >= 1."""
    if values.size == 0:
        return np.zeros(0, np.int64)
    if mul == 0 or int(values.max()) <= INT64_MAX // mul:
        return values * np.int64(mul) // np.int64(div)
    return (values.astype(object) * mul // div).astype(np.int64)


def go_div(a: int, b: int) -> int:
    """Go's integer division (truncation toward zero) for b != 0."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q
