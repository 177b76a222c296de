"""A least-recently-used table bounded in entries and in estimated bytes.

Every cache podsift keeps of what requests bring (parsed pod specs, compiled
selectors, label masks, name lists, ...) is one of these, so that no stream of
distinct requests can grow the worker without bound: a count alone does not
bound memory when one entry can be a megabyte.

The caller gives each entry's size when it stores it, an estimate it can make
for free (the length of the key's JSON, an array's `nbytes`): never a deep
`sys.getsizeof` walk on the hot path. An entry larger than `max_entry_bytes` is
not stored at all (it would push out many useful ones). Not thread-safe: the
owner holds its lock around `get` and `put`. Live tables register themselves
(weakly) so /metrics can report their entries and bytes by name.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["Memo", "memo_stats"]

_MISSING: Any = object()
_live: weakref.WeakSet[Memo] = weakref.WeakSet()


class Memo:
    __slots__ = (
        "name",
        "max_entries",
        "max_bytes",
        "max_entry_bytes",
        "bytes",
        "evictions",
        "refused",
        "_lru",
        "_items",
        "__weakref__",
    )

    def __init__(
        self,
        name: str,
        max_entries: int,
        max_bytes: int,
        max_entry_bytes: int | None = None,
        lru: bool = True,
    ) -> None:
        self.name = name
        # lru=False: oldest stored goes first, and a hit costs no second hash of the
        # key (worth it for keys that do not cache their hash, like long tuples)
        self._lru = lru
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 8 if max_entry_bytes is None else max_entry_bytes
        self.bytes = 0  # estimated bytes of the entries held
        self.evictions = 0  # entries pushed out by the bounds
        self.refused = 0  # entries too big to be stored
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        _live.add(self)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value stored under `key` (with `lru`, now the most recently used), else `default`."""
        entry = self._items.get(key, _MISSING)
        if entry is _MISSING:
            return default
        if self._lru:
            self._items.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any, size: int) -> bool:
        """Store `value` as `size` estimated bytes, evicting the least recently used
        entries past either bound; False (and nothing stored) when it is too big."""
        items = self._items
        old = items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if size > self.max_entry_bytes:
            self.refused += 1
            return False
        items[key] = (value, size)
        self.bytes += size
        if len(items) > self.max_entries or self.bytes > self.max_bytes:
            self._evict()
        return True

    def pop(self, key: Hashable) -> Any:
        entry = self._items.pop(key, None)
        if entry is None:
            return None
        self.bytes -= entry[1]
        return entry[0]

    def _evict(self) -> None:
        items = self._items
        while items and (len(items) > self.max_entries or self.bytes > self.max_bytes):
            _, (_, size) = items.popitem(last=False)
            self.bytes -= size
            self.evictions += 1

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


def memo_stats() -> dict[str, tuple[int, int]]:
    """{name: (entries, estimated bytes)} summed over every live table of that name."""
    out: dict[str, tuple[int, int]] = {}
    for memo in list(_live):
        entries, size = out.get(memo.name, (0, 0))
        out[memo.name] = (entries + len(memo._items), size + memo.bytes)
    return out
