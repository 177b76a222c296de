"""The lean, parsed form of a Node: only what scheduling decisions read."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from extender.model.errors import InvalidInput
from extender.model.fields import as_integer, object_field, string_map
from extender.model.quantity import MAX_AMOUNT, resource_amount
from extender.model.taints import TAINT_EFFECTS, Taint


@dataclass(frozen=True)
class NodeInfo:
    """A node as the cache keeps it. Equality is what decides whether a watch
    event changed anything worth re-indexing."""

    name: str
    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    allocatable: tuple[tuple[str, int], ...]
    unschedulable: bool
    images: tuple[tuple[tuple[str, ...], int], ...]
    # Kept for plugins that read them (a TopoLVM-style capacity annotation, say);
    # no built-in does. Sorted pairs, so equality still spots a real change.
    annotations: tuple[tuple[str, str], ...] = ()


# A cluster's nodes report the same few images and label values again and again, and
# each decoded Node brings its own copy of every string: 5,000 synthetic nodes held
# ~30 MB of image names, sizes and tuples before these were shared (issue 13). An
# image entry ((names...), size) is kept once per distinct entry (cleared past
# IMAGES_KEPT: a bound, not a cache that must hit); label and annotation strings are
# interned (freed with their last user).
IMAGES_KEPT = 65536
_images: dict[tuple[tuple[str, ...], int], tuple[tuple[str, ...], int]] = {}


def _shared_image(entry: tuple[tuple[str, ...], int]) -> tuple[tuple[str, ...], int]:
    if len(_images) > IMAGES_KEPT:
        _images.clear()
    return _images.setdefault(entry, entry)  # one C call: safe across threads


def _interned_pairs(mapping: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Sorted (key, value) pairs with exact str keys and values interned."""
    intern = sys.intern
    return tuple(
        sorted(
            (
                intern(k) if k.__class__ is str else k,
                intern(v) if v.__class__ is str else v,
            )
            for k, v in mapping.items()
        )
    )


def parse_node(obj: Any, field: str = "") -> NodeInfo:
    """Parse a v1.Node JSON object; raises InvalidInput naming the bad field, under
    `field` (the object's place in a request) when given."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"must be a Node object, got {type(obj).__name__}", field)
    at = f"{field}." if field else ""
    meta = object_field(obj.get("metadata"), f"{at}metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("must be a non-empty string", f"{at}metadata.name")
    labels = string_map(meta.get("labels"), f"{at}metadata.labels")
    annotations = string_map(meta.get("annotations"), f"{at}metadata.annotations")
    spec = object_field(obj.get("spec"), f"{at}spec")
    status = object_field(obj.get("status"), f"{at}status")

    taints = []
    raw_taints = spec.get("taints")
    if raw_taints is None:  # null is Go's nil slice; false or 0 is not a list
        raw_taints = []
    if not isinstance(raw_taints, list):
        raise InvalidInput("must be a list", f"{at}spec.taints")
    for i, t in enumerate(raw_taints):
        tf = f"{at}spec.taints[{i}]"
        if not isinstance(t, dict):
            raise InvalidInput("must be an object", tf)
        key, value, effect = t.get("key", ""), t.get("value", ""), t.get("effect", "")
        if not isinstance(key, str) or not key:
            raise InvalidInput("must be a non-empty string", f"{tf}.key")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput("must be a string", f"{tf}.value")
        if effect not in TAINT_EFFECTS:
            raise InvalidInput(f"must be one of {', '.join(TAINT_EFFECTS)}", f"{tf}.effect")
        taints.append(Taint(key, value, effect))

    raw_alloc = status.get("allocatable")
    if raw_alloc is None:
        raw_alloc = status.get("capacity")
    alloc = object_field(raw_alloc, f"{at}status.allocatable")
    allocatable = tuple(
        sorted(
            (res, resource_amount(res, q, f"{at}status.allocatable.{res}"))
            for res, q in alloc.items()
        )
    )

    images = []
    raw_images = status.get("images")
    if raw_images is None:
        raw_images = []
    if not isinstance(raw_images, list):
        raise InvalidInput("must be a list", f"{at}status.images")
    for i, img in enumerate(raw_images):
        if not isinstance(img, dict):
            raise InvalidInput("must be an object", f"{at}status.images[{i}]")
        names = img.get("names")
        names = [] if names is None else names
        size = img.get("sizeBytes")
        size = 0 if size is None else as_integer(size)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidInput("must be a list of strings", f"{at}status.images[{i}].names")
        if size is None or size < 0:
            raise InvalidInput(
                "must be a non-negative integer", f"{at}status.images[{i}].sizeBytes"
            )
        images.append(
            _shared_image((tuple(names), min(size, MAX_AMOUNT)))
        )  # bounded as amounts are

    unschedulable = spec.get("unschedulable")
    if unschedulable is None:  # absent or null: Go's zero value
        unschedulable = False
    if not isinstance(unschedulable, bool):
        raise InvalidInput("must be a boolean", f"{at}spec.unschedulable")
    return NodeInfo(
        name=name,
        labels=_interned_pairs(labels),
        taints=tuple(taints),
        allocatable=allocatable,
        unschedulable=unschedulable,
        images=tuple(images),
        annotations=_interned_pairs(annotations),
    )
