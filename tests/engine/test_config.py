"""Policy configuration file (docs/CONTRACT.md §4)."""

import pytest

from extender.engine.config import (
    DEFAULT_FILTERS,
    default_configuration,
    load_configuration,
    parse_configuration,
)
from extender.model.errors import ConfigError


def test_default_mirrors_kube_scheduler():
    cfg = default_configuration()
    assert [e.name for e in cfg.filters] == list(DEFAULT_FILTERS)
    assert [(e.name, e.weight) for e in cfg.scores] == [
        ("NodeResourcesFit", 1),
        ("NodeResourcesBalancedAllocation", 1),
        ("ImageLocality", 1),
        ("NodeAffinity", 2),
        ("TaintToleration", 3),
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
    ]
    # kube-scheduler's eight filters and seven scores that depend only on nodes and pods
    assert len(cfg.filters) == 8 and len(cfg.scores) == 7


def test_yaml_file_with_names_and_entries(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        """
apiVersion: podsift/v1
kind: PolicyConfiguration
filters: [NodeUnschedulable, {name: NodeResourcesFit, args: {ignoredResources: [x.io/y]}}]
scores:
  - name: NodeResourcesFit
    weight: 2
"""
    )
    cfg = load_configuration(str(path))
    assert [e.name for e in cfg.filters] == ["NodeUnschedulable", "NodeResourcesFit"]
    assert cfg.filters[1].args == {"ignoredResources": ["x.io/y"]}
    assert cfg.scores[0].weight == 2
    assert cfg.scores[0].args == {"ignoredResources": ["x.io/y"]}  # one block per plugin


def test_empty_lists_mean_no_policy():
    cfg = parse_configuration({"filters": [], "scores": []})
    assert cfg.filters == () and cfg.scores == ()


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"apiVersion": "v2"}, "apiVersion must be podsift/v1"),
        ({"kind": "Other"}, "kind must be PolicyConfiguration"),
        ({"filterz": []}, "unknown field"),
        ({"filters": "NodeName"}, "filters must be a list"),
        ({"scores": [{"name": "NodeAffinity", "weight": 0}]}, r"scores\[0\].weight"),
        ({"scores": [{"name": "NodeAffinity", "weight": True}]}, r"weight"),
        ({"scores": [{"weight": 1}]}, r"scores\[0\].name"),
        ({"scores": [{"name": "X", "argz": {}}]}, "unknown field"),
        ({"filters": ["NodeName", "NodeName"]}, "more than once"),
        ({"scores": [{"name": "ImageLocality", "args": [1]}]}, "args: must be a mapping"),
    ],
)
def test_invalid_documents_are_refused_with_the_field(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_configuration(doc, "c.yaml")


def test_unreadable_and_unparsable_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_configuration(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("filters: [unclosed\n")
    with pytest.raises(ConfigError, match="neither valid JSON nor YAML"):
        load_configuration(str(bad))


# ---- one args block per plugin (kube-scheduler's pluginConfig) ----------------------

FIT_ARGS = {"ignoredResources": ["example.com/gpu"]}


def test_args_given_on_the_score_entry_reach_the_filter():
    cfg = parse_configuration(
        {
            "filters": ["NodeResourcesFit"],
            "scores": [{"name": "NodeResourcesFit", "args": FIT_ARGS}],
        }
    )
    assert cfg.filters[0].args == FIT_ARGS
    assert cfg.scores[0].args == FIT_ARGS


def test_args_given_on_the_filter_entry_reach_the_score_and_default_lists_share_too():
    cfg = parse_configuration({"filters": [{"name": "NodeResourcesFit", "args": FIT_ARGS}]})
    (fit,) = [e for e in cfg.scores if e.name == "NodeResourcesFit"]  # the default scores
    assert fit.args == FIT_ARGS and fit.weight == 1
    cfg = parse_configuration({"scores": [{"name": "NodeResourcesFit", "args": FIT_ARGS}]})
    (fit,) = [e for e in cfg.filters if e.name == "NodeResourcesFit"]  # the default filters
    assert fit.args == FIT_ARGS
    assert all(e.args == {} for e in cfg.filters if e.name != "NodeResourcesFit")


def test_the_same_args_on_both_entries_are_fine():
    cfg = parse_configuration(
        {
            "filters": [{"name": "NodeResourcesFit", "args": dict(FIT_ARGS)}],
            "scores": [{"name": "NodeResourcesFit", "args": dict(FIT_ARGS), "weight": 3}],
        }
    )
    assert cfg.filters[0].args == cfg.scores[0].args == FIT_ARGS


def test_different_args_for_one_plugin_are_refused_naming_it_and_both_places():
    doc = {
        "filters": ["NodeName", {"name": "NodeResourcesFit", "args": FIT_ARGS}],
        "scores": [
            {"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated"}}}
        ],
    }
    with pytest.raises(ConfigError) as err:
        parse_configuration(doc, "c.yaml")
    message = str(err.value)
    assert message.startswith("c.yaml: NodeResourcesFit has different args")
    assert "filters[1].args" in message and "scores[0].args" in message


def test_ignored_resource_given_under_scores_is_ignored_by_the_filter():
    """Issue 9 item 5: before, args on a `scores:` entry never reached the filter."""
    from extender.engine.engine import Engine
    from tests.helpers import make_pod, make_view, node, pod

    cfg = parse_configuration(
        {
            "filters": ["NodeResourcesFit"],
            "scores": [{"name": "NodeResourcesFit", "args": FIT_ARGS}],
        }
    )
    view = make_view([node("n1")])  # no example.com/gpu at all
    obj = pod("p", cpu="100m")
    obj["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    outcome = Engine(cfg).filter(make_pod(obj), view)
    assert outcome.passed.tolist() == [0], outcome.failed


# ---- apiVersion and kind inside args ---------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "NodeResourcesFitArgs"},
        {"kind": "NodeResourcesFitArgs"},
        {"apiVersion": "kubescheduler.config.k8s.io/v1"},
    ],
)
def test_the_v1_args_type_is_accepted_and_stripped(tag):
    cfg = parse_configuration(
        {"scores": [{"name": "NodeResourcesFit", "args": {**tag, **FIT_ARGS}}]}
    )
    (fit,) = [e for e in cfg.scores if e.name == "NodeResourcesFit"]
    assert fit.args == FIT_ARGS
    from extender.engine.engine import Engine

    Engine(cfg)  # the policy sees args without the tag (it would refuse unknown fields)


@pytest.mark.parametrize(
    "name, tag, got",
    [
        ("NodeResourcesFit", {"kind": "NodeResourcesBalancedAllocationArgs"}, "kind"),
        (
            "NodeAffinity",
            {"apiVersion": "kubescheduler.config.k8s.io/v1beta3", "kind": "NodeAffinityArgs"},
            "apiVersion 'kubescheduler.config.k8s.io/v1beta3'",
        ),
        ("NodeResourcesBalancedAllocation", {"apiVersion": "v1"}, "apiVersion 'v1'"),
        ("PodTopologySpread", {"kind": "InterPodAffinityArgs"}, "InterPodAffinityArgs"),
    ],
)
def test_a_mismatching_args_type_is_refused(name, tag, got):
    with pytest.raises(ConfigError) as err:
        parse_configuration({"scores": [{"name": name, "args": tag}]}, "c.yaml")
    message = str(err.value)
    assert message.startswith("c.yaml: scores[0].args: args of ")
    assert f"kubescheduler.config.k8s.io/v1 {name}Args" in message and got in message


def test_plugins_without_a_v1_args_type_lose_the_tag_only_when_kind_is_name_args():
    cfg = parse_configuration(
        {
            "filters": [
                {
                    "name": "RequireLabel",
                    "args": {
                        "apiVersion": "example.com/v1",
                        "kind": "RequireLabelArgs",
                        "key": "k",
                    },
                },
                {"name": "Other", "args": {"kind": "Something", "apiVersion": "x/v1"}},
            ],
            "scores": [],
        }
    )
    assert cfg.filters[0].args == {"key": "k"}
    assert cfg.filters[1].args == {"kind": "Something", "apiVersion": "x/v1"}  # the plugin decides
