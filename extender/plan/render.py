"""A plan as JSON for tools (docs/CONTRACT.md §6) and as a table for people."""

from __future__ import annotations

from typing import Any

from extender.plan.fit import TemplateFit
from extender.plan.measure import Measures
from extender.plan.place import PlaceResult
from extender.plan.shapes import Shape

UNITS = {"cpu": "millicores", "pods": "pods", "memory": "bytes", "ephemeral-storage": "bytes"}


def fit_json(source: str, fits: list[TemplateFit], unmodeled: list[str]) -> dict[str, Any]:
    """CONTRACT §6: per template `name`, `fits`, `per_node` {node: copies} and
    `limited_by` {reason: nodes}; the extras beside them (`namespace`, `workload`,
    `kind`, `limited_by_nodes` {reason: [node names]}) keep what a person asks next."""
    templates = []
    for f in fits:
        t = f.template
        limits = sorted(f.limited_by.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        templates.append(
            {
                "name": t.name,
                "namespace": t.namespace,
                "workload": t.key,
                "kind": t.kind,
                "fits": f.total,
                "per_node": f.per_node,
                "limited_by": {r: len(nodes) for r, nodes in limits},
                "limited_by_nodes": dict(limits),
            }
        )
    return {"command": "fit", "source": source, "templates": templates, "not_modeled": unmodeled}


def _amounts(usage: Any, i: int, resources: list[str], which: str) -> dict[str, int]:
    table = usage.allocatable if which == "allocatable" else usage.requested
    return {r: int(table[r][i]) for r in resources}


def place_json(
    command: str,
    source: str,
    result: PlaceResult,
    m: Measures,
    unmodeled: list[str],
    shapes: list[Shape] | None,
) -> dict[str, Any]:
    before_at = {n: i for i, n in enumerate(m.before.names)}
    nodes = {}
    for i, name in enumerate(m.after.names):
        b = before_at.get(name)
        nodes[name] = {
            "allocatable": _amounts(m.after, i, m.resources, "allocatable"),
            "requested_before": _amounts(m.before, b, m.resources, "requested")
            if b is not None
            else dict.fromkeys(m.resources, 0),  # a node grow added
            "requested_after": _amounts(m.after, i, m.resources, "requested"),
        }
    placed = sum(1 for _, _, node in result.placements if node is not None)
    reasons = sorted(result.unplaced_reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    doc: dict[str, Any] = {
        "command": command,
        "source": source,
        "pods": len(result.placements),
        "placed": placed,
        "unplaced": len(result.placements) - placed,
        "placements": [{"pod": pod, "node": node} for _, pod, node in result.placements],
        "unplaced_reasons": dict(reasons),
        "unplaced_groups": [
            {"message": u.message, "reasons": u.reasons, "pods": u.pods}
            for u in sorted(result.unplaced.values(), key=lambda u: -len(u.pods))
        ],
        "nodes": nodes,
        "stranded": m.stranded,
        "lower_bound": m.lower_bound,
        "lower_bound_by_resource": m.lower_bound_by,
        "nodes_used": m.nodes_used,
        "efficiency": round(m.lower_bound / m.nodes_used, 4) if m.nodes_used else None,
    }
    if shapes is not None:
        price = {s.name: s.price for s in shapes}
        doc["added"] = {s.name: result.added.get(s.name, 0) for s in shapes}
        doc["added_lower_bound"] = m.added_lower_bound
        doc["added_price"] = str(sum((price[s] * c for s, c in result.added.items()), 0))
    doc["not_modeled"] = unmodeled
    return doc


# ---- tables -----------------------------------------------------------------
def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _unmodeled_text(unmodeled: list[str]) -> str:
    return "not modeled:\n" + "\n".join(f"  - {u}" for u in unmodeled)


def _seconds_text(doc: dict[str, Any]) -> str:
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in doc.get("seconds", {}).items())
    return f"took: {parts}" if parts else ""


def fit_table(doc: dict[str, Any]) -> str:
    out = [f"fit over {doc['source']}"]
    rows = [["template", "fits", "nodes"]]
    for t in doc["templates"]:
        rows.append([t["workload"], str(t["fits"]), str(len(t["per_node"]))])
    out.append(_table(rows))
    for t in doc["templates"]:
        out.append(f"\n{t['workload']}: the next copy fails on")
        limits = sorted(t["limited_by"].items(), key=lambda kv: (-kv[1], kv[0]))
        rows = [["reason", "nodes"]] + [[r, str(n)] for r, n in limits]
        out.append(_table(rows) if limits else "  (no node)")
    out.append("")
    out.append(_unmodeled_text(doc["not_modeled"]))
    out.append(_seconds_text(doc))
    return "\n".join(out)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def place_table(doc: dict[str, Any]) -> str:
    out = [f"{doc['command']} over {doc['source']}: {doc['placed']} of {doc['pods']} pods placed"]
    resources = list(doc["stranded"])
    nodes = doc["nodes"].values()
    total_alloc = {r: sum(n["allocatable"][r] for n in nodes) for r in resources}
    before = {r: sum(n["requested_before"][r] for n in nodes) for r in resources}
    after = {r: sum(n["requested_after"][r] for n in nodes) for r in resources}
    rows = [["resource", "allocatable", "requested before", "after", "stranded", "lower bound"]]
    for r in resources:
        rows.append(
            [
                f"{r} ({UNITS.get(r, 'bytes' if r.startswith('hugepages-') else 'units')})",
                str(total_alloc[r]),
                f"{before[r]} ({_pct(before[r], total_alloc[r])})",
                f"{after[r]} ({_pct(after[r], total_alloc[r])})",
                f"{doc['stranded'][r]} ({_pct(doc['stranded'][r], total_alloc[r])})",
                str(doc["lower_bound_by_resource"][r]),
            ]
        )
    out.append(_table(rows))
    eff = doc["efficiency"]
    out.append(
        f"nodes in use: {doc['nodes_used']}; lower bound {doc['lower_bound']}"
        + (f"; packing efficiency {100 * eff:.1f}%" if eff is not None else "")
    )
    if "added" in doc:
        added = ", ".join(f"{s} {c}" for s, c in doc["added"].items())
        out.append(
            f"nodes added: {sum(doc['added'].values())} ({added}); lower bound "
            f"{doc['added_lower_bound']}; price {doc['added_price']}"
        )
    if doc["unplaced"]:
        out.append(f"\nnot placed: {doc['unplaced']} pods, each counted once per reason it got")
        rows = [["reason", "pods"]] + [[r, str(n)] for r, n in doc["unplaced_reasons"].items()]
        out.append(_table(rows))
        out.append("as kube-scheduler reports them:")
        out.extend(f"  {len(u['pods'])} pods: {u['message']}" for u in doc["unplaced_groups"])
    out.append("")
    out.append(_unmodeled_text(doc["not_modeled"]))
    out.append(_seconds_text(doc))
    return "\n".join(out)
