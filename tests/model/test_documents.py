"""Snapshot and configuration files: JSON, or YAML read with libyaml when PyYAML has it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.workload import generate
from extender.cache.state import ClusterState
from extender.engine.config import load_configuration
from extender.model.documents import decode_json_or_yaml, yaml_loader

LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])

POLICY = """\
apiVersion: podsift/v1
kind: PolicyConfiguration
filters: [NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit]
scores:
  - name: NodeResourcesFit
    weight: 1
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]
  - name: NodeResourcesBalancedAllocation
    weight: 1
"""


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_yaml_is_read_with_libyaml_when_present():
    assert yaml_loader() is yaml.CSafeLoader


def test_yaml_falls_back_to_the_pure_python_safe_loader(monkeypatch):
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    assert yaml_loader() is yaml.SafeLoader
    assert decode_json_or_yaml(b"a: [1, x]\n", "f.yaml") == {"a": [1, "x"]}


def test_both_loaders_read_a_snapshot_identically():
    doc = generate(20, 60, seed=3)
    raw = yaml.safe_dump(doc).encode()
    results = [decode_json_or_yaml(raw, "snap.yaml", loader) for loader in LOADERS]
    assert all(r == doc for r in results)


def test_both_loaders_read_a_policy_configuration_identically(tmp_path: Path):
    results = [decode_json_or_yaml(POLICY.encode(), "p.yaml", loader) for loader in LOADERS]
    assert all(r == results[0] for r in results)
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    assert load_configuration(str(path)).scores[0].args["scoringStrategy"]["type"] == (
        "MostAllocated"
    )


def test_a_yaml_snapshot_loads_into_the_state(tmp_path: Path):
    doc = generate(5, 0, seed=1)
    path = tmp_path / "snap.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert ClusterState().load_file(str(path))[0] == 5


def test_invalid_yaml_is_refused_by_either_loader_naming_the_file():
    for loader in LOADERS:
        with pytest.raises(ValueError, match=r"^bad\.yaml: neither valid JSON nor YAML"):
            decode_json_or_yaml(b"a: [1, 2\n", "bad.yaml", loader)
        with pytest.raises(ValueError, match="neither valid JSON nor YAML"):
            decode_json_or_yaml(b"!!python/object:os.system {}\n", "bad.yaml", loader)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=20),
    st.sampled_from(["yes", "no", "on", "off", "1e3", "0x1F", "~", "500m", "1Gi", "08", "-.inf"]),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(doc=DOCS, flow=st.booleans())
def test_both_loaders_agree_on_any_dumped_document(doc, flow):
    raw = yaml.safe_dump({"items": doc}, default_flow_style=flow).encode()
    results = [decode_json_or_yaml(raw, "d.yaml", loader) for loader in LOADERS]
    assert all(r == results[0] for r in results)
    assert results[0] == {"items": doc}


HAND_WRITTEN = """\
# kubectl-style YAML with what people write by hand
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Node
    metadata:
      name: node-a
      labels: &labels {zone: "a", tier: web, "example.com/disk": nvme}
      annotations:
        note: |
          two lines
          of text
        folded: >
          one
          line
    status:
      allocatable: {cpu: "4", memory: 8Gi, pods: '110', nvidia.com/gpu: 1}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-0, namespace: default, uid: u-1, labels: *labels}
    spec:
      nodeName: node-a
      containers:
        - {name: c, image: "nginx:1.25", resources: {requests: {cpu: 500m, memory: 1e3}}}
      tolerations: [{key: k, operator: Exists, effect: ~}]
"""


def test_both_loaders_agree_on_hand_written_yaml():
    results = [decode_json_or_yaml(HAND_WRITTEN.encode(), "h.yaml", loader) for loader in LOADERS]
    assert all(r == results[0] for r in results)
    node, pod = results[0]["items"]
    assert (
        pod["metadata"]["labels"]
        == node["metadata"]["labels"]
        == {
            "zone": "a",
            "tier": "web",
            "example.com/disk": "nvme",
        }
    )
    assert node["status"]["allocatable"]["pods"] == "110"
    assert node["metadata"]["annotations"]["note"] == "two lines\nof text\n"
