"""Helpers for validating a policy's args the way kube-scheduler validates plugin args.

kube-scheduler reports every problem of a plugin's args at once, each with its
field path; `ArgsErrors` collects them and raises one ConfigError.
"""

from __future__ import annotations

from typing import Any

from extender.model.errors import ConfigError


class ArgsErrors:
    """Collects `path: message` errors and raises them together as one ConfigError."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.errors: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def unknown_keys(self, raw: dict, allowed: tuple[str, ...], path: str = "") -> None:
        """Unknown fields are errors, as kube-scheduler's strict decoding makes them."""
        for key in raw:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.add(where, f"unknown field; known fields: {', '.join(allowed)}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigError(f"{self.plugin}: invalid args: " + "; ".join(self.errors))


def as_int(value: Any) -> int | None:
    """An integer JSON value (a bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
