"""Read-only constant answers (all pass, all zero) shared across requests.

The built-ins' names for `extender.api`'s `all_pass`, `all_fail` and `zero_scores`:
one read-only array per (size, value) serves every request that answers it, and
the engine recognizes them, skipping the work of combining them (docs/PLUGINS.md,
"Rules that keep podsift fast and exact").
"""

from __future__ import annotations

from extender.api import all_fail, all_pass
from extender.api import zero_scores as zero_scores

all_true = all_pass  # bool[n], every element True, read-only
all_false = all_fail  # bool[n], every element False, read-only

__all__ = ["all_false", "all_true", "zero_scores"]
