"""Score normalization helpers, as kube-scheduler's `framework/plugins/helper`."""

from __future__ import annotations

import numpy as np

from extender.framework.policy import MAX_NODE_SCORE


def default_normalize_score(
    raw: np.ndarray, reverse: bool, max_priority: int = MAX_NODE_SCORE
) -> np.ndarray:
    """helper.DefaultNormalizeScore in int64: scale [0, max(raw)] onto [0, max_priority].

    With `reverse`, the highest raw value scores 0 and 0 scores max_priority. All-zero
    input stays 0 (or becomes max_priority when reversed), as upstream. Integer
    division truncates, as Go's does for the non-negative values scores are.
    """
    scores = np.asarray(raw, dtype=np.int64)
    if scores.size == 0:
        return scores.copy()
    max_count = int(scores.max())
    if max_count <= 0:
        if reverse:
            return np.full(scores.shape, max_priority, dtype=np.int64)
        return scores.copy()
    scaled = (np.int64(max_priority) * scores) // np.int64(max_count)
    return np.int64(max_priority) - scaled if reverse else scaled
