"""The public plugin API: what it exports exists, is documented, and is enough."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import extender.api as api
import extender.testing as testing
from extender.api import NodeView, PodInfo

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "PLUGINS.md").read_text()


def test_every_exported_name_exists_and_is_documented():
    for module in (api, testing):
        assert module.__all__, module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
            assert re.search(rf"\b{re.escape(name)}\b", GUIDE), f"docs/PLUGINS.md lacks {name}"


def test_every_public_view_member_is_documented():
    public = [m for m in vars(NodeView) if not m.startswith("_") and m not in ("ids",)]
    for member in public:
        assert f"`{member}" in GUIDE, f"docs/PLUGINS.md lacks NodeView.{member}"


def test_every_pod_field_is_documented():
    for field in PodInfo.__dataclass_fields__:
        assert f"`{field}`" in GUIDE, f"docs/PLUGINS.md lacks PodInfo.{field}"


def test_a_plugin_written_against_the_api_alone_runs_in_the_engine():
    """A filter and a score using only extender.api, run through extender.testing."""

    class ZonePenalty(api.Policy):
        takes_args = False
        unresolvable = True

        def filter(self, pod, nodes):
            return nodes.label_values("zone") != None  # noqa: E711 - elementwise

        def reasons(self, pod, nodes, failed):
            return ["node(s) had no zone"] * len(failed)

        def score(self, pod, nodes):
            big = nodes.allocatable("cpu") >= 8000
            return api.default_normalize_score(big.astype(np.int64), reverse=False)

    nodes = [
        testing.node("a", cpu="16", labels={"zone": "z1"}),
        testing.node("b", cpu="4", labels={"zone": "z2"}),
        testing.node("c", cpu="16"),
    ]
    the_pod = testing.make_pod(testing.pod("p"))
    policy = ZonePenalty()
    assert testing.run_filter(policy, the_pod, testing.make_view(nodes)) == {
        "a": "",
        "b": "",
        "c": "node(s) had no zone",
    }
    assert testing.run_score(policy, the_pod, testing.make_view(nodes)) == {
        "a": 100,
        "b": 0,
        "c": 100,
    }


class _SmallNodesHopeless:
    """A toy filter: needs label `big`; a node labelled `small` can never get it."""

    name = "NeedsBig"

    def __init__(self, mask_result=None) -> None:
        self.mask_result = mask_result

    def filter(self, pod, nodes):
        return nodes.label_values("big") != None  # noqa: E711 - numpy elementwise

    def reasons(self, pod, nodes, failed):
        return ["not big"] * len(failed)

    def unresolvable_mask(self, pod, nodes, failed):
        if self.mask_result is not None:
            return self.mask_result
        return nodes.label_values("small")[failed] != None  # noqa: E711


def test_run_unresolvable_sorts_failures_as_the_engine_does():
    import pytest

    from extender.model.errors import PolicyError

    view = testing.make_view(
        [
            testing.node("a", labels={"big": "y"}),
            testing.node("b", labels={"small": "y"}),
            testing.node("c"),
        ]
    )
    pod = testing.make_pod(testing.pod("p"))
    assert testing.run_unresolvable(_SmallNodesHopeless(), pod, view) == {"b": True, "c": False}

    class Flagged(_SmallNodesHopeless):
        unresolvable = True
        unresolvable_mask = None  # no mask: the flag decides for every failed node

    assert testing.run_unresolvable(Flagged(), pod, view) == {"b": True, "c": True}
    with pytest.raises(PolicyError, match="unresolvable_mask"):
        testing.run_unresolvable(_SmallNodesHopeless(mask_result=[1, 0]), pod, view)
