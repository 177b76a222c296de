"""PNG plots of a benchmark run (matplotlib, Agg backend: no display needed).

- `pods_over_time.png`: pods scheduled against wall time, one line per run;
- `latency_over_time.png`: each verb's latency against the pod's position in
  the schedule, one panel per run (cost must not climb as the cluster fills);
- `node_utilization.png`: every node's cpu and memory use at the end of the
  full policy run, sorted, as a percentage of allocatable;
- `kube_scheduler.png` (`--client kube-scheduler`): pods bound in each second
  after kube-scheduler started, one line per run.
"""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.driver import RunResult  # noqa: E402


def _finish(fig, ax, path: str) -> str:
    """Grid, legend, layout; save as PNG and free the figure."""
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pods_over_time(results: list[RunResult], path: str) -> str:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results:
        done = np.sort(r.done_ns[r.done_ns >= 0]) / 1e9
        ax.plot(done, np.arange(1, len(done) + 1), label=f"{r.label} ({r.mode})")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("pods scheduled")
    ax.set_title("Pods scheduled over time")
    return _finish(fig, ax, path)


def kube_scheduler_throughput(summary: dict[str, Any], path: str) -> str:
    """--client kube-scheduler: pods bound per second, one line per run."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, run in summary["runs"].items():
        ax.plot(run["timeline_pods_per_s"], label=f"{label} ({run['pods_per_s']:.0f} pods/s)")
    ax.set_xlabel("seconds after kube-scheduler started")
    ax.set_ylabel("pods bound in that second")
    w = summary["workload"]
    ax.set_title(f"kube-scheduler {w['kube_scheduler']}: {w['nodes']} nodes, {w['pods']} pods")
    return _finish(fig, ax, path)


def latency_over_time(results: list[RunResult], path: str) -> str:
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 3.2 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results, strict=True):
        for verb in r.verbs:
            lat = r.latency_ns[verb]
            idx = np.flatnonzero(lat >= 0)
            ax.plot(idx, lat[idx] / 1e6, ".", markersize=1.5, alpha=0.4, label=verb)
            window = max(1, len(idx) // 100)
            if len(idx) >= 2 * window and window > 1:
                # the p99 of each window of 1% of the pods, to show a trend through the noise
                chunks = len(idx) // window
                trimmed = lat[idx[: chunks * window]].reshape(chunks, window) / 1e6
                ax.plot(
                    idx[: chunks * window : window] + window // 2,
                    np.percentile(trimmed, 99, axis=1),
                    linewidth=1,
                    label=f"{verb} p99",
                )
        ax.set_yscale("log")
        ax.set_xlabel("pod (scheduling order)")
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{r.label}: latency per verb")
        ax.grid(alpha=0.3, which="both")
        ax.legend(markerscale=6, fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def node_utilization(usage: dict[str, dict[str, tuple[int, int]]], title: str, path: str) -> str:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for resource in ("cpu", "memory", "pods"):
        pct = sorted(
            100.0 * used / alloc
            for used, alloc in (u[resource] for u in usage.values())
            if alloc > 0
        )
        ax.plot(np.arange(len(pct)), pct, label=resource)
    ax.set_xlabel("nodes (sorted by use)")
    ax.set_ylabel("% of allocatable in use")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    return _finish(fig, ax, path)


def write_all(
    out_dir: str,
    results: list[RunResult],
    usage: dict[str, dict[str, tuple[int, int]]] | None,
    usage_title: str,
) -> dict[str, Any]:
    """Write every plot into `out_dir`; returns {name: path}."""
    files = {
        "pods over time": pods_over_time(results, os.path.join(out_dir, "pods_over_time.png")),
        "latency over time": latency_over_time(
            results, os.path.join(out_dir, "latency_over_time.png")
        ),
    }
    if usage:
        files["node utilization"] = node_utilization(
            usage, usage_title, os.path.join(out_dir, "node_utilization.png")
        )
    return files
