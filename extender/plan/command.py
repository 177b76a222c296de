"""Running one `podsift plan` command from parsed options (the CLI wires it)."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from extender.model.errors import ConfigError
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
    write_snapshot: str | None = None
    read_seconds: float = 0.0  # reading the source (file or API) before the plan
    # the caller's list to hold the state in until the process ends (cli.py's _plan)
    kept: list[object] | None = None


def run(opts: PlanOptions) -> dict[str, Any]:
    """The plan's JSON document (PodsiftError for bad input, before anything runs)."""
    flag = "--pod" if opts.command == "fit" else "--workload"
    templates = load_templates(opts.workloads, flag, opts.kept)
    shapes = load_shapes(list(opts.shapes)) if opts.command == "grow" else None
    clock = time.perf_counter()
    cluster = build(opts.items, opts.source, opts.config, opts.profile)
    if opts.kept is not None:
        opts.kept.append(cluster)
    seconds = {"read": round(opts.read_seconds, 3), "load": time.perf_counter() - clock}
    grow = opts.command == "grow"
    unmodeled = policyfacts.unmodeled(
        cluster.engine, grow, cluster.config_warnings, [(t.key, t.pod) for t in templates]
    )
    clock = time.perf_counter()
    if opts.command == "fit":
        # the state ends with the plan: the last template's copies stay bound
        doc = render.fit_json(opts.source, fit(cluster, templates, restore=False), unmodeled)
        seconds["plan"] = time.perf_counter() - clock
    else:
        resources = measure.resources_of(templates)
        before = measure.usage(cluster, resources)
        total = sum(t.replicas for t in templates)
        with progress.bar(opts.command, total) as tick:
            result = place.place(cluster, templates, opts.seed, shapes, tick)
        seconds["plan"] = time.perf_counter() - clock
        clock = time.perf_counter()
        m = measure.measure(cluster, templates, result, before, shapes)
        seconds["measure"] = time.perf_counter() - clock
        if opts.write_snapshot:
            _write_snapshot(opts.write_snapshot, opts.items, templates, result, shapes)
        doc = render.place_json(opts.command, opts.source, result, m, unmodeled, shapes)
    doc["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    return doc


def _write_snapshot(
    path: str, items: list[Any], templates: list[Any], result: Any, shapes: list[Any] | None
) -> None:
    """The cluster after the plan, as a List `--snapshot` reads: its nodes, the nodes
    added, its pods, and the placed copies bound to their nodes."""
    out = list(items)
    by_name = {s.name: s for s in shapes or ()}
    out.extend(by_name[shape].instance(node) for node, shape in result.added_nodes)
    serial = [0] * len(templates)
    for k, _, node in result.placements:
        i = serial[k]
        serial[k] += 1
        if node is not None:
            t = templates[k]
            meta = {**t.pod["metadata"], "name": t.copy_name(i), "uid": t.copy_uid(i)}
            spec = {**t.pod["spec"], "nodeName": node}  # shallow: the copies share the rest
            out.append({**t.pod, "metadata": meta, "spec": spec, "status": {"phase": "Running"}})
    try:
        with open(path, "wb") as f:
            f.write(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": out}))
    except OSError as exc:
        raise ConfigError(f"--write-snapshot {path}: {exc.strerror}") from None


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """A plan is one batch over long-lived objects (the snapshot, the state, the
    copies it binds): the cyclic collector would walk them again and again for
    nothing (a tenth of a 30,000-pod place)."""
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def main(opts: PlanOptions) -> int:
    if opts.plots and opts.command != "fit":
        plots.prepare(opts.plots)
    if opts.write_snapshot:
        where = os.path.dirname(os.path.abspath(opts.write_snapshot))
        if not os.access(where, os.W_OK):
            raise ConfigError(f"--write-snapshot {opts.write_snapshot}: cannot write in {where}")
    doc = run(opts)
    if opts.plots and opts.command != "fit":
        plots.write(doc, opts.plots)
    if opts.output == "json":
        data = orjson.dumps(doc) + b"\n"
    else:
        text = render.fit_table(doc) if opts.command == "fit" else render.place_table(doc)
        data = text.encode() + b"\n"
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
