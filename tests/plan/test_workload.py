"""Workload files as templates: kinds, replica counts, names, labels."""

from __future__ import annotations

import os
import threading

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.model.errors import InvalidInput
from extender.plan.workload import (
    _template,
    load_templates,
    read_document,
    read_workload,
    spec_groups,
)
from tests.plan.objects import deployment, listing, pod_spec


def _controller(kind, name, spec, **fields):
    return {
        "apiVersion": "batch/v1" if kind == "Job" else "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {**fields, "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    }


def test_kinds_replicas_and_copy_names(tmp_path):
    bound_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo", "uid": "u1", "labels": {"x": "y"}},
        "spec": {**pod_spec("1"), "nodeName": "somewhere"},
    }
    items = [
        bound_pod,
        _controller("ReplicaSet", "rs", pod_spec("1"), replicas=3),
        _controller("StatefulSet", "sts", pod_spec("2")),  # replicas default to 1
        _controller("Job", "job", pod_spec("1"), parallelism=4, completions=10),
        _controller("Deployment", "zero", pod_spec("1"), replicas=0),
    ]
    (tmp_path / "w.json").write_bytes(orjson.dumps(listing(items)))
    templates = load_templates([str(tmp_path / "w.json")])
    assert [(t.kind, t.key, t.replicas) for t in templates] == [
        ("Pod", "default/solo", 1),
        ("ReplicaSet", "ns/rs", 3),
        ("StatefulSet", "ns/sts", 1),
        ("Job", "ns/job", 4),
        ("Deployment", "ns/zero", 0),
    ]
    solo, rs = templates[0], templates[1]
    assert "nodeName" not in solo.pod["spec"]
    copy = rs.copy_info(2)
    assert (copy.name, copy.namespace) == ("rs-2", "ns")
    assert dict(copy.labels) == {"app": "rs"}
    assert copy.requests == rs.info.requests
    assert copy.uid != rs.copy_info(1).uid and copy.uid != copy.name
    obj = rs.copy_object(2)
    assert obj["metadata"]["name"] == "rs-2" and obj["metadata"]["uid"] == copy.uid
    # templates scheduled alike (same spec, namespace, labels) share a group
    assert spec_groups(templates) == [0, 1, 2, 3, 4]
    pods = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n}, "spec": pod_spec("1")}
        for n in ("p", "q")
    ]
    (tmp_path / "two.json").write_bytes(
        orjson.dumps(listing([*pods, deployment("a", 1, pod_spec("1"))]))
    )
    assert spec_groups(load_templates([str(tmp_path / "two.json")])) == [0, 0, 2]


def test_a_document_reads_alike_mapped_or_streamed(tmp_path) -> None:
    """read_document maps a regular file; an empty one, YAML, and a FIFO (which cannot
    be mapped) give what reading them whole gave."""
    obj = {"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n0"}}]}
    (tmp_path / "a.json").write_bytes(orjson.dumps(obj))
    (tmp_path / "a.yaml").write_text("kind: List\nitems:\n- kind: Node\n  metadata: {name: n0}\n")
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "bad.json").write_bytes(b'{"kind": [')
    assert read_document(str(tmp_path / "a.json"), "--snapshot") == obj
    assert read_document(str(tmp_path / "a.yaml"), "--snapshot") == obj
    assert read_document(str(tmp_path / "empty.json"), "--snapshot") is None  # YAML: empty
    with pytest.raises(InvalidInput, match=r"--snapshot .*bad.json: neither valid JSON nor YAML"):
        read_document(str(tmp_path / "bad.json"), "--snapshot")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(orjson.dumps(obj)))
    writer.start()
    try:
        assert read_document(str(fifo), "--snapshot") == obj
    finally:
        writer.join()


_VARIANTS = {
    "namespace": st.sampled_from([None, "a", "b"]),
    "labels": st.sampled_from([None, {}, {"app": "x"}, {"app": "y"}, {"app": 1}]),
    "annotations": st.sampled_from([None, {"k": "v"}, {"k": "w"}]),
    "ownerReferences": st.sampled_from(
        [None, [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "controller": True}]]
    ),
    "deletionTimestamp": st.sampled_from([None, "2026-12-02T00:00:00Z"]),
    "uid": st.sampled_from([None, "u"]),
}
_SPEC = {
    "cpu": st.sampled_from(["1", "2", 1]),
    "priority": st.sampled_from([None, 1, 1.0, True, 2]),
    "nodeName": st.sampled_from([None, "n1", "n2"]),
    "hostNetwork": st.sampled_from([None, True, 1]),
}


@st.composite
def _pod_object(draw):
    meta = {k: v for k, s in _VARIANTS.items() if (v := draw(s)) is not None}
    cpu = draw(_SPEC["cpu"])
    spec = pod_spec(cpu if isinstance(cpu, str) else None)
    if not isinstance(cpu, str):
        spec["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    for field in ("priority", "nodeName", "hostNetwork"):
        value = draw(_SPEC[field])
        if value is not None:
            spec[field] = value
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(objects=st.lists(_pod_object(), min_size=1, max_size=8))
def test_pods_alike_share_a_parse_equal_to_their_own(tmp_path, objects) -> None:
    """load_templates parses Pods alike but for their name once (`_alike_key`): each
    template equals the one parsed on its own, and a file with a bad pod fails alike."""
    for i, obj in enumerate(objects):
        obj["metadata"]["name"] = f"p{i}"
    path = tmp_path / "w.json"
    path.write_bytes(orjson.dumps(listing(objects)))
    alone = []
    try:
        for obj, where in read_workload(str(path), "--workload"):
            alone.append(_template(obj, where))  # no sharing: each parsed by parse_pod
    except InvalidInput as exc:
        with pytest.raises(InvalidInput) as shared_exc:
            load_templates([str(path)])
        assert str(shared_exc.value) == str(exc)
        return
    shared = load_templates([str(path)])
    assert len(shared) == len(alone)
    for s, a in zip(shared, alone):
        assert (s.kind, s.key, s.replicas, s.pod, s.source) == (
            a.kind,
            a.key,
            a.replicas,
            a.pod,
            a.source,
        )
        mine, theirs = vars(s.info), vars(a.info)
        assert mine.keys() == theirs.keys()
        for field, value in theirs.items():
            assert mine[field] == value, field
