"""policies/helper/constants.py: the shared "every node passes" and "all zero" answers."""

from __future__ import annotations

import numpy as np
import pytest

from policies.helper.constants import all_false, all_true, zero_scores


@pytest.mark.parametrize("n", [0, 1, 1000])
def test_constant_answers_are_right_and_read_only(n):
    for arr, dtype, value in ((all_true(n), bool, True), (all_false(n), bool, False),
                              (zero_scores(n), np.int64, 0)):  # fmt: skip
        assert arr.shape == (n,) and arr.dtype == dtype and (arr == value).all()
        assert not arr.flags.writeable
        if n:
            with pytest.raises(ValueError):
                arr[0] = not value
    assert all_true(n) is all_true(n)  # one array per size, not one per request
