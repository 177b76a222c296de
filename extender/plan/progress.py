"""A progress bar on a terminal for long plans (tqdm, the benchmark's, when installed)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

# below this many pods a plan takes well under a second: no bar
MIN_PODS = 20_000


@contextlib.contextmanager
def bar(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """tqdm's update for `total` pods when stderr is a terminal; None otherwise."""
    if total < MIN_PODS or not sys.stderr.isatty():
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # the bench extra is not installed: plan without a bar
        yield None
        return
    with tqdm(total=total, desc=label, unit="pod", leave=False) as b:
        yield b.update
