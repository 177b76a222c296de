"""bench.staterss binds every pod of a small workload through the service and
reports the arenas (else its bytes a pod would be of fewer pods than it says)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_small_run_binds_every_pod_and_reports_the_arenas() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.staterss", "--nodes", "200", "--pods", "400"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert "400 pods bound" in done.stdout
    assert "# arenas allocated current" in done.stdout
