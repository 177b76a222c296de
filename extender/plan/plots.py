"""`--plots DIR`: PNGs of a place or grow plan (matplotlib, from the bench extra)."""

from __future__ import annotations

import os
from typing import Any

from extender.model.errors import ConfigError


def prepare(directory: str) -> None:
    """Refuse --plots before the plan runs when matplotlib or the directory is missing."""
    _pyplot()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--plots {directory}: {exc.strerror}") from None


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plots needs matplotlib: pip install 'podsift[bench]'") from None
    return plt


def write(doc: dict[str, Any], directory: str) -> list[str]:
    """utilization.png, stranded.png and (grow) added.png in `directory`; their paths."""
    prepare(directory)
    plt = _pyplot()
    paths = []
    nodes = list(doc["nodes"].values())
    resources = [r for r in ("cpu", "memory", "pods") if r in doc["stranded"]]
    fig, axes = plt.subplots(len(resources), 1, figsize=(10, 3 * len(resources)), squeeze=False)
    for ax, r in zip(axes[:, 0], resources):
        alloc = [max(n["allocatable"][r], 1) for n in nodes]
        after = sorted((100 * n["requested_after"][r] / a for n, a in zip(nodes, alloc)))[::-1]
        before = sorted((100 * n["requested_before"][r] / a for n, a in zip(nodes, alloc)))[::-1]
        ax.plot(before, label="before", drawstyle="steps-post")
        ax.plot(after, label="after", drawstyle="steps-post")
        ax.set_ylabel(f"{r} requested, % of allocatable")
        ax.set_ylim(0, 105)
        ax.legend(loc="upper right")
    axes[-1, 0].set_xlabel("nodes, most used first")
    fig.suptitle(f"podsift plan {doc['command']}: utilization per node")
    fig.tight_layout()
    paths.append(_save(fig, directory, "utilization.png", plt))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    totals = {r: sum(n["allocatable"][r] for n in nodes) for r in doc["stranded"]}
    shares = [100 * doc["stranded"][r] / totals[r] if totals[r] else 0 for r in doc["stranded"]]
    ax.bar(list(doc["stranded"]), shares)
    ax.set_ylabel("stranded, % of allocatable")
    ax.set_title("stranded capacity by resource")
    fig.tight_layout()
    paths.append(_save(fig, directory, "stranded.png", plt))

    if "added" in doc:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(doc["added"]), list(doc["added"].values()))
        ax.axhline(doc["added_lower_bound"] or 0, color="gray", linestyle="--", label="lower bound")
        ax.set_ylabel("nodes added")
        ax.set_title("nodes added per shape")
        ax.legend()
        fig.tight_layout()
        paths.append(_save(fig, directory, "added.png", plt))
    return paths


def _save(fig: Any, directory: str, name: str, plt: Any) -> str:
    path = os.path.join(directory, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
