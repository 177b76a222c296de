"""bench.appcost drives the WSGI app in-process as kube-scheduler frames a pod:
both servers answer every verb, podsift binds what it is asked to."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.appcost", "--nodes", "50", "--pods", "40", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.mark.parametrize("server", ["podsift", "calibration"])
def test_each_server_answers_every_pod(server):
    done = _run("--server", server)
    assert done.returncode == 0, done.stderr
    pattern = r"40 pods \((\d+) bound\): filter (\d+), prioritize (\d+), bind (\d+)"
    found = re.search(pattern, done.stdout)
    assert found, done.stdout
    bound, *verbs = map(int, found.groups())
    assert bound == 40  # the calibration answers every bind; podsift has room for all 40
    assert all(v > 0 for v in verbs)


def test_the_calibration_refuses_podsift_options():
    done = _run("--server", "calibration", "--placed", "5")
    assert done.returncode == 2
    assert "the calibration keeps no state" in done.stderr


def test_the_floor_places_its_pods_even_where_they_do_not_fit(tmp_path):
    """No filters: the placing loop picks full nodes too, and their refused binds
    are skipped (as the HTTP floor's /bind answers an Error), not a traceback."""
    floor = tmp_path / "floor.json"
    floor.write_text('{"filters": [], "scores": []}')
    done = _run("--server", "podsift", "--config", str(floor), "--nodes", "5", "--placed", "400")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    found = re.search(r"5 nodes, 400 placed, 40 pods \((\d+) bound\)", done.stdout)
    assert found, done.stdout
    assert int(found.group(1)) < 40  # five nodes filled by 400 pods: some binds refused


def test_a_bad_configuration_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"policies": []}')
    done = _run("--config", str(bad))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "unknown field(s) policies" in done.stderr
