"""Quantity parsing: upstream quantity_test.go cases, rounding, caching, properties."""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model import quantity
from extender.model.errors import InvalidInput
from extender.model.quantity import (
    INT64_MAX,
    int_value,
    milli_value,
    nano_value,
    parse_quantity,
    resource_amount,
)


@pytest.fixture(autouse=True)
def _fresh_caches():
    quantity.clear_caches()
    yield
    quantity.clear_caches()


def dec(mantissa: int, exponent: int) -> Fraction:
    """mantissa * 10**exponent, the way upstream's table writes expectations."""
    return Fraction(mantissa) * Fraction(10) ** exponent


KI, MI, GI, TI, PI, EI = (1 << 10), (1 << 20), (1 << 30), (1 << 40), (1 << 50), (1 << 60)

# (input, exact value) transcribed from TestQuantityParse.
UPSTREAM_PARSE_TABLE = [
    ("0", dec(0, 0)),
    ("0n", dec(0, 0)),
    ("0u", dec(0, 0)),
    ("0m", dec(0, 0)),
    ("0Ki", dec(0, 0)),
    ("0k", dec(0, 0)),
    ("0Mi", dec(0, 0)),
    ("0M", dec(0, 0)),
    ("0Gi", dec(0, 0)),
    ("0G", dec(0, 0)),
    ("0Ti", dec(0, 0)),
    ("0T", dec(0, 0)),
    ("1", dec(1, 0)),
    ("1Ki", dec(KI, 0)),
    ("8Ki", dec(8 * KI, 0)),
    ("7Mi", dec(7 * MI, 0)),
    ("6Gi", dec(6 * GI, 0)),
    ("5Ti", dec(5 * TI, 0)),
    ("4Pi", dec(4 * PI, 0)),
    ("3Ei", dec(3 * EI, 0)),
    ("10Ti", dec(10 * TI, 0)),
    ("100Ti", dec(100 * TI, 0)),
    ("5n", dec(5, -9)),
    ("4u", dec(4, -6)),
    ("3m", dec(3, -3)),
    ("9", dec(9, 0)),
    ("8k", dec(8, 3)),
    ("50k", dec(5, 4)),
    ("7M", dec(7, 6)),
    ("6G", dec(6, 9)),
    ("5T", dec(5, 12)),
    ("40T", dec(4, 13)),
    ("300T", dec(3, 14)),
    ("2P", dec(2, 15)),
    ("1E", dec(1, 18)),
    ("1E-3", dec(1, -3)),
    ("1e3", dec(1, 3)),
    ("1E6", dec(1, 6)),
    ("1e9", dec(1, 9)),
    ("1E12", dec(1, 12)),
    ("1e15", dec(1, 15)),
    ("1E18", dec(1, 18)),
    ("1e14", dec(1, 14)),
    ("1e13", dec(1, 13)),
    ("100.035k", dec(100035, 0)),
    ("0.001", dec(1, -3)),
    ("0.0005k", dec(5, -1)),
    ("0.005", dec(5, -3)),
    ("0.05", dec(5, -2)),
    ("0.5", dec(5, -1)),
    ("0.00050k", dec(5, -1)),
    ("0.00500", dec(5, -3)),
    ("0.05000", dec(5, -2)),
    ("0.50000", dec(5, -1)),
    ("0.5e0", dec(5, -1)),
    ("0.5e-1", dec(5, -2)),
    ("0.5e-2", dec(5, -3)),
    ("10.035M", dec(10035, 3)),
    ("1.2e3", dec(12, 2)),
    ("1.3E+6", dec(13, 5)),
    ("1.40e9", dec(14, 8)),
    ("1.53E12", dec(153, 10)),
    ("1.6e15", dec(16, 14)),
    ("1.7E18", dec(17, 17)),
    ("9.01", dec(901, -2)),
    ("8.1k", dec(81, 2)),
    ("7.123456M", dec(7123456, 0)),
    ("6.987654321G", dec(6987654321, 0)),
    ("5.444T", dec(5444, 9)),
    ("40.1T", dec(401, 11)),
    ("300.2T", dec(3002, 11)),
    ("2.5P", dec(25, 14)),
    ("1.01E", dec(101, 16)),
    # Things that saturate or round (up to whole nano units).
    ("3.001n", dec(4, -9)),
    ("1.1E-9", dec(2, -9)),
    ("0.0000000001", dec(1, -9)),
    ("0.0000000005", dec(1, -9)),
    ("0.00000000050", dec(1, -9)),
    ("0.5e-9", dec(1, -9)),
    ("0.9n", dec(1, -9)),
    ("0.00000012345", dec(124, -9)),
    ("0.00000012354", dec(124, -9)),
    ("9Ei", dec(INT64_MAX, 0)),
    ("9223372036854775807Ki", dec(INT64_MAX, 0)),
    ("12E", dec(12, 18)),
    # Fractional binary values.
    ("100.035Ki", dec(10243584, -2)),
    ("0.5Mi", dec(MI // 2, 0)),
    ("0.05Gi", dec(536870912, -1)),
    ("0.025Ti", dec(274877906944, -1)),
    # "Things written by trolls".
    ("0.000000000001Ki", dec(2, -9)),
    (".001", dec(1, -3)),
    (".0001k", dec(100, -3)),
    ("1.", dec(1, 0)),
    ("1.G", dec(1, 9)),
]

# From TestQuantityParse's invalid list, plus the brief's cases.
UPSTREAM_INVALID = [
    "1.1.M",
    "1+1.0M",
    "0.1mi",
    "0.1am",
    "aoeu",
    ".5i",
    "1i",
    "-3.01i",
    "-3.01e-",
    "1e4294967297",
    " 1",
    "1 ",
    "",
    "1.2.3",
    "1 Gi",
    "1K",
    "1ki",
    "1e",
    "1Gi ",
    "\t1",
    "1x",
    "١",  # a non-ASCII digit
    "x" * 101,
    "1" * 101,
]


@pytest.mark.parametrize(("text", "expected"), UPSTREAM_PARSE_TABLE)
def test_upstream_parse_table(text: str, expected: Fraction) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(("text", "expected"), UPSTREAM_PARSE_TABLE)
def test_upstream_parse_table_with_signs(text: str, expected: Fraction) -> None:
    assert parse_quantity("+" + text) == expected
    assert parse_quantity("-" + text) == -expected


@pytest.mark.parametrize("text", UPSTREAM_INVALID)
def test_upstream_invalid_strings(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "got bool"),
        (False, "got bool"),
        (None, "got NoneType"),
        ([1], "got list"),
        ({"a": 1}, "got dict"),
        (float("nan"), "NaN"),
        (float("inf"), "infinity"),
        (float("-inf"), "infinity"),
        ("", "empty"),
        ("1" * 101, "longer than 100"),
        ("1.5Qi", "expected <sign>"),
        ("1Ki5", "unknown suffix"),
        ("1e4294967297", "exponent out of range"),
        ("1e200", "too large"),
        (10**200, "too large"),
        (1e300, "too large"),
    ],
)
def test_invalid_values_explain_why(value: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_quantity(value)  # type: ignore[arg-type]
    assert reason in str(err.value)
    assert err.value.field is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Upstream's scanner accepts an empty number (TestParseQuantityString has
        # "." and "-."), so a bare suffix or sign parses as zero there too.
        (".", Fraction(0)),
        ("-.", Fraction(0)),
        ("+", Fraction(0)),
        ("-", Fraction(0)),
        ("k", Fraction(0)),
        ("Mi", Fraction(0)),
        ("0e2147483647", Fraction(0)),
        # Exponents up to int32 range are accepted; tiny values round up to 1n.
        ("1e-2147483647", Fraction(1, 10**9)),
        ("-1e-2147483647", Fraction(-1, 10**9)),
        ("1e+3", Fraction(1000)),
        ("1E007", Fraction(10**7)),
        ("007", Fraction(7)),
        ("-9Ei", Fraction(-INT64_MAX)),
    ],
)
def test_upstream_scanner_edge_cases(text: str, expected: Fraction) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Fraction(0)),
        (2, Fraction(2)),
        (-3, Fraction(-3)),
        (0.5, Fraction(1, 2)),
        (0.1, Fraction(1, 10)),  # the JSON text "0.1", not the binary float
        (1e3, Fraction(1000)),
        (1.5e-2, Fraction(3, 200)),
        (1e-12, Fraction(1, 10**9)),  # rounds up to 1n like the string would
        (123456789.125, Fraction(123456789125, 1000)),
    ],
)
def test_json_numbers(value: int | float, expected: Fraction) -> None:
    assert parse_quantity(value) == expected


# MilliValue / Value from quantity_test.go's rounding tables and the brief.
@pytest.mark.parametrize(
    ("text", "milli", "units"),
    [
        ("9.01", 9010, 10),
        ("-9.01", -9010, -10),  # away from zero, like upstream's RoundUp
        ("500m", 500, 1),
        ("0.5", 500, 1),
        ("1.5", 1500, 2),
        ("0.1m", 1, 1),
        ("1n", 1, 1),
        ("1u", 1, 1),
        ("999m", 999, 1),
        ("1000m", 1000, 1),
        ("1001m", 1001, 2),
        ("1Gi", 1024**3 * 1000, 1024**3),
        ("1.5Ki", 1536000, 1536),
        ("12E", INT64_MAX, INT64_MAX),  # saturated like the newest upstream
        ("0", 0, 0),
    ],
)
def test_milli_and_int_value_round_away_from_zero(text: str, milli: int, units: int) -> None:
    assert milli_value(text) == milli
    assert int_value(text) == units


def test_resource_amount_units() -> None:
    assert resource_amount("cpu", "250m", "f") == 250
    assert resource_amount("cpu", "1", "f") == 1000
    assert resource_amount("cpu", 2, "f") == 2000
    assert resource_amount("cpu", 0.1, "f") == 100
    assert resource_amount("memory", "1Gi", "f") == 1 << 30
    assert resource_amount("memory", "1.5", "f") == 2
    assert resource_amount("nvidia.com/gpu", "1", "f") == 1
    assert resource_amount("ephemeral-storage", "1e3", "f") == 1000


def test_resource_amount_names_the_field() -> None:
    field = "spec.containers[0].resources.requests.cpu"
    with pytest.raises(InvalidInput) as err:
        resource_amount("cpu", "1.2.3", field)
    assert err.value.field == field
    assert str(err.value).startswith(field + ": ")
    assert "'1.2.3'" in str(err.value)


def test_resource_amount_rejects_negatives() -> None:
    field = "spec.containers[0].resources.requests.memory"
    with pytest.raises(InvalidInput, match="must not be negative") as err:
        resource_amount("memory", "-1Gi", field)
    assert err.value.field == field
    with pytest.raises(InvalidInput, match="must not be negative"):
        resource_amount("cpu", "-0.1n", field)
    assert resource_amount("cpu", "-0", field) == 0


def test_cached_results_are_stable_and_errors_are_not_cached() -> None:
    assert resource_amount("cpu", "100m", "a") == 100
    assert resource_amount("cpu", "100m", "b") == 100  # cache hit
    assert resource_amount("memory", "100m", "c") == 1  # separate cache per kind
    for _ in range(2):
        with pytest.raises(InvalidInput) as err:
            resource_amount("cpu", "oops", "spec.x")
        assert err.value.field == "spec.x"
    # A cached negative nano value still fails resource_amount every time.
    assert nano_value("-1") == -(10**9)
    for _ in range(2):
        with pytest.raises(InvalidInput, match="negative"):
            resource_amount("cpu", "-1", "f")


def test_true_and_one_are_not_confused_by_the_cache() -> None:
    assert resource_amount("cpu", 1, "f") == 1000
    with pytest.raises(InvalidInput, match="bool"):
        resource_amount("cpu", True, "f")
    assert resource_amount("cpu", "1", "f") == 1000


def test_concurrent_parsing_agrees() -> None:
    texts = [f"{i}m" for i in range(300)] + [f"{i}Ki" for i in range(300)]
    expected = {t: milli_value(t) for t in texts}
    quantity.clear_caches()
    failures: list[str] = []

    def worker(offset: int) -> None:
        for i in range(2000):
            text = texts[(i * 7 + offset) % len(texts)]
            if resource_amount("cpu", text, "f") != expected[text]:
                failures.append(text)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ---------------------------------------------------------------------------
# Properties

millis = st.integers(min_value=-(10**15), max_value=10**15)


def spellings_of_millis(m: int) -> list[str]:
    """Several spellings of m/1000 that are all exactly equal to it."""
    sign = "-" if m < 0 else ""
    a = abs(m)
    whole, frac = divmod(a, 1000)
    out = [
        f"{m}m",
        f"{m}e-3",
        f"{m}E-3",
        f"{m * 1000}u",
        f"{m * 10**6}n",
        f"{sign}{whole}.{frac:03d}",
        f"{sign}{whole}.{frac:03d}000",
        f"{sign}{a / 1000:.3f}" if a < 10**12 else f"{m}m",
        f"{sign}{whole}.{frac:03d}e0",
        f"{sign}0.{a:018d}e15" if a < 10**18 else f"{m}m",
    ]
    if frac == 0:
        out += [f"{sign}{whole}", f"{sign}{whole}.", f"{sign}{whole * 1000}e-3"]
        if whole % 1000 == 0:
            out.append(f"{sign}{whole // 1000}k")
        if whole % 1024 == 0:
            out.append(f"{sign}{whole // 1024}Ki")
        if whole % (1 << 20) == 0:
            out.append(f"{sign}{whole >> 20}Mi")
    # Binary with a fraction: whole/1024 written in decimal when it terminates.
    if frac == 0 and whole % 1024:
        q = Fraction(whole, 1024)  # denominator a power of two: finite decimal
        digits = 10
        text = f"{q.numerator * 10**digits // q.denominator}"
        out.append(f"{sign}{text[:-digits] or '0'}.{text[-digits:].rjust(digits, '0')}Ki")
    return out


@given(millis)
def test_round_trip_of_spellings(m: int) -> None:
    expected = Fraction(m, 1000)
    for text in spellings_of_millis(m):
        assert parse_quantity(text) == expected, text
        assert milli_value(text) == m, text


@given(millis)
def test_json_number_round_trip(m: int) -> None:
    assert parse_quantity(m) == m
    assert milli_value(m) == m * 1000


nanos = st.integers(min_value=-(10**24), max_value=10**24)


def decimal_text(n: int) -> str:
    """n nano units as a plain decimal string."""
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), 10**9)
    return f"{sign}{whole}.{frac:09d}"


@given(nanos, nanos)
def test_ordering_matches_the_numbers(a: int, b: int) -> None:
    qa, qb = parse_quantity(decimal_text(a)), parse_quantity(f"{b}n")
    assert (Fraction(a, 10**9) < Fraction(b, 10**9)) == (qa < qb)
    assert (a == b) == (qa == qb)


@given(st.integers(min_value=0, max_value=10**20))
def test_rounding_up_from_nano_units(n: int) -> None:
    assert milli_value(f"{n}n") == min(math.ceil(Fraction(n, 10**6)), INT64_MAX)
    assert int_value(f"{n}n") == math.ceil(Fraction(n, 10**9))
    assert resource_amount("cpu", f"{n}n", "f") == min(-(-n // 10**6), INT64_MAX)


@given(
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=0, max_value=25),
)
def test_parsing_rounds_up_to_the_next_nano(mantissa: int, scale: int) -> None:
    text = f"{mantissa}e-{scale}"
    exact = Fraction(mantissa, 10**scale)
    parsed = parse_quantity(text)
    assert exact <= parsed < exact + Fraction(1, 10**9)
    assert (parsed * 10**9).denominator == 1
    assert milli_value(text) == min(math.ceil(exact * 1000), INT64_MAX)


QUANTITY_ALPHABET = "0123456789.+-eEinumkKMGTP "


@settings(max_examples=300)
@given(st.one_of(st.text(alphabet=QUANTITY_ALPHABET, max_size=12), st.text(max_size=12)))
def test_random_strings_parse_or_raise_invalid_input(text: str) -> None:
    try:
        value = parse_quantity(text)
    except InvalidInput as err:
        assert "invalid quantity" in str(err)
    else:
        assert isinstance(value, Fraction)
        assert (value * 10**9).denominator == 1


@given(
    st.text(min_size=1, max_size=12).filter(lambda s: any(c not in QUANTITY_ALPHABET for c in s))
)
def test_strings_outside_the_grammar_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_quantity(text)
    with pytest.raises(InvalidInput) as err:
        resource_amount("cpu", text, "spec.overhead.cpu")
    assert err.value.field == "spec.overhead.cpu"
