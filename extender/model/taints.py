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
    """TolerationsTolerateTaint: whether any of the tolerations tolerates the taint.

    Walks the tolerations: fine for one taint; to judge many taints against the
    same tolerations, build a `TolerationIndex` once."""
    return any(t.tolerates(taint) for t in tolerations)


_ANY_VALUE = object()  # an Exists toleration: any value of the taint


class TolerationIndex:
    """A pod's tolerations as a set, so judging a taint costs O(1), not O(tolerations).

    A toleration tolerates a taint when its key is empty or the taint's, its
    effect empty or the taint's, and it is Exists or Equal to the taint's value
    (`Toleration.tolerates`). So it is enough to look up the eight combinations
    (key or "", effect or "", value or any) in a set of the tolerations' own
    (key, effect, value) triples: a pod with 10,000 tolerations over nodes with
    thousands of distinct taints costs tolerations + taints, not their product.
    An operator other than Equal/Exists tolerates nothing and is left out.
    """

    __slots__ = ("_triples",)

    def __init__(self, tolerations: Iterable[Toleration]) -> None:
        triples = set()
        for t in tolerations:
            if t.operator in ("", "Equal"):
                triples.add((t.key, t.effect, t.value))
            elif t.operator == "Exists":
                triples.add((t.key, t.effect, _ANY_VALUE))
        self._triples = frozenset(triples)

    def __len__(self) -> int:
        return len(self._triples)

    def tolerates(self, taint: Taint) -> bool:
        """TolerationsTolerateTaint, by at most eight set lookups."""
        triples = self._triples
        if not triples:
            return False
        for key in (taint.key, ""):
            for effect in (taint.effect, ""):
                if (key, effect, _ANY_VALUE) in triples or (key, effect, taint.value) in triples:
                    return True
        return False
