"""The cost of InterPodAffinity on /filter, in-process, over a cluster already filled.

    python -m bench.affinitycost --calls 300 --case anti --policies with
    valgrind --tool=callgrind python -m bench.affinitycost --calls 0 --case anti
    valgrind --tool=callgrind python -m bench.affinitycost --calls 300 --case anti

The benchmark's synthetic cluster (bench/workload.py) is filled with `--placed`
pods, a share of them given pod anti-affinity first (required per host for
a third of the Deployments, preferred per zone for another third), so the
state carries many distinct terms and counts. Then one pod is filtered
`--calls` times: `plain` has no pod affinity (only the placed pods' terms are
checked against it), `anti` has required anti-affinity per host against its
own app. `--policies with` runs the default filters plus InterPodAffinity,
`without` the default filters alone. Under callgrind, the difference of two
runs' totals divided by the calls is the cost of one /filter.
"""

from __future__ import annotations

import argparse
import time

import yaml

from bench.workload import HOSTNAME_LABEL, ZONE_LABEL, generate_split
from extender.inprocess import InProcessExtender
from extender.model.errors import BindError

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts"]
FILTERS += ["NodeResourcesFit"]


def _term(app: str, key: str) -> dict:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}


def with_anti_affinity(pod: dict, share: int) -> dict:
    """The pod with anti-affinity against its own app: `share` 0 required per host,
    1 preferred per zone, 2 none."""
    app = pod["metadata"].get("labels", {}).get("app")
    if app is None or share == 2:
        return pod
    spec = dict(pod["spec"])
    affinity = dict(spec.get("affinity") or {})
    if share == 0:
        affinity["podAntiAffinity"] = {REQUIRED: [_term(app, HOSTNAME_LABEL)]}
    else:
        affinity["podAntiAffinity"] = {
            PREFERRED: [{"weight": 100, "podAffinityTerm": _term(app, ZONE_LABEL)}]
        }
    spec["affinity"] = affinity
    return {**pod, "spec": spec}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.affinitycost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--placed", type=int, default=3000)
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--case", choices=("plain", "anti"), default="anti")
    p.add_argument("--policies", choices=("with", "without"), default="with")
    args = p.parse_args(argv)
    nodes, pods = generate_split(args.nodes, args.placed + 1)
    names = [n["metadata"]["name"] for n in nodes]
    filters = FILTERS + (["InterPodAffinity"] if args.policies == "with" else [])
    config = "apiVersion: podsift/v1\nkind: PolicyConfiguration\n"
    config += f"filters: [{', '.join(filters)}]\nscores: [NodeResourcesFit]\n"
    ext = InProcessExtender(nodes, config=yaml.safe_load(config))
    apps: dict[str, int] = {}
    placed = 0
    for pod in pods[: args.placed]:
        app = pod["metadata"].get("labels", {}).get("app", "")
        share = apps.setdefault(app, len(apps) % 3)
        try:
            placed += ext.schedule_one(with_anti_affinity(pod, share), names) is not None
        except BindError:
            pass
    incoming = pods[args.placed]
    if args.case == "anti":
        # a new replica of the app with the most pods placed, kept off their hosts
        counts: dict[str, int] = {}
        for rec in ext.state.pods.values():
            app = (rec.labels or {}).get("app")
            if app is not None:
                counts[app] = counts.get(app, 0) + 1
        app = max(counts, key=counts.__getitem__)
        twin = next(q for q in pods[: args.placed] if q["metadata"]["labels"].get("app") == app)
        meta = {**twin["metadata"], "name": "incoming", "uid": "incoming-uid"}
        incoming = with_anti_affinity({**twin, "metadata": meta}, 0)
    request = {"Pod": incoming, "NodeNames": names}
    ext.filter(request)  # parse and build the counters once, as a running server has
    start = time.perf_counter()
    for _ in range(args.calls):
        answer = ext.filter(request)
    elapsed = time.perf_counter() - start
    passed = len(answer["NodeNames"] or []) if args.calls else 0
    stats = ext.state.stats()
    print(
        f"placed {placed} of {args.placed}; carried terms {stats['pod_affinity_carried_terms']}, "
        f"label groups {stats['pod_affinity_groups']}; {args.case}, {args.policies} "
        f"InterPodAffinity: {passed} of {len(names)} nodes pass"
        + (f" (its app has {counts[app]} pods placed)" if args.case == "anti" else "")
    )
    if args.calls:
        print(f"/filter: {elapsed / args.calls * 1e6:.0f} us per call (wall time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
