"""`podsift bench --client kube-scheduler` end to end, small: the real
kube-scheduler on a real control plane, five runs, the report and results.json.
(Its figures are the benchmark's business; this checks that every run placed
every pod validly, through the path it claims.)"""

from __future__ import annotations

import orjson

from bench import cli, kubesched


def test_five_runs_through_the_real_kube_scheduler(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        ["--client", "kube-scheduler", "--nodes", "12", "--pods", "60", "--out", str(out),
         "--no-progress"]
    )
    report = capsys.readouterr().out
    assert code == 0, report
    results = orjson.loads((out / "results.json").read_bytes())
    runs = results["runs"]
    assert list(runs) == ["alone", "podsift", "podsift-nobind", "calibration", "calibration-bind"]
    for label, run in runs.items():
        assert run["bound"] == run["pods"] == 60, label
        assert run["invalid_placements"] == 0, label
        assert run["pods_per_s"] > 0 and sum(run["timeline_pods_per_s"]) == 60, label
        assert run["cpu_s"]["kube-scheduler"] > 0, label
    # podsift filtered every pod and bound every pod; without bindVerb it bound none
    podsift = runs["podsift"]["extender_requests"]
    assert podsift["filter:ok"] >= 60 and podsift["bind:ok"] == 60
    nobind = runs["podsift-nobind"]["extender_requests"]
    assert nobind["filter:ok"] >= 60 and "bind:ok" not in nobind
    assert runs["alone"]["extender_requests"] == {}
    ratios = results["ratios"]
    assert ratios["podsift/alone"] == round(
        runs["podsift"]["pods_per_s"] / runs["alone"]["pods_per_s"], 3
    )
    # calibration-bind runs with bindVerb and binds through its own Binding POSTs: had
    # it only answered {"Error":""}, no pod would have been bound (checked above)
    assert {c["name"] for c in results["checks"]} == {"podsift/alone", "podsift/calibration-bind"}
    assert {"podsift/calibration", "podsift/calibration-bind"} <= set(ratios)
    assert results["workload"]["kube_scheduler"].startswith("v1.34")
    assert (out / "kube_scheduler.png").stat().st_size > 10_000
    assert "podsift/alone" in report and "kube-scheduler v1.34" in report


def test_without_the_binaries_it_says_how_to_build_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kubesched, "GO_BIN", tmp_path)
    code = cli.main(["--client", "kube-scheduler", "--nodes", "5", "--pods", "5", "--no-progress"])
    assert code == 2
    assert "./dev build-go" in capsys.readouterr().err
