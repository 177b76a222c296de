"""Keep the cyclic GC from walking the long-lived cluster state.

The cache holds a few objects per pod (its record, its remembered spec), and
with 150,000 pods a full collection over them takes ~0.1-0.2 s on this kind of
machine: a latency spike on whatever request triggers it, growing with the
cluster. These objects hold no reference cycles (they are freed by reference
counting), so the collector gains nothing from scanning them.

After every `every` new long-lived objects, one `gc.collect()` (cheap: objects
frozen earlier are not scanned) clears any young cyclic garbage, then
`gc.freeze()` moves the survivors out of the collector's view. Frozen objects
are still freed by reference counting when the cache drops them; only a cycle
that forms after freezing would be kept, and the cache creates none.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect young cyclic garbage, then move every survivor out of the collector's view.

    Called once the state is built (server start) and by FreezeAfter as it grows."""
    gc.collect()
    gc.freeze()


class FreezeAfter:
    def __init__(self, every: int = 4096) -> None:
        self.every = every
        self._pending = 0

    def note(self, count: int = 1) -> None:
        """Count `count` new long-lived objects; freeze when enough piled up."""
        self._pending += count
        if self._pending >= self.every:
            self.freeze_now()

    def freeze_now(self) -> None:
        self._pending = 0
        if gc.isenabled():  # disabled (a plan, a load under no_cyclic_gc): nothing walks them
            freeze_long_lived()
