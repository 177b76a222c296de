"""bench.relistrss runs the live watcher's relist over a stand-in API server and
reports the worker's memory after it, with the listing parsed page by page or held
whole (a small cluster: what is checked is that every pod arrives either way)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.preempt import build_cluster


@pytest.mark.parametrize("whole", [False, True])
def test_a_small_relist_lists_every_pod_and_reports_the_arenas(whole: bool) -> None:
    placed = len(build_cluster(200, 1200, seed=3).pods)
    command = [sys.executable, "-m", "bench.relistrss", "--nodes", "200", "--pods", "1200"]
    command += ["--seed", "3"] + (["--whole"] if whole else [])
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    how = "held whole, then parsed" if whole else "parsed page by page"
    found = re.search(r"^200 nodes, (\d+) pods listed \((.+?)\): RSS", done.stdout, re.M)
    assert found is not None, done.stdout
    assert int(found.group(1)) == placed > 1000  # 3 pages of 500, every one read
    assert found.group(2) == how
    assert "# arenas allocated current" in done.stdout
