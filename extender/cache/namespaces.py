"""Namespace labels, for the namespaceSelector of inter-pod affinity terms.

Only the labels are kept, by namespace name. `epoch` bumps on every change so
caches of selector verdicts over namespaces know when to start afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from extender.model.errors import InvalidInput
from extender.model.fields import object_field, string_field, string_map


def parse_namespace(obj: Any) -> tuple[str, Mapping[str, str]]:
    """(name, labels) of a v1.Namespace; InvalidInput naming the field."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"must be a Namespace object, got {type(obj).__name__}", "namespace")
    metadata = object_field(obj.get("metadata"), "metadata")
    name = string_field(metadata.get("name"), "metadata.name")
    if not name:
        raise InvalidInput("must be set", "metadata.name")
    labels = string_map(metadata.get("labels"), "metadata.labels")
    return name, MappingProxyType(dict(labels))


class NamespaceLabels:
    """Labels by namespace name. Not thread-safe: ClusterState's lock guards it."""

    __slots__ = ("_labels", "epoch")

    def __init__(self) -> None:
        self._labels: dict[str, Mapping[str, str]] = {}
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._labels)

    def get(self, name: str) -> Mapping[str, str] | None:
        """The namespace's labels; None when podsift does not know the namespace."""
        return self._labels.get(name)

    def set(self, name: str, labels: Mapping[str, str]) -> bool:
        if self._labels.get(name) == labels:
            return False
        self._labels[name] = labels
        self.epoch += 1
        return True

    def remove(self, name: str) -> bool:
        if self._labels.pop(name, None) is None:
            return False
        self.epoch += 1
        return True

    def snapshot(self) -> dict[str, Mapping[str, str]]:
        return dict(self._labels)

    def replace(self, items: Mapping[str, Mapping[str, str]]) -> None:
        if dict(items) != self._labels:
            self._labels = dict(items)
            self.epoch += 1
