"""Reading fields of decoded JSON: shape errors become InvalidInput naming the field.

Pods and nodes arrive as plain dicts (orjson), never as client models; every
field is read through these, so a wrong type anywhere yields a message like
`spec.containers[0].ports: must be a list, got str` instead of a traceback.
A missing (None) field reads as its empty default.
"""

from __future__ import annotations

from typing import Any

from extender.model.errors import InvalidInput


def object_field(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be an object, got {type(value).__name__}", field)
    return value


def list_field(value: Any, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"must be a list, got {type(value).__name__}", field)
    return value


def string_field(value: Any, field: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"must be a string, got {type(value).__name__}", field)
    return value or default


def as_integer(value: Any) -> int | None:
    """A JSON integer as int, or None for anything else. As in JSON Schema (and the
    OpenAPI document), 3.0 is the integer 3; true is not a number."""
    if value.__class__ is int:
        return value
    if value.__class__ is float and value.is_integer():
        return int(value)
    return None


def integer_field(value: Any, field: str, default: int = 0) -> int:
    if value is None:
        return default
    number = as_integer(value)
    if number is None:
        raise InvalidInput(f"must be an integer, got {type(value).__name__}", field)
    return number


def string_map(value: Any, field: str) -> dict[str, str]:
    """A map of strings (labels, annotations, a nodeSelector's shape)."""
    mapping = object_field(value, field)
    for key, item in mapping.items():
        if item.__class__ is not str:
            raise InvalidInput(f"must be a string, got {type(item).__name__}", f"{field}.{key}")
    return mapping
