"""Bad input to `podsift plan`: one clear line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import orjson
import pytest

from extender.cli import main
from tests.plan.objects import deployment, listing, node, pod_spec


@pytest.fixture
def files(tmp_path):
    def write(name, obj):
        path = tmp_path / name
        path.write_bytes(obj if isinstance(obj, bytes) else orjson.dumps(obj))
        return str(path)

    write("snap.json", listing([node("a")]))
    write("w.json", deployment("w", 2, pod_spec("1")))
    write("shape.json", node("s"))
    return tmp_path, write


CASES = {
    "missing workload": (
        ["plan", "fit", "--pod", "{d}/nope.json", "--snapshot", "{d}/snap.json"],
        "--pod {d}/nope.json: cannot read: No such file or directory",
    ),
    "missing workload file": (
        ["plan", "place", "--workload", "{d}/nope.json", "--snapshot", "{d}/snap.json"],
        "--workload {d}/nope.json: cannot read: No such file or directory",
    ),
    "empty workload": (
        ["plan", "place", "--workload", "{d}/empty.json", "--snapshot", "{d}/snap.json"],
        "no workload in --workload {d}/empty.json",
    ),
    "missing snapshot": (
        ["plan", "place", "--workload", "{d}/w.json", "--snapshot", "{d}/nope.json"],
        "--snapshot {d}/nope.json: cannot read",
    ),
    "wrong kind": (
        ["plan", "fit", "--pod", "{d}/cm.json", "--snapshot", "{d}/snap.json"],
        "kind must be one of Pod, Deployment, ReplicaSet, StatefulSet, Job, got 'ConfigMap'",
    ),
    "node in workload": (
        ["plan", "place", "--workload", "{d}/snap.json", "--snapshot", "{d}/snap.json"],
        "items[0]: kind must be one of",
    ),
    "bad replicas": (
        ["plan", "place", "--workload", "{d}/neg.json", "--snapshot", "{d}/snap.json"],
        "spec.replicas: must be a non-negative integer, got -1",
    ),
    "bad request": (
        ["plan", "fit", "--pod", "{d}/badcpu.json", "--snapshot", "{d}/snap.json"],
        "Deployment default/b: spec.template.spec.containers[0].resources.requests.cpu",
    ),
    "same name twice": (
        ["plan", "place", "--workload", "{d}/w.json", "--workload", "{d}/w.json"]
        + ["--snapshot", "{d}/snap.json"],
        "workload default/w is also at",
    ),
    "shape not a node": (
        ["plan", "grow", "--workload", "{d}/w.json", "--snapshot", "{d}/snap.json"]
        + ["--node-shape", "{d}/w.json"],
        "--node-shape {d}/w.json: must be a Node object, got kind 'Deployment'",
    ),
    "bad price": (
        [
            "plan",
            "grow",
            "--workload",
            "{d}/w.json",
            "--snapshot",
            "{d}/snap.json",
            "--node-shape",
            "{d}/cheap.json",
        ],
        "annotation podsift.io/price must be a non-negative number, got 'free'",
    ),
    "unwritable snapshot": (
        [
            "plan",
            "place",
            "--workload",
            "{d}/w.json",
            "--snapshot",
            "{d}/snap.json",
            "--write-snapshot",
            "/nonexistent/after.json",
        ],
        "--write-snapshot /nonexistent/after.json: cannot write in /nonexistent",
    ),
    "bad config": (
        ["plan", "fit", "--pod", "{d}/w.json", "--snapshot", "{d}/snap.json"]
        + ["--config", "{d}/nope.yaml"],
        "cannot read policy configuration",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(files, capsys, case):
    d, write = files
    write("cm.json", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    neg = deployment("n", 1, pod_spec("1"))
    neg["spec"]["replicas"] = -1
    write("neg.json", neg)
    write("badcpu.json", deployment("b", 1, pod_spec("lots")))
    write("cheap.json", node("c", annotations={"podsift.io/price": "free"}))
    write("empty.json", listing([]))
    argv, message = CASES[case]
    assert main([a.format(d=d) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("podsift: error: ") and err.count("\n") == 1, err
    assert message.format(d=d) in err
    assert "Traceback" not in err


def test_grow_needs_a_shape(files, capsys):
    d, _ = files
    with pytest.raises(SystemExit) as exc:
        main(["plan", "grow", "--workload", f"{d}/w.json", "--snapshot", f"{d}/snap.json"])
    assert exc.value.code == 2
    assert "--node-shape" in capsys.readouterr().err


def test_several_yaml_documents_are_several_workloads(files, capsys):
    d, write = files
    write(
        "two.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n---\n"
        b"apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: jobs}\n"
        b"spec: {parallelism: 2, template: {spec: {containers: []}}}\n",
    )
    argv = ["plan", "place", "--workload", f"{d}/two.yaml", "--snapshot", f"{d}/snap.json"]
    argv += ["--output", "json"]
    assert main(argv) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [p["pod"] for p in doc["placements"]] == ["default/p-0", "jobs/j-0", "jobs/j-1"]
