"""Hand-made run summaries, shaped as `bench.report` reads them, for tests of its
ratios and checks without running a server."""

from __future__ import annotations


def run_summary(ms_per_pod: float, p99: float, invalid: int = 0, slow: int = 0) -> dict:
    """One HTTP run's summary: `ms_per_pod`, filter and prioritize p99 `p99` ms with
    `slow` requests over 50 ms each, `invalid` invalid placements."""
    verbs = {v: {"p99_ms": p99, "slow_over_50ms": slow} for v in ("filter", "prioritize")}
    return {
        "ms_per_pod": ms_per_pod,
        "verbs": verbs,
        "last_vs_first_p99": {"per_pod": 1.0},
        "memory": {"steady_rss_mb": 100.0},
        "unschedulable": 0,
        "validation": {"invalid_placements": invalid},
    }
