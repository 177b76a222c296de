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
    ]


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
    args: {scoringStrategy: {type: MostAllocated}}
"""
    )
    cfg = load_configuration(str(path))
    assert [e.name for e in cfg.filters] == ["NodeUnschedulable", "NodeResourcesFit"]
    assert cfg.filters[1].args == {"ignoredResources": ["x.io/y"]}
    assert cfg.scores[0].weight == 2


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
