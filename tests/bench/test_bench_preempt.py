"""The benchmark's preemption run: its cluster, its requests, its report. No timing asserted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
import pytest

from bench import preempt, validate
from bench.cli import build_parser, main
from extender.inprocess import InProcessExtender


@pytest.fixture(scope="module")
def cluster() -> preempt.PreemptCluster:
    return preempt.build_cluster(40, 900, seed=3)


def test_every_pod_runs_on_a_node_with_room_for_it(cluster: preempt.PreemptCluster) -> None:
    assert len(cluster.pods) == 900
    nodes = {n["metadata"]["name"]: n for n in cluster.nodes}
    used: dict[str, Counter] = {name: Counter() for name in nodes}
    for p in cluster.pods:
        assert p["status"]["phase"] == "Running"
        used[p["spec"]["nodeName"]].update(validate.pod_requests(p))
        used[p["spec"]["nodeName"]]["pods"] += 1
    for name, counted in used.items():
        alloc = nodes[name]["status"]["allocatable"]
        for resource in ("cpu", "memory", "pods"):
            assert counted[resource] <= validate.parse_amount(resource, alloc[resource]), name
    # the index the requests are drawn from agrees with the pods themselves
    for name, indices in cluster.on_node.items():
        assert {cluster.pods[i]["spec"]["nodeName"] for i in indices} <= {name}
    assert sum(len(v) for v in cluster.on_node.values()) == 900
    for name in cluster.eligible:
        spec = nodes[name]["spec"]
        assert not spec.get("taints") and not spec.get("unschedulable")


def test_requests_alternate_forms_with_a_few_victims_on_their_own_node(
    cluster: preempt.PreemptCluster,
) -> None:
    bodies = preempt.request_bodies(cluster, 4, preempt.candidate_count(40), seed=3)
    assert [form for form, _ in bodies] == ["meta", "full", "meta", "full"]
    node_of = {p["metadata"]["uid"]: p["spec"]["nodeName"] for p in cluster.pods}
    for form, body in bodies:
        args = orjson.loads(body)
        key, other = (
            ("NodeNameToMetaVictims", "NodeNameToVictims")
            if form == "meta"
            else ("NodeNameToVictims", "NodeNameToMetaVictims")
        )
        assert args[other] is None
        proposals = args[key]
        assert len(proposals) == min(len(cluster.eligible), 40)
        for node, victims in proposals.items():
            assert 1 <= len(victims["Pods"]) <= preempt.MAX_VICTIMS
            assert victims["NumPDBViolations"] in (0, 1)
            for v in victims["Pods"]:
                uid = v["UID"] if form == "meta" else v["metadata"]["uid"]
                assert node_of[uid] == node


def test_answers_are_subsets_of_the_proposals(cluster: preempt.PreemptCluster) -> None:
    extender = InProcessExtender(cluster.items())
    for form, body in preempt.request_bodies(cluster, 2, 30, seed=5):
        args = orjson.loads(body)
        proposals = args["NodeNameToMetaVictims"] or args["NodeNameToVictims"]
        answer = extender.service.preempt(args)["NodeNameToMetaVictims"]
        assert answer and set(answer) <= set(proposals)
        for node, victims in answer.items():
            sent = proposals[node]["Pods"]
            uids = [v["UID"] if form == "meta" else v["metadata"]["uid"] for v in sent]
            assert victims["Pods"] == [{"UID": u} for u in uids]
            assert victims["NumPDBViolations"] == proposals[node]["NumPDBViolations"]


def test_candidate_count_is_defaultpreemptions() -> None:
    assert preempt.candidate_count(5000) == 500
    assert preempt.candidate_count(1000) == 100
    assert preempt.candidate_count(40) == 40


def test_sizes_default_to_the_issue_scale_or_five_times_a_small_cluster() -> None:
    assert preempt.sizes(build_parser().parse_args([])) == (5000, 150_000)
    small = build_parser().parse_args(["--nodes", "20", "--pods", "7"])
    assert preempt.sizes(small) == (100, 3000)
    explicit = build_parser().parse_args(["--preempt-nodes", "7", "--preempt-pods", "9"])
    assert preempt.sizes(explicit) == (7, 9)


def test_summary_checks_the_target_only_at_its_scale() -> None:
    common = {
        "kept": [3],
        "victims": [1, 2],
        "body_bytes": {"meta": 10, "full": 20},
        "errors": [],
        "build_s": 1.0,
        "load_s": 2.0,
        "rss": 2**20,
    }
    fast = {"meta": [5_000_000], "full": [7_000_000]}
    at_scale = preempt.summarize(nodes=5000, placed=150_000, candidates=500, latency=fast, **common)
    assert at_scale["check"] == {
        "name": "preempt_max_ms",
        "value": 7.0,
        "target": "< 50",
        "met": True,
        "applies": True,
    }
    slow = {"meta": [5_000_000], "full": [60_000_000]}
    missed = preempt.summarize(nodes=5000, placed=150_000, candidates=500, latency=slow, **common)
    assert missed["check"]["met"] is False
    small = preempt.summarize(nodes=100, placed=1500, candidates=100, latency=slow, **common)
    assert small["check"]["applies"] is False
    text = "\n".join(preempt.format_lines(at_scale))
    assert "NodeNameToMetaVictims" in text and "NodeNameToVictims" in text
    assert "5000 nodes, 150000 running pods, 500 candidates" in text


def test_preempt_mode_runs_only_the_preemption_run(tmp_path: Path, capsys) -> None:
    args = ["--nodes", "8", "--pods", "60", "--mode", "preempt", "--preempt-requests", "6"]
    code = main([*args, "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["runs"] == {}
    run = results["preemption"]
    assert (run["nodes"], run["pods"], run["candidates"]) == (40, 1200, 40)
    assert run["requests"] == 6 and run["errors"] == 0
    assert run["forms"]["NodeNameToMetaVictims"]["count"] == 3
    assert run["forms"]["NodeNameToVictims"]["count"] == 3
    assert run["kept_mean"] > 0
    checks = {c["name"]: c for c in results["comparison"]["checks"]}
    assert checks["preempt_max_ms"]["applies"] is False
    out = capsys.readouterr().out
    assert "preemption: 40 nodes, 1200 running pods" in out
    assert "wall s" not in out  # no table of runs without runs


def test_no_preempt_leaves_it_out(capsys) -> None:
    code = main(["--nodes", "5", "--pods", "20", "--mode", "http", "--no-preempt"])
    assert code == 0
    out = capsys.readouterr().out
    assert "preemption:" not in out and "preempt_max_ms" not in out
    assert "policies" in out
