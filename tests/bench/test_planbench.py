"""bench.planbench runs the three plans of README "Capacity planning" at a small scale."""

from __future__ import annotations

from bench.planbench import main


def test_planbench_reports_every_plan(capsys):
    assert main(["--nodes", "20", "--pods", "150", "--grow-pods", "300"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| plan | wall | CPU | result |"
    place, fit, grow = lines[2:]
    assert "150 placed, 0 unplaced;" in place
    assert place.startswith("| place 150 pods onto 20 nodes |")
    assert " copies on " in fit
    # 300 pods of 200m: 20 to a 4-cpu node, no room wasted
    assert grow.endswith("| 15 nodes added, lower bound 15 |")
