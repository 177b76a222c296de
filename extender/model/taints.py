"""Node taints, pod tolerations, and when a toleration tolerates a taint.

`Toleration.tolerates` is `k8s.io/api/core/v1` Toleration.ToleratesTaint: an
empty effect or key matches any, an empty operator means Equal, Exists ignores
the value. TaintToleration, NodeUnschedulable (which treats a cordon as the
`node.kubernetes.io/unschedulable:NoSchedule` taint) and any plugin share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
TAINT_EFFECTS = (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE)
TOLERATION_OPERATORS = ("Equal", "Exists")
TOLERATION_EFFECTS = ("", *TAINT_EFFECTS)


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # "Equal" or "Exists"
    value: str = ""
    effect: str = ""  # "" matches every effect

    def tolerates(self, taint: Taint) -> bool:
        """Toleration.ToleratesTaint."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


def tolerations_tolerate(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """TolerationsTolerateTaint: whether any of the tolerations tolerates the taint."""
    return any(t.tolerates(taint) for t in tolerations)
