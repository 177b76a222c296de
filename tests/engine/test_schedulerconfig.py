"""A KubeSchedulerConfiguration as `--config` (docs/CONTRACT.md §4): the profile's
effective filter and score plugins as kube-scheduler 1.34 computes them
(v1 defaults, mergePluginSet, the framework's multiPoint expansion, score
weights), its pluginConfig args, and what podsift leaves to kube-scheduler."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.api import Policy
from extender.engine.config import (
    DEFAULT_FILTERS,
    DEFAULT_SCORES,
    default_configuration,
    load_configuration,
    parse_configuration,
)
from extender.engine.engine import Engine
from extender.engine.schedulerconfig import DEFAULT_MULTI_POINT
from extender.framework import registry
from extender.model.errors import ConfigError
from tests.helpers import make_pod, make_view, node, pod

ROOT = Path(__file__).resolve().parents[2]
API = "kubescheduler.config.k8s.io/v1"


def ksc(*profiles: dict, **top) -> dict:
    doc = {"apiVersion": API, "kind": "KubeSchedulerConfiguration", **top}
    if profiles:
        doc["profiles"] = list(profiles)
    return doc


def names(entries) -> list[str]:
    return [e.name for e in entries]


def weights(entries) -> dict[str, int]:
    return {e.name: e.weight for e in entries}


def ours(names_: list[str]) -> list[str]:
    """The names podsift implements, in order (PodTopologySpread and InterPodAffinity
    join the effective sets by themselves once podsift registers them)."""
    known = set(registry.available())
    return [n for n in names_ if n in known]


# kube-scheduler 1.34's default profile, filter and score points after multiPoint
# expansion, in the framework's order (default_plugins.go).
UPSTREAM_FILTERS = [
    "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
    "NodeResourcesFit", "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding", "VolumeZone",
    "PodTopologySpread", "InterPodAffinity", "DynamicResources",
]  # fmt: skip
UPSTREAM_SCORES = {
    "TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
    "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1,
}  # fmt: skip


def test_an_empty_configuration_is_kube_schedulers_default_profile():
    cfg = parse_configuration(ksc(), "k.yaml")
    assert names(cfg.filters) == ours(UPSTREAM_FILTERS)
    assert weights(cfg.scores) == {n: w for n, w in UPSTREAM_SCORES.items() if n in ours([n])}
    # the same policies as podsift's own default
    default = default_configuration()
    assert names(cfg.filters)[: len(DEFAULT_FILTERS)] == list(DEFAULT_FILTERS)
    assert weights(cfg.scores).items() >= dict(DEFAULT_SCORES).items()
    assert all(e.args == {} for e in (*cfg.filters, *cfg.scores))
    assert default.filters == cfg.filters[: len(default.filters)]
    (warning,) = cfg.warnings
    assert warning.startswith(
        "k.yaml: profile 'default-scheduler': not implemented by podsift, left to kube-scheduler: "
    )
    for dropped in ("VolumeBinding (filter+score)", "VolumeZone (filter)", "NodeVolumeLimits"):
        assert dropped in warning
    for quiet in ("PrioritySort", "DefaultBinder", "DefaultPreemption", "SchedulingGates"):
        assert quiet not in warning  # not filter or score plugins


@pytest.mark.parametrize("variant", ["sidecar", "standalone"])
def test_the_shipped_podsift_profile(variant):
    """The repository's own scheduler configuration: the scores podsift computes are off
    in-tree (the extender gives them), every other in-tree plugin stays on."""
    path = ROOT / "manifests" / variant / "scheduler-config.yaml"
    cfg = load_configuration(str(path), "podsift")
    assert names(cfg.filters) == ours(UPSTREAM_FILTERS)
    # the in-tree scores the profile keeps on, those podsift implements (PodTopologySpread,
    # InterPodAffinity once registered) at their default weights
    kept_scores = ["PodTopologySpread", "InterPodAffinity"]
    assert weights(cfg.scores) == {n: UPSTREAM_SCORES[n] for n in ours(kept_scores)}
    (warning,) = cfg.warnings
    assert f"{path}: profile 'podsift': " in warning
    # kept in-tree, so listed as left to kube-scheduler, score included
    for kept in ("VolumeBinding", *(n for n in kept_scores if n not in ours(kept_scores))):
        assert f"{kept} (filter+score)" in warning
    if not cfg.scores:
        assert warning.endswith("no score remains: every node scores 0")
    assert "\n" not in warning
    # the first profile is the default: the same one here
    assert load_configuration(str(path)) == cfg


def test_profile_by_name_and_clear_errors_for_unknown_names():
    doc = ksc(
        {"schedulerName": "default-scheduler"},
        {"schedulerName": "bin-packing", "plugins": {"score": {"disabled": [{"name": "*"}]}}},
    )
    assert names(parse_configuration(doc, "k.yaml").scores) != []
    assert parse_configuration(doc, "k.yaml", "bin-packing").scores == ()
    with pytest.raises(ConfigError) as err:
        parse_configuration(doc, "k.yaml", "podsift")
    assert str(err.value) == (
        "--profile podsift: no such profile in k.yaml; its profiles (schedulerName): "
        "default-scheduler, bin-packing"
    )


@pytest.mark.parametrize(
    "doc, message",
    [
        (ksc({}, {"schedulerName": "b"}), r"profiles\[0\].schedulerName: every profile of several"),
        (ksc({"schedulerName": "a"}, {"schedulerName": "a"}), "schedulerName 'a' is used twice"),
        ({**ksc(), "apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "must be apiVersion"),
        (ksc(profile=[]), r"unknown field\(s\) profile"),
        (ksc({"plugins": {"scores": {}}}), r"plugins: unknown field\(s\) scores"),
        (ksc({"plugin": {}}), r"unknown field\(s\) plugin;"),
        (
            ksc({"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weigth": 2}]}}}),
            r"plugins.score.enabled\[0\]: unknown field\(s\) weigth",
        ),
        (
            ksc({"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weight": 101}]}}}),
            r"plugins.score.enabled\[0\].weight: podsift takes score weights in 0..100",
        ),
        (ksc({"plugins": {"filter": {"enabled": [{}]}}}), r"filter.enabled\[0\].name"),
        (
            ksc({"plugins": {"score": {"enabled": [{"name": "NodeName"}]}}}),
            r"score.enabled\[0\]: NodeName is not a score plugin",
        ),
        (
            ksc({"plugins": {"filter": {"enabled": [{"name": "VolumeZone"}] * 2}}}),
            r"filter.enabled\[1\]: VolumeZone is listed twice",
        ),
        (
            ksc({"plugins": {"multiPoint": {"enabled": [{"name": "NodeName"}] * 2}}}),
            "multiPoint.enabled: NodeName is listed twice",
        ),
        (
            ksc({"pluginConfig": [{"name": "NodeAffinity"}, {"name": "NodeAffinity"}]}),
            r"pluginConfig\[1\]: repeated config for plugin NodeAffinity",
        ),
        (
            ksc(
                {
                    "pluginConfig": [
                        {"name": "NodeAffinity", "args": {"kind": "NodeResourcesFitArgs"}}
                    ]
                }
            ),
            r"pluginConfig\[0\].args: args of NodeAffinity are kubescheduler.config.k8s.io/v1 "
            "NodeAffinityArgs, got kind 'NodeResourcesFitArgs'",
        ),
        (
            ksc({"pluginConfig": [{"name": "NodeAffinity", "args": [1]}]}),
            r"pluginConfig\[0\].args: must be a mapping",
        ),
    ],
)
def test_invalid_configurations_are_refused_with_the_place(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_configuration(doc, "k.yaml")


def test_multi_point_star_and_explicit_filters():
    cfg = parse_configuration(
        ksc(
            {
                "plugins": {
                    "multiPoint": {"disabled": [{"name": "*"}]},
                    "filter": {"enabled": [{"name": "NodeResourcesFit"}, {"name": "NodeName"}]},
                    "score": {"enabled": [{"name": "ImageLocality", "weight": 4}]},
                }
            }
        )
    )
    assert names(cfg.filters) == ["NodeResourcesFit", "NodeName"]
    assert weights(cfg.scores) == {"ImageLocality": 4}
    assert cfg.warnings == ()  # nothing dropped, both lists non-empty


def test_a_profile_that_leaves_podsift_nothing_is_valid_and_says_so():
    cfg = parse_configuration(ksc({"plugins": {"multiPoint": {"disabled": [{"name": "*"}]}}}))
    assert cfg.filters == () and cfg.scores == ()
    (warning,) = cfg.warnings
    assert warning.endswith("no podsift policy remains: every node passes and scores 0")
    Engine(cfg)  # and it runs


def test_disabling_at_one_point_keeps_the_plugin_at_the_other():
    cfg = parse_configuration(
        ksc(
            {
                "plugins": {
                    "score": {"disabled": [{"name": "TaintToleration"}]},
                    "filter": {"disabled": [{"name": "NodeAffinity"}, {"name": "NodePorts"}]},
                }
            }
        )
    )
    assert "TaintToleration" in names(cfg.filters) and "TaintToleration" not in weights(cfg.scores)
    assert "NodeAffinity" not in names(cfg.filters) and weights(cfg.scores)["NodeAffinity"] == 2
    assert "NodePorts" not in names(cfg.filters)


def test_weights_score_entry_first_then_multi_point_and_the_expansion_order():
    cfg = parse_configuration(
        ksc(
            {
                "plugins": {
                    # re-configures a default in place: new weight, same position
                    "multiPoint": {"enabled": [{"name": "NodeAffinity", "weight": 5}]},
                    # a score entry overrides multiPoint: it moves first; no weight means 1
                    "score": {
                        "enabled": [
                            {"name": "TaintToleration"},
                            {"name": "ImageLocality", "weight": 0},
                        ]
                    },
                }
            }
        )
    )
    expected = ["TaintToleration", "ImageLocality", "NodeAffinity", "NodeResourcesFit"]
    expected += ["PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation"]
    assert names(cfg.scores) == ours(expected)
    assert weights(cfg.scores)["TaintToleration"] == 1
    assert weights(cfg.scores)["ImageLocality"] == 1
    assert weights(cfg.scores)["NodeAffinity"] == 5
    assert weights(cfg.scores)["NodeResourcesFit"] == 1


def test_explicit_filter_entries_come_after_the_multi_point_ones():
    cfg = parse_configuration(
        ksc({"plugins": {"filter": {"enabled": [{"name": "NodeName"}, {"name": "VolumeZone"}]}}})
    )
    # NodeName overrides its multiPoint entry (first); VolumeZone is podsift's to drop.
    assert names(cfg.filters)[0] == "NodeName"
    assert names(cfg.filters)[1:6] == [n for n in DEFAULT_FILTERS if n != "NodeName"]


def test_plugin_config_is_one_args_block_for_filter_and_score():
    args = {
        "apiVersion": API,
        "kind": "NodeResourcesFitArgs",
        "ignoredResources": ["example.com/gpu"],
        "scoringStrategy": {"type": "MostAllocated"},
    }
    cfg = parse_configuration(
        ksc(
            {
                "pluginConfig": [
                    {"name": "NodeResourcesFit", "args": args},
                    {"name": "VolumeBinding", "args": {"bindTimeoutSeconds": 5}},
                ]
            }
        )
    )
    expected = {
        "ignoredResources": ["example.com/gpu"],
        "scoringStrategy": {"type": "MostAllocated"},
    }
    (f,) = [e for e in cfg.filters if e.name == "NodeResourcesFit"]
    (s,) = [e for e in cfg.scores if e.name == "NodeResourcesFit"]
    assert f.args == s.args == expected
    engine = Engine(cfg)
    # the filter ignores the resource...
    view = make_view(
        [node("n1", cpu="4"), node("n2", cpu="4")], [pod("a", cpu="3", node_name="n2")]
    )
    obj = pod("p", cpu="500m")
    obj["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    p = make_pod(obj)
    assert engine.filter(p, view).passed.tolist() == [0, 1]
    # ...and the score bin-packs onto the busier node
    fit = [e["scores"]["NodeResourcesFit"] for e in engine.explain(p, view)]
    assert fit[1] > fit[0]


def test_a_podsift_plugin_is_expanded_by_the_points_it_implements():
    class FilterOnly(Policy):
        def filter(self, pod, nodes):
            return np.ones(nodes.n, bool)

        def reasons(self, pod, nodes, failed):
            return ["no"] * len(failed)

    class Both(FilterOnly):
        def score(self, pod, nodes):
            return np.zeros(nodes.n, np.int64)

    registry.register("TestFilterOnly", FilterOnly)
    registry.register("TestBoth", Both)
    try:
        doc = ksc(
            {
                "plugins": {
                    "multiPoint": {
                        "enabled": [
                            {"name": "TestFilterOnly"},
                            {"name": "TestBoth", "weight": 7},
                            {"name": "Coscheduling"},
                            {"name": "Coscheduling"},
                        ]
                    }
                },
                "pluginConfig": [
                    {"name": "TestBoth", "args": {"kind": "TestBothArgs", "apiVersion": "x.io/v1"}}
                ],
            }
        )
        cfg = parse_configuration(doc, "k.yaml")
    finally:
        registry.unregister("TestFilterOnly")
        registry.unregister("TestBoth")
    assert names(cfg.filters)[-2:] == ["TestFilterOnly", "TestBoth"]
    assert weights(cfg.scores)["TestBoth"] == 7 and "TestFilterOnly" not in weights(cfg.scores)
    (both,) = [e for e in cfg.filters if e.name == "TestBoth"]
    assert both.args == {}
    (warning,) = cfg.warnings
    assert (
        "ignored, unknown to podsift and to kube-scheduler 1.34: Coscheduling (multiPoint)"
        in warning
    )


def test_profile_needs_a_kube_scheduler_configuration(tmp_path):
    with pytest.raises(
        ConfigError, match="^--profile x: selects a profile .* no --config was given"
    ):
        load_configuration(None, "x")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "podsift/v1", "kind": "PolicyConfiguration"}))
    with pytest.raises(
        ConfigError, match="is a podsift PolicyConfiguration, which has no profiles"
    ):
        load_configuration(str(path), "x")


# ---- properties ----------------------------------------------------------------------

PLUGIN_NAMES = [n for n, _ in DEFAULT_MULTI_POINT] + ["Coscheduling", "*"]
plugin_entry = st.fixed_dictionaries(
    {"name": st.sampled_from(PLUGIN_NAMES)},
    optional={"weight": st.one_of(st.integers(-1, 120), st.none(), st.booleans())},
)
plugin_set = st.fixed_dictionaries(
    {},
    optional={
        "enabled": st.lists(plugin_entry, max_size=4),
        "disabled": st.lists(plugin_entry, max_size=3),
    },
)
plugins_doc = st.fixed_dictionaries(
    {}, optional={p: plugin_set for p in ("multiPoint", "filter", "score", "preScore")}
)


@settings(max_examples=300, deadline=None)
@given(plugins_doc)
def test_any_plugin_sets_give_a_valid_configuration_or_one_clear_error(plugins):
    try:
        cfg = parse_configuration(ksc({"schedulerName": "p", "plugins": plugins}), "k.yaml")
    except ConfigError as exc:
        assert str(exc).startswith(("k.yaml: profile 'p': plugins", "k.yaml: profile 'p'"))
        assert "\n" not in str(exc)
        return
    known = set(registry.available())
    for entries in (cfg.filters, cfg.scores):
        assert len(names(entries)) == len(set(names(entries)))  # no plugin twice at a point
        assert set(names(entries)) <= known
    assert all(1 <= e.weight <= 100 for e in cfg.scores)
    score = plugins.get("score", {})
    if any(p["name"] == "*" for p in score.get("disabled", [])):
        # "*" at a point: exactly that point's own enabled list
        assert names(cfg.scores) == ours([p["name"] for p in score.get("enabled", [])])
    Engine(cfg)  # every policy podsift took builds


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["profiles", "extenders", "parallelism", "apiVersion"]),
        st.one_of(
            json_values,
            st.lists(
                st.dictionaries(
                    st.sampled_from(["schedulerName", "plugins", "pluginConfig"]),
                    json_values,
                    max_size=3,
                ),
                max_size=2,
            ),
        ),
        max_size=3,
    )
)
def test_malformed_documents_are_config_errors_never_tracebacks(fields):
    doc = {**ksc(), **fields}
    try:
        parse_configuration(doc, "k.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_a_field_name_with_a_newline_still_gives_a_one_line_error():
    """Found by hypothesis: YAML allows a key "\\n", and the message echoes unknown keys."""
    with pytest.raises(ConfigError) as err:
        parse_configuration({**ksc(), "\n": 1}, "k.yaml")
    assert "\n" not in str(err.value) and "unknown field(s) \\n" in str(err.value)
