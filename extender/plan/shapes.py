"""Node shapes for `podsift plan grow`: Node objects to add copies of, with a price."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from extender.model.errors import InvalidInput
from extender.model.node import parse_node
from extender.plan.workload import read_document

PRICE_ANNOTATION = "podsift.io/price"


@dataclass(frozen=True)
class Shape:
    name: str
    price: Decimal
    node: dict[str, Any]
    source: str

    def instance(self, name: str) -> dict[str, Any]:
        """A new node of this shape named `name` (its hostname label too)."""
        obj = copy.deepcopy(self.node)
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        meta["uid"] = f"podsift-plan-node/{name}"
        meta.pop("resourceVersion", None)
        labels = meta.get("labels")
        if isinstance(labels, dict) and "kubernetes.io/hostname" in labels:
            labels["kubernetes.io/hostname"] = name
        return obj


def load_shape(path: str) -> Shape:
    doc = read_document(path, "--node-shape")
    if not isinstance(doc, dict) or doc.get("kind") != "Node":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise InvalidInput(f"--node-shape {path}: must be a Node object, got kind {kind!r}")
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput(
            f"--node-shape {path}: the Node needs a metadata.name (the shape's name)"
        )
    try:
        parse_node(doc)
    except InvalidInput as exc:
        raise InvalidInput(f"--node-shape {path}: {exc}") from None
    raw = (meta.get("annotations") or {}).get(PRICE_ANNOTATION, "1")
    try:
        price = Decimal(str(raw))
    except InvalidOperation:
        price = Decimal(-1)
    if not price.is_finite() or price < 0:
        raise InvalidInput(
            f"--node-shape {path}: annotation {PRICE_ANNOTATION} must be a non-negative "
            f"number, got {raw!r}"
        )
    return Shape(name, price, doc, path)


def load_shapes(paths: list[str]) -> list[Shape]:
    """The shapes, cheapest first (ties: the order given); two of one name are refused."""
    shapes = [load_shape(p) for p in paths]
    seen: dict[str, str] = {}
    for s in shapes:
        if s.name in seen:
            raise InvalidInput(f"--node-shape {s.source}: shape {s.name} is also {seen[s.name]}")
        seen[s.name] = s.source
    return sorted(shapes, key=lambda s: s.price)
