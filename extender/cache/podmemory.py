"""Pods seen in /filter and /prioritize, remembered by UID for the /bind after.

Bounded in count, in estimated bytes and in age. A plain insertion-ordered dict
with the expiry time and size beside each entry: remembering is one dict store
and an occasional sweep of the oldest entries, about 1 us, where cachetools'
TTLCache costs ~8 us on this path (it runs twice per scheduled pod). Not
thread-safe: the caller holds the state lock.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

T = TypeVar("T")

#: what one remembered pod costs before its own footprint (its PodInfo's instance
#: dict, UID and name strings, the entry): the charge of a pod whose spec it shares
POD_BYTES = 1024


class PodMemory(Generic[T]):
    def __init__(
        self, maxsize: int, ttl: float, clock=time.monotonic, max_bytes: int = 1 << 62
    ) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.clock = clock
        self.bytes = 0
        self._items: dict[str, tuple[float, T, int]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, uid: str, value: T, size: int = 0) -> bool:
        """Remember `value` (charged POD_BYTES + `size`); True when `uid` is new."""
        items = self._items
        now = self.clock()
        old = items.pop(uid, None)  # re-insert at the young end
        if old is not None:
            self.bytes -= old[2]
        size += POD_BYTES
        items[uid] = (now + self.ttl, value, size)
        self.bytes += size
        if self.bytes > self.max_bytes or (
            old is None and (len(items) > self.maxsize or len(items) % 64 == 0)
        ):
            self._sweep(now)
        return old is None

    def discard(self, uid: str) -> None:
        """Forget `uid` at once (its pod is bound: nothing needs the spec any more)."""
        old = self._items.pop(uid, None)
        if old is not None:
            self.bytes -= old[2]

    def get(self, uid: str) -> T | None:
        entry = self._items.get(uid)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._items[uid]
            self.bytes -= entry[2]
            return None
        return entry[1]

    def _sweep(self, now: float) -> None:
        """Drop expired entries from the old end, then the oldest over the bounds."""
        items = self._items
        while items:
            uid = next(iter(items))
            entry = items[uid]
            if entry[0] > now and len(items) <= self.maxsize and self.bytes <= self.max_bytes:
                break
            del items[uid]
            self.bytes -= entry[2]
