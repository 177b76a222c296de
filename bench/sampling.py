"""Which nodes a request of the HTTP runs carries: all of them, or kube-scheduler's sample.

kube-scheduler does not filter every node of a large cluster for every pod.
With `percentageOfNodesToScore` unset (0, "adaptive") it stops once it has
found `numFeasibleNodesToFind` feasible nodes: all nodes below 100, else
(50 - nodes/125)% of them, at least 5%, at least 100 nodes (420 of 1,000,
500 of 5,000, 750 of 15,000). It scans from a start index that rotates from
one pod to the next (`nextStartNodeIndex`, advanced by the nodes the cycle
processed), and an extender's /filter receives the feasible nodes so found.

The bench approximates that with a rotating window over the node list, of
the sampled size: pod i (in queue order) gets the nodes from (i * size) mod
n on, wrapping around. That is the same as kube-scheduler when its own
filters pass every node it looks at (it then processes exactly `size` nodes
a cycle); when they reject some, it scans further and sends `size` feasible
ones, which the window does not model. The extender's cost depends on how
many names a request carries, which the window gets right.

`--sample`: `all` (every node, every request), `auto` (the adaptive
default above) or a percentage 1..100 (an explicit `percentageOfNodesToScore`,
still at least 100 nodes). With a sample, every `--all-nodes-every`-th pod
(pod 0, K, 2K, ...) carries every node instead: the all-nodes probe, whose
latencies the report shows apart, measured at the same fill as its neighbours.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

MIN_FEASIBLE_NODES = 100  # kube-scheduler's minFeasibleNodesToFind
MIN_FEASIBLE_PERCENTAGE = 5  # kube-scheduler's minFeasibleNodesPercentageToFind
ALL = "all"
AUTO = "auto"
DEFAULT_PROBE_EVERY = 100  # with a sample: one pod in 100 carries every node
# Above this many node-pods (Kubernetes' documented 5,000 nodes x 150,000 pods),
# the default is the sample: every pod over every name would take hours.
DEFAULT_ALL_NODES_LIMIT = 5000 * 150000


def nodes_to_find(total: int, percentage: int = 0) -> int:
    """How many nodes kube-scheduler looks for out of `total` (0: adaptive percentage)."""
    if total < MIN_FEASIBLE_NODES:
        return total
    if percentage == 0:
        percentage = max(50 - total // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(total * percentage // 100, MIN_FEASIBLE_NODES)


def parse_sample(text: str) -> str | int:
    """argparse type of --sample: "all", "auto" or a percentage 1..100."""
    if text in (ALL, AUTO):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected all, auto or 1..100") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value}: a percentage must be 1..100")
    return value


@dataclass(frozen=True)
class Sampling:
    """The node list of each request: a window of `size` names (size == nodes: all),
    and every `probe_every`-th pod (0: none) with every name."""

    nodes: int
    size: int
    probe_every: int = 0

    @property
    def sampled(self) -> bool:
        return self.size < self.nodes

    def is_probe(self, i: int) -> bool:
        """Whether pod i (queue order) carries every node."""
        return self.sampled and self.probe_every > 0 and i % self.probe_every == 0

    def start(self, i: int) -> int:
        """First node of pod i's window (a sampled pod's)."""
        return (i * self.size) % self.nodes

    def window(self, names: list[str], i: int) -> list[str]:
        """The names pod i's /filter carries."""
        if not self.sampled or self.is_probe(i):
            return names
        first = self.start(i)
        end = first + self.size
        if end <= self.nodes:
            return names[first:end]
        return names[first:] + names[: end - self.nodes]

    def describe(self) -> str:
        if not self.sampled:
            return "every node in every request"
        text = (
            f"a rotating window of {self.size} of {self.nodes} nodes a request "
            "(kube-scheduler's numFeasibleNodesToFind)"
        )
        if self.probe_every:
            text += f"; every {self.probe_every}th pod carries all {self.nodes} (all-nodes probe)"
        return text


def choose(
    sample: str | int | None, probe_every: int | None, nodes: int, pods: int
) -> tuple[Sampling, str | None]:
    """The run's Sampling from the flags (None: their defaults), and a note when
    the default picked a sample."""
    note = None
    if sample is None:
        sample = ALL if nodes * pods <= DEFAULT_ALL_NODES_LIMIT else AUTO
        if sample == AUTO:
            note = (
                f"--sample auto by default above {DEFAULT_ALL_NODES_LIMIT:,} node-pods "
                "(5,000 nodes x 150,000 pods): every name in every request would take hours; "
                "--sample all asks for it"
            )
    if sample == ALL:
        size = nodes
    else:
        size = nodes_to_find(nodes, 0 if sample == AUTO else int(sample))
    if probe_every is None:
        probe_every = DEFAULT_PROBE_EVERY
    return Sampling(nodes, min(size, nodes), probe_every if size < nodes else 0), note
