"""Reading files users hand us (snapshots, policy configuration): JSON or YAML."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import orjson


def yaml_loader() -> type:
    """libyaml's CSafeLoader when PyYAML was built with it, else the pure-Python
    SafeLoader. Both build the same objects from the same safe subset of YAML; the
    C one reads a 0.5 MB snapshot about 5x faster (docs/PERFORMANCE.md)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def decode_json_or_yaml(raw: bytes, source: str, loader: type | None = None) -> Any:
    """JSON first (fast, and what kubectl prints), then YAML with `loader` (default:
    `yaml_loader()`); ValueError naming `source` when it is neither."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    import yaml

    try:
        return yaml.load(raw, Loader=loader or yaml_loader())  # a safe loader, never yaml.Loader
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: neither valid JSON nor YAML: {exc}") from None


class NotStreamable(Exception):
    """`ListItems` cannot decode this document exactly as orjson would: decode it whole."""


_WHITESPACE = " \t\n\r"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_JSON_INT_MIN, _JSON_INT_MAX = -(2**63), 2**64 - 1  # what orjson decodes as an integer


def _orjson_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise NotStreamable("a number orjson refuses (infinite as a double)")
    return value


def _orjson_int(text: str) -> int | float:
    """An integer as orjson decodes it: beyond 64 bits, a double."""
    value = int(text)
    if _JSON_INT_MIN <= value <= _JSON_INT_MAX:
        return value
    return _orjson_float(text)


def _no_constant(name: str) -> Any:
    raise NotStreamable(f"{name} is not JSON")


class ListItems:
    """The items of a JSON `List` document (`{"kind": "List", "items": [...]}`),
    decoded one at a time, for a caller that uses each and lets it go.

    Why: decoding a large snapshot whole leaves every decoded object alive at once,
    and what the cluster state keeps of each item (a name, a uid) then pins the
    allocator's arenas after the rest is freed: 5,000 nodes with 150,000 pods left a
    1.3 GB process for 75 MB of live objects (docs/PERFORMANCE.md, "A snapshot, item
    by item"). orjson cannot decode part of a document, so each item is decoded by
    the standard library's C decoder. Read once; the top-level members other than
    `items` are decoded and dropped.

    Whatever this reader would decode differently from orjson raises NotStreamable,
    possibly after some items were yielded, and the caller decodes the document
    whole instead: not JSON, not an object, `items` absent, repeated or not an
    array, NaN, a number infinite as a double, nesting deeper than the standard
    decoder goes, trailing text, and any surrogate escape (`\\ud800`: the standard
    decoder takes a lone one, orjson refuses it). Integers past 64 bits become
    doubles, as orjson decodes them."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __iter__(self) -> Iterator[Any]:
        import json
        from json.decoder import scanstring

        if _SURROGATE_ESCAPE.search(self.raw):  # json decodes a lone one, orjson refuses it
            raise NotStreamable("a surrogate escape")
        try:
            text = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NotStreamable("not UTF-8") from None
        decoder = json.JSONDecoder(
            parse_int=_orjson_int, parse_float=_orjson_float, parse_constant=_no_constant
        )
        decode = decoder.raw_decode
        end = len(text)
        seen_items = False

        def skip(i: int) -> int:
            while i < end and text[i] in _WHITESPACE:
                i += 1
            return i

        def expect(i: int, char: str) -> int:
            i = skip(i)
            if i >= end or text[i] != char:
                raise NotStreamable(f"expected {char!r} at offset {i}")
            return i + 1

        try:
            i = expect(0, "{")
            i = skip(i)
            if i < end and text[i] == "}":
                raise NotStreamable("no items")
            while True:
                i = expect(i, '"')
                key, i = scanstring(text, i, True)
                i = expect(i, ":")
                i = skip(i)
                if key == "items":
                    if seen_items or i >= end or text[i] != "[":
                        raise NotStreamable("items repeated, or not an array")
                    seen_items = True
                    i = skip(i + 1)
                    if i < end and text[i] == "]":
                        i += 1
                    else:
                        while True:
                            item, i = decode(text, i)
                            yield item
                            del item
                            i = skip(i)
                            if i < end and text[i] == ",":
                                i = skip(i + 1)
                                continue
                            i = expect(i, "]")
                            break
                else:
                    _, i = decode(text, i)
                i = skip(i)
                if i < end and text[i] == ",":
                    i += 1
                    continue
                i = expect(i, "}")
                break
        except ValueError as exc:  # json.JSONDecodeError is one
            raise NotStreamable(str(exc)) from None
        except RecursionError:  # orjson goes to 1,024 levels, the standard decoder less
            raise NotStreamable("nested too deep") from None
        if skip(i) != end:
            raise NotStreamable("text after the document")
        if not seen_items:
            raise NotStreamable("no items")
