"""Score policies split as kube-scheduler's Score and NormalizeScore (`raw_score`,
`normalize_score`): the testing helper holds a plugin to the split's promises, and
podsift's own split built-ins keep them."""

from __future__ import annotations

import numpy as np
import pytest

from extender import testing
from extender.api import STATIC, Policy, default_normalize_score
from extender.model.errors import PolicyError


class _ByCpu(Policy):
    """Raw: the node's allocatable cpu in cores; normalized so the biggest scores 100."""

    depends_on = STATIC

    def raw_score(self, pod, nodes):
        return nodes.allocatable("cpu") // 1000

    def normalize_score(self, pod, nodes, raw):
        return default_normalize_score(raw, reverse=False)

    def score(self, pod, nodes):
        return self.normalize_score(pod, nodes, self.raw_score(pod, nodes))


ZONE_Z1 = {"key": "zone", "operator": "In", "values": ["z1"]}
NODES = [testing.node("a", cpu="16"), testing.node("b", cpu="4"), testing.node("c", cpu="8")]


def test_a_split_policy_keeping_its_promises_passes():
    got = testing.run_score(_ByCpu(), testing.make_pod(testing.pod("p")), testing.make_view(NODES))
    assert got == {"a": 100, "b": 25, "c": 50}


def test_a_raw_score_reading_the_other_candidates_is_refused():
    class Relative(_ByCpu):
        def raw_score(self, pod, nodes):  # relative to the candidates: not per node
            cores = nodes.allocatable("cpu") // 1000
            return cores - int(cores.min())

    with pytest.raises(PolicyError, match=r"raw_score\(\) of node 'a' is 0 alone but 12"):
        testing.run_score(Relative(), testing.make_pod(testing.pod("p")), testing.make_view(NODES))


def test_a_score_that_is_not_the_normalized_raw_score_is_refused():
    class Inconsistent(_ByCpu):
        def score(self, pod, nodes):
            return np.full(nodes.n, 7, np.int64)

    with pytest.raises(PolicyError, match=r"score\(\) differs from normalize_score"):
        testing.run_score(
            Inconsistent(), testing.make_pod(testing.pod("p")), testing.make_view(NODES)
        )


@pytest.mark.parametrize("name", ["ImageLocality", "NodeAffinity", "TaintToleration"])
def test_the_split_built_ins_keep_the_promises(name):
    nodes = [
        testing.node(
            "a",
            labels={"zone": "z1"},
            taints=[{"key": "spot", "value": "", "effect": "PreferNoSchedule"}],
            images=[{"names": ["nginx:1"], "sizeBytes": 500 * 1024 * 1024}],
        ),
        testing.node("b", labels={"zone": "z2"}),
        testing.node(
            "c",
            labels={"zone": "z1"},
            images=[{"names": ["nginx:1"], "sizeBytes": 500 * 1024 * 1024}],
        ),
    ]
    the_pod = testing.pod(
        "p",
        containers=[{"name": "c", "image": "nginx:1"}],
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 5,
                        "preference": {"matchExpressions": [ZONE_Z1]},
                    }
                ]
            }
        },
    )
    policy = testing.load_policy(name, {}, "score")
    got = testing.run_score(policy, testing.make_pod(the_pod), testing.make_view(nodes))
    assert len(set(got.values())) > 1, got  # the example tells the nodes apart
