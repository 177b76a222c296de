"""WhatIfView: candidate nodes minus their victims, as /preempt's one engine pass sees them."""

from __future__ import annotations

import numpy as np

from extender.cache.state import ClusterState
from extender.cache.whatif import WhatIfView
from extender.testing import make_pod
from tests.cache.test_podindex import placed
from tests.helpers import make_state, node


def test_what_if_view_subset_keeps_the_victims_out():
    state = make_state(
        [node("a", cpu="2"), node("b", cpu="2")],
        [placed("ua", "a", 1500, 80), placed("ub", "b", 1000, None)],
    )
    ids = np.array([state.table.id_of["a"], state.table.id_of["b"]])
    victims = [[state.pods["ua"]], [state.pods["ub"]]]
    view = WhatIfView(state.table, ids, victims)
    assert view.requested("cpu").tolist() == [0, 0]
    assert view.requested("pods").tolist() == [0, 0]
    wanted = make_pod(placed("x", "", 1, 80)).host_ports
    assert view.port_conflicts(wanted).tolist() == [False, False]
    sub = view.subset(np.array([0]))
    assert sub.requested("cpu").tolist() == [0] and sub.port_conflicts(wanted).tolist() == [False]
    # the table itself is untouched
    assert _requested_cpu(state, "a") == 1500


def _requested_cpu(state: ClusterState, name: str) -> int:
    view, _, _ = state.view([name])
    return int(view.requested("cpu")[0])
