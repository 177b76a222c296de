"""A whole-process plan holds what it built until its os._exit (cli.py's `_plan`)."""

from __future__ import annotations

import argparse
import io

import orjson

from extender.cli import _plan_run
from extender.plan.source import Cluster
from tests.plan.objects import node


def test_the_plan_hands_its_snapshot_and_state_to_the_caller_to_keep(tmp_path, monkeypatch):
    snapshot = tmp_path / "snap.json"
    snapshot.write_bytes(orjson.dumps({"kind": "List", "items": [node("n0"), node("n1")]}))
    template = tmp_path / "pod.json"
    template.write_bytes(
        orjson.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "containers": [
                        {"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
                    ]
                },
            }
        )
    )
    args = argparse.Namespace(
        plan_command="fit",
        workloads=[str(template)],
        snapshot=str(snapshot),
        config=None,
        profile=None,
        output="json",
    )
    out = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr("sys.stdout", out)
    kept: list[object] = []
    assert _plan_run(args, kept) == 0
    items, workload, cluster = kept
    assert [i["metadata"]["name"] for i in items] == ["n0", "n1"]
    # the decoded workload file too (freed one object at a time otherwise)
    assert [obj["metadata"]["name"] for obj, _ in workload] == ["web"]
    assert isinstance(cluster, Cluster) and cluster.items is items
    assert cluster.names == ["n0", "n1"]
    out.seek(0)
    assert orjson.loads(out.buffer.read())["templates"][0]["fits"] == 8  # 4 cpu a node
    assert _plan_run(args) == 0  # an in-process caller keeps nothing: nothing to hold
