"""The benchmark's full-Nodes run: verb time against orjson's decode of the same body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import fullnodes
from bench.cli import main
from bench.workload import generate


def test_full_nodes_run_measures_both_kinds_of_objects() -> None:
    items = generate(12, 30, seed=3)["items"]
    result = fullnodes.run(items[:12], items[12:], samples=3)
    assert set(result["kinds"]) == set(fullnodes.KINDS)
    for kind in result["kinds"].values():
        assert kind["samples"] == 3
        assert 0 < kind["decode_p50_ms"] and 0 < kind["filter_p50_ms"]
        assert kind["filter_vs_decode"] > 0 and kind["prioritize_vs_decode"] > 0
        assert 0 < kind["nodes_passed_mean"] <= 12  # the answers carried Node objects
    assert result["filter_vs_decode"] == max(
        k["filter_vs_decode"] for k in result["kinds"].values()
    )
    check = fullnodes.check(result)
    assert check["name"] == "full_nodes_filter_vs_decode"
    assert check["target"] == "<= 2" and check["met"] == (result["filter_vs_decode"] <= 2)
    text = "\n".join(fullnodes.format_text(result))
    assert "resourceVersion" in text and "no resourceVersion" in text


def test_resource_versions_are_added_without_touching_the_workload() -> None:
    nodes = generate(3, 0, seed=1)["items"][:3]
    versioned = fullnodes._with_resource_versions(nodes)
    assert [n["metadata"]["resourceVersion"] for n in versioned] == ["100000", "100001", "100002"]
    assert all("resourceVersion" not in n["metadata"] for n in nodes)


def test_inprocess_bench_reports_the_full_nodes_target(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--nodes", "8", "--pods", "40", "--mode", "inprocess", "--out", str(tmp_path)]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "full Node objects, 8 nodes a request" in out
    lines = [line for line in out.splitlines() if "full_nodes_filter_vs_decode" in line]
    assert len(lines) == 1 and "(target <= 2)" in lines[0]
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["full_nodes"]["kinds"]) == set(fullnodes.KINDS)
    checks = {c["name"]: c for c in results["comparison"]["checks"]}
    assert (
        checks["full_nodes_filter_vs_decode"]["value"] == results["full_nodes"]["filter_vs_decode"]
    )


def test_bodies_over_the_default_body_limit_are_measured() -> None:
    """At 5,000 nodes the full-Nodes bodies are ~20 MB, past the 8 MiB default: the
    run must raise the limit as the HTTP runs do, not fail the whole bench."""
    items = generate(2500, 4, seed=2)["items"]
    result = fullnodes.run(items[:2500], items[2500:], samples=1)
    for kind in result["kinds"].values():
        assert kind["body_mb"] > 8
        assert kind["nodes_passed_mean"] > 0
