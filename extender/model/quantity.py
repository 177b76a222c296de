"""Exact Kubernetes resource.Quantity parsing, cached.

Mirrors apimachinery's `ParseQuantity`: the same scanner (so every spelling the
API server accepts is accepted here, and nothing else), the same rounding of
the parsed value up to whole nano units (away from zero), the same cap of
binary-suffixed values at 2^63-1, and `MilliValue`/`Value` rounding away from
zero. Arithmetic is integer-only: a value is held as an integer count of nano
units, so sums of quantities stay exact as they do in Kubernetes.

Amounts in the scheduler's units are bounded (`MAX_AMOUNT`): kube-scheduler's
int64 sums wrap around for absurd quantities; podsift's never leave int64,
because a node's allocatable counts at most `MAX_AMOUNT` and a pod's request at
most `OVER_MAX_AMOUNT` ("more than any node has": it fits nowhere, as upstream
finds for any request beyond every node's allocatable).

The same few strings recur across thousands of pods, so parsed strings and the
final per-resource integers are kept in small thread-safe LRU caches.
"""

from __future__ import annotations

import math
import re
import threading
from fractions import Fraction

from cachetools import LRUCache

from extender.model.errors import InvalidInput

__all__ = [
    "MAX_QUANTITY_LENGTH",
    "INT64_MAX",
    "INT64_MIN",
    "parse_quantity",
    "nano_value",
    "milli_value",
    "int_value",
    "resource_amount",
    "nanos_to_amount",
    "MAX_AMOUNT",
    "OVER_MAX_AMOUNT",
    "request_amount",
    "clear_caches",
]

# Longer strings are rejected outright: no real quantity is near this long, and
# it bounds the integer sizes the parser can be asked to build.
MAX_QUANTITY_LENGTH = 100

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

#: The largest amount (millicores for cpu, whole units otherwise) podsift keeps for
#: a node's allocatable: 10^15 CPUs, an exabyte of memory or storage, 10^18 devices.
#: A larger allocatable counts as this much.
MAX_AMOUNT = 10**18
#: What a pod's request (per resource, totalled) above MAX_AMOUNT counts as: more
#: than any node has, so it fits no node. Any two amounts podsift keeps add up
#: far inside int64 (2 * OVER_MAX_AMOUNT < 2^63 / 4).
OVER_MAX_AMOUNT = MAX_AMOUNT + 1

_NANO = 10**9
_MILLI_IN_NANOS = 10**6

# Decimal exponent (power of ten, relative to nano units) above which a value is
# refused as absurdly large instead of building a huge integer.
_MAX_NANO_EXPONENT = 120

# A JSON number quantity must be below this, integer or not: the OpenAPI document's
# exclusive maximum for a numeric Quantity (compared exactly, as a float, like JSON Schema).
_MAX_NUMBER = 1e111

# Binary-suffixed values are capped at 2^63-1 in magnitude, as upstream does.
_BINARY_CAP_NANOS = INT64_MAX * _NANO

_DECIMAL_SUFFIXES = {
    "": 0,
    "n": -9,
    "u": -6,
    "m": -3,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_INT32_MAX = 2**31 - 1

# Upstream's scanner as a regular expression: optional sign, digits, optional
# "." and digits (either part may be empty), then a suffix made of suffix
# letters, an optional sign and digits. The suffix is interpreted afterwards.
_QUANTITY_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)", re.ASCII)
_EXPONENT_RE = re.compile(r"[+-]?[0-9]+", re.ASCII)

_FORM_HINT = "expected <sign><digits>[.<digits>]<suffix>, e.g. 500m, 0.5, 1.5Gi, 1e3"
_SUFFIX_HINT = "expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei, or e/E and an exponent"

_CACHE_SIZE = 4096
_lock = threading.Lock()
_nano_cache: LRUCache = LRUCache(maxsize=_CACHE_SIZE)
_milli_cache: LRUCache = LRUCache(maxsize=_CACHE_SIZE)
_unit_cache: LRUCache = LRUCache(maxsize=_CACHE_SIZE)


def _invalid(value: object, reason: str) -> InvalidInput:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return InvalidInput(f"invalid quantity {shown}: {reason}")


def _ceil_div(n: int, d: int) -> int:
    """n / d rounded away from zero (d > 0), as Quantity rounding does."""
    rounded = -(-abs(n) // d)
    return rounded if n >= 0 else -rounded


def _clamp_int64(n: int) -> int:
    return INT64_MAX if n > INT64_MAX else INT64_MIN if n < INT64_MIN else n


def _decimal_nanos(mantissa: int, exponent: int, value: object) -> int:
    """mantissa * 10**exponent in nano units, rounded up (mantissa >= 0)."""
    shift = exponent + 9
    if shift >= 0:
        if shift > _MAX_NANO_EXPONENT:
            raise _invalid(value, "magnitude too large")
        return mantissa * 10**shift
    drop = -shift
    if drop > len(str(mantissa)):
        return 1  # a non-zero amount below one nano unit rounds up to 1n
    return -(-mantissa // 10**drop)


def _parse_string_nanos(text: str) -> int:
    """Parse one quantity string into a signed integer count of nano units."""
    if not text:
        raise _invalid(text, "empty string")
    if len(text) > MAX_QUANTITY_LENGTH:
        raise _invalid(text, f"longer than {MAX_QUANTITY_LENGTH} characters")
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        raise _invalid(text, _FORM_HINT)
    sign, whole, fraction, suffix = match.groups()
    fraction = fraction or ""
    digits = (whole + fraction).lstrip("0")
    mantissa = int(digits) if digits else 0

    binary_exponent = _BINARY_SUFFIXES.get(suffix)
    decimal_exponent = _DECIMAL_SUFFIXES.get(suffix)
    if decimal_exponent is None and binary_exponent is None:
        if len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT_RE.fullmatch(suffix, 1):
            decimal_exponent = int(suffix[1:])
            if abs(decimal_exponent) > _INT32_MAX:
                raise _invalid(text, "exponent out of range")
        else:
            raise _invalid(text, f"unknown suffix {suffix!r} ({_SUFFIX_HINT})")
    if mantissa == 0:
        return 0

    if binary_exponent is not None:
        scaled = mantissa * (1 << binary_exponent) * _NANO
        nanos = -(-scaled // 10 ** len(fraction))
        nanos = min(nanos, _BINARY_CAP_NANOS)
    else:
        nanos = _decimal_nanos(mantissa, decimal_exponent - len(fraction), text)
    return -nanos if sign == "-" else nanos


def _nanos_uncached(value: object) -> int:
    if isinstance(value, str):
        return _parse_string_nanos(value)
    if isinstance(value, bool) or value is None:
        raise _invalid(value, f"expected a string or number, got {type(value).__name__}")
    if isinstance(value, int):
        if abs(value) >= _MAX_NUMBER:
            raise _invalid(value, "magnitude too large")
        return value * _NANO
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _invalid(value, "NaN and infinity are not quantities")
        if abs(value) >= _MAX_NUMBER:
            raise _invalid(value, "magnitude too large")
        # The shortest repr is exactly the decimal text the JSON carried.
        return _parse_string_nanos(repr(value))
    raise _invalid(value, f"expected a string or number, got {type(value).__name__}")


def nano_value(value: str | int | float) -> int:
    """The quantity as an exact integer count of nano units (10^-9), cached for strings.

    Parsing already rounds to whole nano units away from zero, as Kubernetes
    does, so this integer is the quantity exactly; sums of it stay exact.
    """
    if value.__class__ is str:
        with _lock:
            cached = _nano_cache.get(value)
        if cached is not None:
            return cached
        nanos = _parse_string_nanos(value)
        with _lock:
            _nano_cache[value] = nanos
        return nanos
    return _nanos_uncached(value)


def parse_quantity(value: str | int | float) -> Fraction:
    """Parse a quantity string or JSON number into an exact Fraction.

    Raises InvalidInput for anything Kubernetes would not parse (and for bool,
    None, NaN, infinity, strings over MAX_QUANTITY_LENGTH characters).
    """
    return Fraction(nano_value(value), _NANO)


def nanos_to_amount(resource: str, nanos: int) -> int:
    """Nano units to the scheduler's integer unit: millicores for cpu, whole units
    otherwise; rounded away from zero and saturated to int64 like Kubernetes."""
    divisor = _MILLI_IN_NANOS if resource == "cpu" else _NANO
    return _clamp_int64(_ceil_div(nanos, divisor))


def request_amount(resource: str, nanos: int) -> int:
    """A pod's total request of `resource` in the scheduler's unit, as
    `nanos_to_amount`, but at most OVER_MAX_AMOUNT (see MAX_AMOUNT)."""
    amount = nanos_to_amount(resource, nanos)
    return OVER_MAX_AMOUNT if amount > OVER_MAX_AMOUNT else amount


def milli_value(value: str | int | float) -> int:
    """ceil(q * 1000) as Kubernetes MilliValue (away from zero for negatives), int64-saturated."""
    return _clamp_int64(_ceil_div(nano_value(value), _MILLI_IN_NANOS))


def int_value(value: str | int | float) -> int:
    """ceil(q) as Kubernetes Value (away from zero for negatives), int64-saturated."""
    return _clamp_int64(_ceil_div(nano_value(value), _NANO))


def resource_amount(resource: str, value: str | int | float, field: str) -> int:
    """A node's allocatable amount of one resource: millicores for "cpu", whole units
    otherwise, at most MAX_AMOUNT.

    Any error is an InvalidInput naming `field`; negative amounts are refused
    (requests and capacities must be >= 0). Strings hit a per-kind cache, so the
    common case is a single lookup.
    """
    is_str = value.__class__ is str
    if is_str:
        cache = _milli_cache if resource == "cpu" else _unit_cache
        with _lock:
            cached = cache.get(value)
        if cached is not None:
            return cached
    try:
        nanos = nano_value(value)
    except InvalidInput as err:
        raise InvalidInput(str(err), field) from None
    if nanos < 0:
        raise InvalidInput(f"must not be negative, got {value!r}", field)
    amount = min(nanos_to_amount(resource, nanos), MAX_AMOUNT)
    if is_str:
        with _lock:
            cache[value] = amount
    return amount


def clear_caches() -> None:
    """Forget every cached parse (tests, and memory pressure)."""
    with _lock:
        _nano_cache.clear()
        _milli_cache.clear()
        _unit_cache.clear()
