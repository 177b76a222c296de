"""Running one `podsift plan` command from parsed options (the CLI wires it)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import orjson

from extender.plan import measure, place, plots, policyfacts, progress, render
from extender.plan.fit import fit
from extender.plan.shapes import load_shapes
from extender.plan.source import build
from extender.plan.workload import load_templates


@dataclass
class PlanOptions:
    command: str  # fit | place | grow
    workloads: list[str]
    items: list[Any]  # the cluster's Nodes and Pods
    source: str
    config: str | None = None
    profile: str | None = None
    seed: int | None = None
    shapes: tuple[str, ...] = ()
    output: str = "table"
    plots: str | None = None


def run(opts: PlanOptions) -> dict[str, Any]:
    """The plan's JSON document (PodsiftError for bad input, before anything runs)."""
    templates = load_templates(opts.workloads)
    shapes = load_shapes(list(opts.shapes)) if opts.command == "grow" else None
    cluster = build(opts.items, opts.source, opts.config, opts.profile)
    grow = opts.command == "grow"
    unmodeled = policyfacts.unmodeled(cluster.engine, grow, cluster.config_warnings)
    if opts.command == "fit":
        return render.fit_json(opts.source, fit(cluster, templates), unmodeled)
    resources = measure.resources_of(templates)
    before = measure.usage(cluster, resources)
    total = sum(t.replicas for t in templates)
    with progress.bar(opts.command, total) as tick:
        result = place.place(cluster, templates, opts.seed, shapes, tick)
    m = measure.measure(cluster, templates, result, before, shapes)
    return render.place_json(opts.command, opts.source, result, m, unmodeled, shapes)


def main(opts: PlanOptions) -> int:
    if opts.plots and opts.command != "fit":
        plots.prepare(opts.plots)
    doc = run(opts)
    if opts.plots and opts.command != "fit":
        plots.write(doc, opts.plots)
    if opts.output == "json":
        sys.stdout.buffer.write(orjson.dumps(doc))
        sys.stdout.buffer.write(b"\n")
    else:
        text = render.fit_table(doc) if opts.command == "fit" else render.place_table(doc)
        print(text)
    return 0
