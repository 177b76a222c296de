"""Which resource names the scheduler counts, and how it classes them.

kube-scheduler's `Resource.Add` keeps cpu, memory, ephemeral-storage and the
"scalar" resources (extended resources, hugepages-*, *kubernetes.io/*,
attachable-volumes-*); every other name in a pod's requests is ignored. The
scoring plugins treat scalar resources differently from the three native ones,
and NodeResourcesFit's ignore lists apply to extended resources only.
"""

from __future__ import annotations

import functools
from typing import Any

from extender.model.names import is_dns1123_subdomain, is_name_part

NATIVE_RESOURCES = ("cpu", "memory", "ephemeral-storage")
HUGEPAGES_PREFIX = "hugepages-"


def is_extended_resource(name: str) -> bool:
    """`v1helper.IsExtendedResourceName`: outside kubernetes.io/, and a qualified
    name once prefixed with "requests." (as a resource quota would name it)."""
    if "/" not in name or "kubernetes.io/" in name or name.startswith("requests."):
        return False
    prefix, _, short = ("requests." + name).partition("/")
    return "/" not in short and is_dns1123_subdomain(prefix) and is_name_part(short)


# the longest resource name worth caching: a qualified name is at most 253 + 1 + 63
_CACHED_NAME_LENGTH = 320


def is_tracked_resource(name: str) -> bool:
    """Whether kube-scheduler counts a request of this name: the native resources
    and the scalar ones. "pods" and unknown names are ignored, as upstream does.
    Cached (4,096 names) up to the longest valid name, so no key is ever large."""
    if len(name) > _CACHED_NAME_LENGTH:
        return _is_tracked(name)
    return _is_tracked_cached(name)


def _is_tracked(name: str) -> bool:
    return (
        name in NATIVE_RESOURCES
        or name.startswith(HUGEPAGES_PREFIX)
        or name.startswith("attachable-volumes-")
        or "kubernetes.io/" in name
        or is_extended_resource(name)
    )


_is_tracked_cached = functools.lru_cache(maxsize=4096)(_is_tracked)


def is_scalar_resource(name: str) -> bool:
    """`schedutil.IsScalarResourceName`: a counted resource other than the native three."""
    return name not in NATIVE_RESOURCES and is_tracked_resource(name)


def lacks_room(allocatable: Any, requested: Any, amount: Any) -> Any:
    """NodeResourcesFit's fitsRequest test, shared by /filter and /bind's re-check:
    True where `amount` more does not fit (`allocatable - requested < amount`).

    Works on ints and on int64 arrays alike. Every operand podsift keeps is in
    0..OVER_MAX_AMOUNT (model/quantity.py), so the difference cannot wrap.
    """
    return allocatable - requested < amount
