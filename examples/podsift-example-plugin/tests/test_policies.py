"""The example policies, tested the way a plugin author tests theirs: only
`extender.testing` (real views, the engine's checks) and the plugin itself."""

from __future__ import annotations

import pytest
from podsift_example_plugin import CapacityAnnotation, PreferLabel, RequireLabel

from extender.api import ConfigError
from extender.testing import (
    load_policy,
    make_objects_view,
    make_pod,
    make_view,
    node,
    pod,
    run_filter,
    run_score,
)

NODES = [
    node("fast-nvme", labels={"example.com/disk": "nvme"}),
    node("fast-ssd", labels={"example.com/disk": "ssd"}),
    node("slow", labels={"example.com/disk": "hdd"}),
    node("bare"),
]
WEB = make_pod(pod("web"))


def test_prefer_label_scores_100_or_0():
    view = make_view(NODES)
    assert run_score(PreferLabel({"key": "example.com/disk"}), WEB, view) == {
        "fast-nvme": 100,
        "fast-ssd": 100,
        "slow": 100,
        "bare": 0,
    }
    policy = PreferLabel({"key": "example.com/disk", "values": ["nvme", "ssd"]})
    assert list(run_score(policy, WEB, view).values()) == [100, 100, 0, 0]


def test_require_label_filters_with_a_reason():
    policy = RequireLabel({"key": "example.com/disk", "values": ["nvme"]})
    assert policy.unresolvable is True
    reason = "node(s) didn't have label example.com/disk in (nvme)"
    assert run_filter(policy, WEB, make_view(NODES)) == {
        "fast-nvme": "",
        "fast-ssd": reason,
        "slow": reason,
        "bare": reason,
    }


def test_full_node_objects_give_the_same_answers():
    policy = RequireLabel({"key": "example.com/disk"})
    assert run_filter(policy, WEB, make_objects_view(NODES)) == run_filter(
        policy, WEB, make_view(NODES)
    )


@pytest.mark.parametrize(
    "args",
    [{}, {"key": ""}, {"key": "a", "values": []}, {"key": "a", "values": "x"}, {"key": "a b"}],
)
def test_invalid_args_are_config_errors(args):
    for cls in (PreferLabel, RequireLabel):
        with pytest.raises(ConfigError):
            cls(args)


def test_unknown_args_are_config_errors():
    with pytest.raises(ConfigError, match="unknown args"):
        PreferLabel({"key": "a", "value": "b"})


def test_loaded_by_name_through_the_entry_point():
    policy = load_policy("RequireLabel", {"key": "example.com/disk"}, "filter")
    assert type(policy) is RequireLabel and policy.name == "RequireLabel"


# ---- CapacityAnnotation: a node annotation compared with a pod annotation

KEY = "capacity.example.com/ssd"
GI = 1 << 30
DISKS = [
    node("big", annotations={KEY: str(100 * GI)}),
    node("small", annotations={KEY: str(5 * GI)}),
    node("none"),
    node("garbled", annotations={KEY: "lots"}),
]


def test_capacity_annotation_keeps_nodes_with_enough_room():
    policy = CapacityAnnotation({"key": KEY})
    needs_10gi = make_pod(pod("db", annotations={KEY: str(10 * GI)}))
    short = f"node(s) didn't have enough {KEY}"
    expected = {"big": "", "small": short, "none": short, "garbled": short}
    assert run_filter(policy, needs_10gi, make_view(DISKS)) == expected
    assert run_filter(policy, needs_10gi, make_objects_view(DISKS)) == expected


def test_capacity_annotation_ignores_pods_without_the_annotation():
    policy = CapacityAnnotation({"key": KEY})
    assert set(run_filter(policy, WEB, make_view(DISKS)).values()) == {""}


def test_capacity_annotation_refuses_an_unreadable_request():
    policy = CapacityAnnotation({"key": KEY})
    odd = make_pod(pod("odd", annotations={KEY: "10Gi"}))
    assert "" not in run_filter(policy, odd, make_view(DISKS)).values()


@pytest.mark.parametrize("args", [{}, {"key": "not a key"}, {"key": KEY, "extra": 1}])
def test_capacity_annotation_args(args):
    with pytest.raises(ConfigError):
        CapacityAnnotation(args)
