"""What the node table and the rows of full Node objects share: both keep parsed nodes
as rows of numpy columns, and grow, intern and derive those columns the same way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from extender.model.memo import Memo
from extender.model.node import NodeInfo
from extender.model.taints import Taint

#: derived columns kept per table (image and annotation columns), least recently used
#: dropped first: 1,024 columns and 32 MiB (an object or int64 column is 40 KB at 5,000 nodes)
COLUMN_CACHE_SIZE = 1024
COLUMN_CACHE_BYTES = 32 * 1024 * 1024


def column_cache() -> Memo:
    return Memo("derived_columns", COLUMN_CACHE_SIZE, COLUMN_CACHE_BYTES)


def grown(column: np.ndarray, new_size: int) -> np.ndarray:
    """A copy of `column` with `new_size` rows, the new ones zero (None for objects)."""
    out = np.empty(new_size, object) if column.dtype == object else np.zeros(new_size, column.dtype)
    out[: len(column)] = column
    return out


def intern_taint_set(
    taints: tuple[Taint, ...], sets: list[tuple[Taint, ...]], ids: dict[tuple[Taint, ...], int]
) -> int:
    """The id of this taint set, appending it to `sets` the first time: ids only grow,
    so an id keeps its meaning for as long as `sets` lives."""
    tid = ids.get(taints)
    if tid is None:
        tid = ids[taints] = len(sets)
        sets.append(taints)
    return tid


class AnnotationColumns:
    """Per annotation key, its value on every row (None where absent), read-only.

    Annotations are not indexed (no built-in policy reads them): the first request
    for a key walks the rows once; the owner drops every column (`clear`) when a
    row with annotations comes or goes, or the rows grow."""

    def __init__(self) -> None:
        self._columns = column_cache()

    def clear(self) -> None:
        self._columns.clear()

    def column(self, key: str, infos: Sequence[NodeInfo | None], capacity: int) -> np.ndarray:
        column = self._columns.get(key)
        if column is None:
            column = np.full(capacity, None, dtype=object)
            for row, info in enumerate(infos):
                if info is not None and info.annotations:
                    for k, v in info.annotations:
                        if k == key:
                            column[row] = v
                            break
            column.flags.writeable = False
            self._columns.put(key, column, column.nbytes + len(key) + 64)
        return column
