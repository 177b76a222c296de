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
