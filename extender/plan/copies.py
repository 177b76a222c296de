"""Adding a template's copies to the plan's state, and taking them out again."""

from __future__ import annotations

from extender.cache.state import ClusterState
from extender.model.errors import BindError
from extender.plan.workload import Template


def bind_refusal(exc: BindError, node: str) -> str:
    """A refused bind as a reason: what is short, the same for every copy and node."""
    return "/bind refuses: " + str(exc).split(f" on {node}: ", 1)[-1]


class Copies:
    """Numbers the copies of one template and remembers which are bound, to undo them."""

    def __init__(self, state: ClusterState, template: Template) -> None:
        self.state = state
        self.template = template
        self.next = 0
        self.bound: list[str] = []

    def bind(self, node: str) -> str | None:
        """Bind the next copy to `node`: None, or the state's reason for refusing."""
        info = self.template.copy_info(self.next)
        try:
            self.state.bind_parsed(info, node)
        except BindError as exc:
            return bind_refusal(exc, node)
        self.next += 1
        self.bound.append(info.uid)
        return None

    def undo(self) -> None:
        for uid in self.bound:
            self.state.remove_pod(uid)
        self.bound.clear()
