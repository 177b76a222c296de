"""The extender without HTTP: the benchmark's in-process mode.

Takes and returns the wire protocol's JSON-shaped objects and runs exactly the
code the HTTP verbs run (Service), so the difference between the two modes is
the protocol cost alone.
"""

from __future__ import annotations

import random
from typing import Any

from extender.cache.state import ClusterState
from extender.engine.config import load_configuration, parse_configuration
from extender.engine.engine import Engine
from extender.wire.service import Service


class InProcessExtender:
    def __init__(
        self, items: list[dict], config_path: str | None = None, config: Any = None
    ) -> None:
        """`config_path` names a policy configuration file; `config` is such a
        document already decoded (the benchmark's scripts build theirs in code)."""
        self.state = ClusterState()
        self.state.load_items(items)
        self.state.set_ready(True)
        if config is not None:
            self.engine = Engine(parse_configuration(config, "config"))
        else:
            self.engine = Engine(load_configuration(config_path))
        self.service = Service(self.state, self.engine)
        # the engine's filters ask what the state's bind check asks (room, host ports)
        self._room_checked = self.engine.checks_room()

    def filter(self, args: dict) -> dict[str, Any]:
        return self.service.filter(args)

    def prioritize(self, args: dict) -> list[dict[str, Any]]:
        names, scores = self.service.prioritize(args)
        return [{"Host": n, "Score": s} for n, s in zip(names, scores.tolist())]

    def bind(self, args: dict) -> dict[str, str]:
        return self.service.bind(args)

    def explain(self, args: dict) -> dict[str, Any]:
        return self.service.explain(args)

    def schedule_one(
        self, pod: dict, node_names: list[str], rng: random.Random | None = None
    ) -> str | None:
        """Filter, score, pick and bind in one engine pass; the chosen node or None.

        Ties go to the first node in order, or to a random one of the best with `rng`."""
        info = self.service.pod({"Pod": pod}, remember=False)
        state = self.state
        with state.lock:
            view, known, _ = state.view(node_names)
            try:
                pos = self.engine.select(info, view, rng)
            except Exception:
                state.remember(info)  # as before: remembered whatever the pass raised
                raise
            if pos < 0:
                state.remember(info)  # kept for a /bind, as a /filter keeps it
                return None
            nid = int(view.ids[pos])
            # filtered under this lock hold: nothing to re-check but what the filters
            # did not ask; the same state as remember() and bind(uid, node) leave
            state.bind_chosen(info, nid, self._room_checked)
        return state.table.names_arr[nid]
