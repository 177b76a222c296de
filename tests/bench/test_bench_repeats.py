"""`podsift bench --repeats N` for the HTTP runs: N rounds of calibration, floor and
policies, each round's ratios, their medians, and the combined checks.

One small real run with three rounds (servers on loopback, through the bench
itself), and the combining of comparisons on hand-made figures. No test asserts
a time.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

import bench.cli
from bench import report
from bench.cli import main
from tests.bench.summaries import run_summary

LABELS = ["calibration", "floor", "policies"]


@pytest.fixture(scope="module")
def three_rounds(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str, list, Path]:
    out = tmp_path_factory.mktemp("bench-repeats")
    labels: list[str] = []
    real_run = bench.cli._Progress.run

    def run(self: Any, label: str, total: int) -> Any:
        labels.append(label)
        return real_run(self, label, total)

    text = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(text):
        mp.setattr(bench.cli._Progress, "run", run)
        code = main(
            [
                "--nodes", "10", "--pods", "60", "--mode", "http", "--no-preempt",
                "--repeats", "3", "--no-progress", "--out", str(out),
            ]
        )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    return code, results, text.getvalue(), labels, out


def test_three_rounds_alternate_and_each_is_reported(three_rounds: tuple) -> None:
    code, results, _, labels, out = three_rounds
    assert code == 0
    assert labels == [f"{label} {k}/3" for k in (1, 2, 3) for label in LABELS]
    for k in (1, 2, 3):
        for label in LABELS:
            assert (out / f"server-{label}-{k}.log").exists()
    repeats = results["repeats"]
    assert repeats["count"] == 3
    assert [r["round"] for r in repeats["rounds"]] == [1, 2, 3]
    for r in repeats["rounds"]:
        assert list(r["runs"]) == LABELS
        for figures in r["runs"].values():
            assert figures["ms_per_pod"] > 0
            assert figures["filter_p99_ms"] > 0 and figures["prioritize_p99_ms"] > 0
    assert list(results["runs"]) == LABELS


def test_runs_shows_each_labels_median_round(three_rounds: tuple) -> None:
    _, results, _, _, _ = three_rounds
    repeats = results["repeats"]
    for label in LABELS:
        per_round = [r["runs"][label]["ms_per_pod"] for r in repeats["rounds"]]
        shown = repeats["shown"][label]
        assert per_round[shown - 1] == statistics.median(per_round)
        assert results["runs"][label]["ms_per_pod"] == per_round[shown - 1]
        assert repeats["median"]["runs"][label]["ms_per_pod"] == round(
            statistics.median(per_round), 4
        )


def test_ratios_are_medians_of_each_rounds_ratios(three_rounds: tuple) -> None:
    _, results, _, _, _ = three_rounds
    rounds = results["repeats"]["rounds"]
    ratios = results["comparison"]["ratios"]
    assert "per_pod_vs_calibration" in ratios and "per_pod_vs_floor" in ratios
    for key, value in ratios.items():
        per_round = [r["ratios"][key] for r in rounds]
        assert value == round(statistics.median(per_round), 3), key
        # each round's ratio is of that round's own runs
        if key == "per_pod_vs_calibration":
            for r in rounds:
                runs = r["runs"]
                mine = runs["policies"]["ms_per_pod"] / runs["calibration"]["ms_per_pod"]
                assert r["ratios"][key] == pytest.approx(mine, abs=0.002)
    assert results["repeats"]["median"]["ratios"] == ratios
    checks = {c["name"]: c for c in results["comparison"]["checks"]}
    assert checks["per_pod_vs_calibration"]["value"] == ratios["per_pod_vs_calibration"]


def test_every_policies_round_is_validated(three_rounds: tuple) -> None:
    _, results, _, _, _ = three_rounds
    for r in results["repeats"]["rounds"]:
        policies = r["runs"]["policies"]
        assert policies["invalid_placements"] == 0 and policies["unschedulable"] == 0
        assert "invalid_placements" in r["runs"]["floor"]  # validated, not a target
        assert "invalid_placements" not in r["runs"]["calibration"]  # binds nothing
    checks = {c["name"]: c for c in results["comparison"]["checks"]}
    assert checks["policies_invalid_placements"]["value"] == 0


def test_report_prints_the_rounds_and_their_medians(three_rounds: tuple) -> None:
    _, results, text, _, _ = three_rounds
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("repeats: 3 rounds"))
    assert lines[head + 1].split() == [
        "round", *LABELS, "per_pod_vs_calibration", "filter_p99_vs_cal",
        "prioritize_p99_vs_cal", "per_pod_vs_floor",
    ]  # fmt: skip
    rows = [line.split() for line in lines[head + 2 : head + 6]]
    assert [row[0] for row in rows] == ["1", "2", "3", "median"]
    ratios = results["comparison"]["ratios"]
    assert rows[3][4] == f"{ratios['per_pod_vs_calibration']:.3f}"
    assert rows[1][3] == f"{results['repeats']['rounds'][1]['runs']['policies']['ms_per_pod']:.3f}"
    assert "policies: every round validated, invalid placements 0, 0, 0" in text
    assert "the ratios and checks below are medians of the per-round ratios" in text
    assert text.index("repeats: 3 rounds") < text.index("\nratios:")


def test_one_round_has_no_repeats_section(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--nodes", "10", "--pods", "40", "--mode", "http", "--no-preempt", "--no-floor"]
    assert main([*args, "--no-progress", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert "repeats" not in results
    assert (tmp_path / "server-policies.log").exists()
    assert "repeats:" not in capsys.readouterr().out


def test_repeats_without_http_runs_is_ignored_with_a_note(capsys: pytest.CaptureFixture) -> None:
    assert main(["--nodes", "5", "--pods", "5", "--mode", "inprocess", "--repeats", "2"]) == 0
    captured = capsys.readouterr()
    assert "--mode inprocess has neither, so it is ignored" in captured.err
    assert "repeats:" not in captured.out


# ---- combining hand-made comparisons -------------------------------------------


def _round(calibration: float, policies: float, invalid: int = 0, slow: int = 0) -> dict:
    runs = {
        "calibration": run_summary(calibration, 1.0),
        "floor": run_summary(policies, 1.0),
        "policies": run_summary(policies, 1.0, invalid, slow),
    }
    return report.compare(runs, 1000, 30000)


def test_combine_takes_the_median_ratio_and_recomputes_met() -> None:
    # round 1 misses 1.15x; rounds 2 and 3 meet it, so the median meets it
    rounds = [_round(1.0, 1.40), _round(1.0, 1.10), _round(2.0, 2.24)]
    assert [r["ratios"]["per_pod_vs_calibration"] for r in rounds] == [1.4, 1.1, 1.12]
    assert {c["name"]: c["met"] for c in rounds[0]["checks"]}["per_pod_vs_calibration"] is False
    combined = report.combine(rounds)
    assert combined["ratios"]["per_pod_vs_calibration"] == 1.12
    checks = {c["name"]: c for c in combined["checks"]}
    assert checks["per_pod_vs_calibration"]["value"] == 1.12
    assert checks["per_pod_vs_calibration"]["met"] is True
    assert checks["per_pod_vs_calibration"]["target"] == "<= 1.15"
    assert checks["per_pod_vs_calibration"]["applies"] is True
    assert [c["name"] for c in combined["checks"]] == [c["name"] for c in rounds[0]["checks"]]
    # the median of the ratios, not the ratio of the medians (1.40 / 1.0 here)
    assert combined["ratios"]["per_pod_vs_calibration"] != round(1.40 / 1.0, 3)
    # two rounds: the middle of the two
    assert report.combine(rounds[:2])["ratios"]["per_pod_vs_calibration"] == 1.25


def test_combine_one_invalid_placement_in_any_round_is_a_miss() -> None:
    rounds = [_round(1.0, 1.1), _round(1.0, 1.1, invalid=2), _round(1.0, 1.1)]
    checks = {c["name"]: c for c in report.combine(rounds)["checks"]}
    assert checks["policies_invalid_placements"]["value"] == 2
    assert checks["policies_invalid_placements"]["met"] is False
    assert checks["per_pod_vs_calibration"]["met"] is True


def test_combine_slow_requests_take_the_median() -> None:
    rounds = [_round(1.0, 1.1, slow=3), _round(1.0, 1.1), _round(1.0, 1.1)]
    first = {c["name"]: c["met"] for c in rounds[0]["checks"]}
    assert first["policies_requests_over_50ms"] is False
    checks = {c["name"]: c for c in report.combine(rounds)["checks"]}
    assert checks["policies_requests_over_50ms"]["value"] == 0
    assert checks["policies_requests_over_50ms"]["met"] is True


def test_combine_of_one_round_is_that_round() -> None:
    only = _round(1.0, 1.4)
    assert report.combine([only]) is only


def test_median_item_is_the_lower_middle() -> None:
    assert report.median_item([3.0, 1.0, 2.0], key=float) == 2.0
    assert report.median_item([4.0, 1.0, 3.0, 2.0], key=float) == 2.0
    assert report.median_item(["b", "a"], key=ord) == "a"


def test_exit_code_counts_an_invalid_placement_in_any_round() -> None:
    summary: dict[str, Any] = {
        "runs": {"policies": {"validation": {"invalid_placements": 0}}},
        "repeats": {
            "rounds": [{"runs": {"policies": {"invalid_placements": k}}} for k in (0, 1, 0)]
        },
    }
    assert bench.cli._invalid_placements(summary) == 1
    del summary["repeats"]
    assert bench.cli._invalid_placements(summary) == 0
