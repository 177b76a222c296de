"""Pods seen in /filter and /prioritize, remembered by UID for the /bind after.

Bounded in count and in age. A plain insertion-ordered dict with the expiry
time beside each entry: remembering is one dict store and an occasional sweep
of the oldest entries, about 1 us, where cachetools' TTLCache costs ~8 us on
this path (it runs twice per scheduled pod). Not thread-safe: the caller holds
the state lock.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

T = TypeVar("T")


class PodMemory(Generic[T]):
    def __init__(self, maxsize: int, ttl: float, clock=time.monotonic) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self.clock = clock
        self._items: dict[str, tuple[float, T]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, uid: str, value: T) -> T | None:
        """Remember `value` for `uid`; the value it replaces, unless that had expired."""
        items = self._items
        now = self.clock()
        old = items.pop(uid, None)  # re-insert at the young end
        items[uid] = (now + self.ttl, value)
        if old is None:
            if len(items) > self.maxsize or len(items) % 64 == 0:
                self._sweep(now)
            return None
        return old[1] if old[0] > now else None

    def get(self, uid: str) -> T | None:
        entry = self._items.get(uid)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._items[uid]
            return None
        return entry[1]

    def _sweep(self, now: float) -> None:
        """Drop expired entries from the old end, then the oldest over the bound."""
        items = self._items
        while items:
            uid = next(iter(items))
            if items[uid][0] > now and len(items) <= self.maxsize:
                break
            del items[uid]
