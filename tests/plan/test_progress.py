"""The progress bar: on a terminal and for long plans only."""

from __future__ import annotations

import io

from extender.plan import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_only_on_a_terminal_for_long_plans(monkeypatch):
    monkeypatch.setattr("sys.stderr", _Terminal())
    with progress.bar("place", progress.MIN_PODS - 1) as tick:
        assert tick is None
    with progress.bar("place", progress.MIN_PODS) as tick:
        assert callable(tick)
        tick(progress.MIN_PODS)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with progress.bar("place", 10 * progress.MIN_PODS) as tick:
        assert tick is None
