"""`podsift bench`: run the bundled microbenchmark and print (and save) its report.

A default run, all on one synthetic workload (`bench.workload.generate`):

1. calibration: the bare WSGI echo app (`bench.calibrate`) under the same
   gunicorn settings, on the first `--baseline-pods` pods (by default all of
   them, at most 30,000: its per-pod cost does not depend on how full the
   cluster is);
2. protocol floor: `podsift serve` with an empty policy configuration
   (`filters: []`, `scores: []`), on the same prefix;
3. policies: `podsift serve` with the default (or `--config`) policies, on
   every pod;
4. in-process: the same engine with no HTTP (`extender.inprocess`), every pod;
5. full Nodes (`bench.fullnodes`): in-process `/filter` and `/prioritize` with every
   Node object, each against orjson's decode of the same body (runs 4 and 5 are
   what `--mode inprocess` runs);
6. preemption: /preempt on a cluster of its own (`bench.preempt`);
7. plans: `podsift plan` place, fit and grow over the same cluster, each its own
   process, as README "Capacity planning" times them (`bench.planbench`;
   `--mode plan` runs them alone, `--no-plan` skips them).

The HTTP runs' requests carry every node, or with `--sample` the rotating
window of nodes kube-scheduler sends at scale (`bench.sampling`; the default
above 5,000 nodes x 150,000 pods), plus an all-nodes probe reported apart.

The HTTP runs start their server on 127.0.0.1 on a free port and stop it by
pid (SIGTERM, then wait) when the run ends, also on an error or Ctrl-C. A
replay client drives them (`--client`, `bench.clients`): the Go one
(go/bin/replay) by default where it is built, else the Python driver.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from bench import (
    clients,
    driver,
    fullnodes,
    planbench,
    preempt,
    report,
    sampling,
    servers,
    validate,
)
from bench.workload import generate
from extender.argtypes import positive
from extender.engine.config import load_configuration
from extender.engine.engine import Engine
from extender.model.errors import PodsiftError

DEFAULT_NODES = 1000
DEFAULT_PODS = 30000
BASELINE_PODS_CAP = 30000  # above this, calibration and floor run on a prefix
FULL_NODES_DEFAULT_PODS = 300  # full-Nodes bodies cost ~0.2 s a pod at 1,000 nodes
FULL_NODES_MS_PER_POD_PER_1000_NODES = 215.0  # measured, see docs/PERFORMANCE.md
DEFAULT_MAX_BODY = 64 * 1024 * 1024
KUBE_SCHEDULER = "kube-scheduler"  # --client: the real scheduler instead of a replay client
FLOOR_CONFIG = {
    "apiVersion": "podsift/v1",
    "kind": "PolicyConfiguration",
    "filters": [],
    "scores": [],
}
UTILIZATION_RESOURCES = ("cpu", "memory", "pods")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="podsift bench",
        description="Schedule a synthetic workload through podsift and report the speed.",
    )
    p.add_argument("--nodes", type=positive, default=DEFAULT_NODES, help="cluster size")
    p.add_argument(
        "--pods",
        type=positive,
        default=None,
        help=f"pods to schedule (default {DEFAULT_PODS}; {FULL_NODES_DEFAULT_PODS} "
        "with --no-node-cache, whose 8 MB bodies make every pod cost ~0.2 s)",
    )
    p.add_argument("--seed", type=int, default=1, help="workload and tie-break seed")
    p.add_argument(
        "--mode",
        choices=("all", "http", "inprocess", "preempt", "plan"),
        default="all",
        help="http: calibration, floor, policy and preemption runs over HTTP; inprocess: the "
        "engine alone; preempt: the preemption run alone; plan: `podsift plan` place, fit and "
        "grow alone (bench.planbench); all (default): every run",
    )
    p.add_argument(
        "--node-cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send NodeNames (nodeCacheCapable=true, default) or full Nodes",
    )
    p.add_argument("--concurrency", type=positive, default=1, help="scheduler threads")
    p.add_argument(
        "--sample",
        type=sampling.parse_sample,
        default=None,
        metavar="all|auto|PERCENT",
        help="nodes each /filter of the HTTP runs carries: all; auto, kube-scheduler's "
        "adaptive percentageOfNodesToScore (50 - nodes/125 percent, at least 5 percent and "
        "100 nodes) as a window rotating from pod to pod; or a fixed percentage. Default: "
        "all up to 5,000 nodes x 150,000 pods, auto above (bench/sampling.py). In-process "
        "runs always take every node",
    )
    p.add_argument(
        "--all-nodes-every",
        type=int,
        default=None,
        metavar="K",
        help="with a sample: pods 0, K, 2K, ... carry every node (the all-nodes probe, "
        f"reported apart; default {sampling.DEFAULT_PROBE_EVERY}, 0: none)",
    )
    p.add_argument(
        "--client",
        choices=(*clients.CHOICES, KUBE_SCHEDULER),
        default=None,
        help="replay client of the HTTP runs: go (go/bin/replay, built by ./dev build-go) or "
        "python (the bench process itself); default: go where it is built and runs, else "
        "python with a note saying why. kube-scheduler: instead of the runs above, the real "
        "kube-scheduler on a real control plane (go/bin), alone, with podsift (with and "
        "without bindVerb) and with the calibration server as its extender (without and with "
        "bindVerb: its /bind then POSTs the Binding) (README, "
        "'kube-scheduler as the client')",
    )
    p.add_argument(
        "--repeats",
        type=positive,
        default=1,
        help="rounds of the HTTP runs (--mode all or http): calibration, floor and policies "
        "this many times, alternating; the ratios and their checks are the medians of each "
        "round's own ratios, and the report shows each run's median round (the other runs "
        "run once). With --client kube-scheduler: its five runs this many times, alternating, "
        "medians reported. Default 1",
    )
    p.add_argument(
        "--threads",
        type=positive,
        default=None,
        help="threads of the server's one worker (default: 4, or --concurrency if larger)",
    )
    p.add_argument(
        "--tie-break",
        choices=("random", "first"),
        default="random",
        help="among equal best scores (scores are 0..10, so ties are many): a seeded random "
        "one, as kube-scheduler's selectHost (default), or the first in node order, as "
        "podsift's in-process schedule_one; with first, the HTTP and in-process runs must "
        "place every pod alike. Calibration and floor runs, where every score is 0, always "
        "use random so their binds spread",
    )
    p.add_argument(
        "--baseline-pods",
        type=positive,
        default=None,
        help="pods for the calibration and floor runs, a prefix of the workload (default: "
        f"all pods, at most {BASELINE_PODS_CAP}; their per-pod cost does not depend on "
        "how full the cluster is)",
    )
    p.add_argument("--no-calibration", action="store_true", help="skip the bare WSGI run")
    p.add_argument("--no-floor", action="store_true", help="skip the empty-policy run")
    p.add_argument(
        "--no-plan", action="store_true", help="skip the `podsift plan` runs of --mode all"
    )
    p.add_argument(
        "--plan-grow-pods",
        type=positive,
        default=None,
        help="pods of the plan grow run (default: 51,000 for 30,000 pods, cluster-autoscaler's "
        "benchmark scale, and in that proportion to --pods)",
    )
    p.add_argument(
        "--plan-repeats",
        type=positive,
        default=1,
        help="runs of each plan, each its own process; the report gives the medians",
    )
    p.add_argument("--config", help="policy configuration for the policy and in-process runs")
    p.add_argument(
        "--profile",
        help="write a cProfile of the server during the policy run (of the in-process "
        "loop with --mode inprocess) to this file",
    )
    p.add_argument(
        "--inprocess-verbs",
        action="store_true",
        help="in-process: call filter, prioritize and bind separately instead of schedule_one",
    )
    preempt.add_arguments(p)
    p.add_argument("--out", help="write results.json and PNG plots into this directory")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: only when stderr is a terminal)",
    )
    return p


class _Progress:
    """A tqdm bar on a terminal, nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    @contextlib.contextmanager
    def run(self, label: str, total: int) -> Iterator[Callable[[int], None] | None]:
        if not self.enabled:
            yield None
            return
        from tqdm import tqdm

        with tqdm(total=total, desc=f"{label:<12}", unit="pod", leave=False) as bar:
            yield bar.update


class _MemorySampler:
    """Samples a process's VmRSS during a run: the largest is the steady-state figure."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.max_rss = 0

    def __call__(self) -> None:
        if self.pid is None:
            return
        rss = servers.memory_of(self.pid).get("rss", 0)
        self.max_rss = max(self.max_rss, rss)


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def _write_json(path: str, obj: Any) -> None:
    with open(path, "wb") as f:
        f.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def _write_raw(out_dir: str, results: list[driver.RunResult]) -> str:
    """Every run's per-pod latencies and finish times (ns), for anyone's own analysis."""
    arrays = {}
    for r in results:
        for verb, latency in r.latency_ns.items():
            arrays[f"{r.label}_{verb}_ns"] = latency
        arrays[f"{r.label}_done_ns"] = r.done_ns
    path = os.path.join(out_dir, "latencies.npz")
    np.savez_compressed(path, **arrays)
    return path


def _install_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the servers this bench started are stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, handler)


class Bench:
    """One `podsift bench` invocation: the workload, the runs, the report."""

    def __init__(
        self,
        args: argparse.Namespace,
        workdir: str,
        argv: list[str],
        client: tuple[str, clients.Runner, str | None] | None = None,
    ) -> None:
        self.args = args
        self.argv = argv
        self.workdir = workdir
        self.notes: list[str] = []
        if client is None and args.mode in ("all", "http"):
            client = clients.choose(args.client, clients.Setup(workdir))
        self.client_name, self.run_client, note = client or ("", None, None)
        if note:
            self.notes.append(note)
        self.preemption: dict[str, Any] | None = None
        self.sampling, note = sampling.choose(
            args.sample, args.all_nodes_every, args.nodes, args.pods
        )
        if note and args.mode in ("all", "http"):
            self.notes.append(note)
        self.progress = _Progress(
            sys.stderr.isatty() if args.progress is None else bool(args.progress)
        )
        cluster = generate(args.nodes, args.pods, seed=args.seed)
        # The workload lives as long as the bench: keep the collector from walking it
        # again and again, so the bench's own garbage is not charged to the engine.
        gc.collect()
        gc.freeze()
        self.items = cluster["items"]
        self.nodes = self.items[: args.nodes]
        self.pods = self.items[args.nodes :]
        self.snapshot = os.path.join(workdir, "snapshot.json")
        _write_json(self.snapshot, {"apiVersion": "v1", "kind": "List", "items": self.nodes})
        self.floor_config = os.path.join(workdir, "floor-config.json")
        _write_json(self.floor_config, FLOOR_CONFIG)
        self.max_body = DEFAULT_MAX_BODY
        if not args.node_cache:
            node_bytes = sum(len(orjson.dumps(n)) for n in self.nodes)
            self.max_body = max(DEFAULT_MAX_BODY, 2 * node_bytes + 1_000_000)

    # ---- HTTP runs ---------------------------------------------------------
    def http_run(
        self,
        label: str,
        command: Callable[[int], list[str]],
        pods: list[dict[str, Any]],
        tie_break: str,
        validated: bool = True,
        round_no: int = 0,
    ) -> driver.RunResult:
        """One run against a server of its own; `round_no` (1, 2, ...) is its round
        of --repeats, 0 without repeats: it names the log and the progress bar."""
        # What earlier runs left alive (their results) stays alive: keep the collector
        # from walking it during this run's timed loop.
        gc.collect()
        gc.freeze()
        port = servers.free_port()
        name = f"server-{label}-{round_no}.log" if round_no else f"server-{label}.log"
        log_path = os.path.join(self.log_dir(), name)
        with servers.ServerProcess(command(port), port, log_path, label) as server:
            worker = server.worker_pid()
            sampler = _MemorySampler(worker)
            sampler()
            loaded = servers.memory_of(worker).get("rss") if worker else None
            assert self.run_client is not None, "an HTTP run needs a replay client"
            shown = f"{label} {round_no}/{self.args.repeats}" if round_no else label
            with self.progress.run(shown, len(pods)) as tick:
                result = self.run_client(
                    clients.HttpRun(
                        label,
                        port,
                        self.nodes,
                        pods,
                        node_cache=self.args.node_cache,
                        concurrency=self.args.concurrency,
                        tie_break=tie_break,
                        seed=self.args.seed,
                        progress=tick,
                        sampler=sampler,
                        sampling=self.sampling,
                    )
                )
            sampler()
            end = servers.memory_of(worker) if worker else {}
            result.memory = {
                "what": "server worker",
                "pid": worker,
                "loaded_rss_mb": _mb(loaded),
                "steady_rss_mb": _mb(sampler.max_rss or None),
                "end_rss_mb": _mb(end.get("rss")),
                "peak_rss_mb": _mb(max(end.get("hwm", 0), sampler.max_rss) or None),
                "master_rss_mb": _mb(servers.memory_of(server.pid).get("rss")),
                "ready_s": None if server.ready_s is None else round(server.ready_s, 2),
            }
        result.validated = validated
        return result

    def log_dir(self) -> str:
        return self.args.out or self.workdir

    def calibration(self, pods: list[dict[str, Any]], round_no: int = 0) -> driver.RunResult:
        threads = self.args.threads
        return self.http_run(
            "calibration",
            lambda port: servers.calibration_command(port, threads),
            pods,
            tie_break="random",
            validated=False,
            round_no=round_no,
        )

    def floor(self, pods: list[dict[str, Any]], round_no: int = 0) -> driver.RunResult:
        return self.http_run(
            "floor",
            lambda port: servers.podsift_command(
                self.snapshot,
                port,
                self.args.threads,
                config=self.floor_config,
                max_body=self.max_body,
            ),
            pods,
            tie_break="random",
            round_no=round_no,
        )

    def policies(self, round_no: int = 0) -> driver.RunResult:
        return self.http_run(
            "policies",
            lambda port: servers.podsift_command(
                self.snapshot,
                port,
                self.args.threads,
                config=self.args.config,
                profile=self.args.profile,
                max_body=self.max_body,
            ),
            self.pods,
            tie_break=self.args.tie_break,
            round_no=round_no,
        )

    # ---- in-process run ----------------------------------------------------
    def inprocess(self, profile: str | None) -> driver.RunResult:
        from extender.inprocess import InProcessExtender

        me = os.getpid()
        before = servers.memory_of(me).get("rss")
        extender = InProcessExtender(self.nodes, self.args.config)
        after = servers.memory_of(me).get("rss")
        sampler = _MemorySampler(me)
        profiler = cProfile.Profile() if profile else None
        with self.progress.run("inprocess", len(self.pods)) as tick:
            if profiler:
                profiler.enable()
            try:
                result = driver.run_inprocess(
                    "inprocess",
                    extender,
                    self.nodes,
                    self.pods,
                    verbs=self.args.inprocess_verbs,
                    tie_break=self.args.tie_break,
                    seed=self.args.seed,
                    progress=tick,
                    sampler=sampler,
                )
            finally:
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(profile)
        sampler()
        end = servers.memory_of(me)
        result.memory = {
            "what": "bench process",
            "pid": me,
            "extender_built_delta_mb": _mb(after - before if after and before else None),
            "steady_rss_mb": _mb(sampler.max_rss or None),
            "end_rss_mb": _mb(end.get("rss")),
            "peak_rss_mb": _mb(max(end.get("hwm", 0), sampler.max_rss) or None),
            "note": "includes the workload objects the bench itself holds",
        }
        return result

    # ---- the whole invocation ------------------------------------------------
    def run(self) -> tuple[dict[str, Any], list[driver.RunResult]]:
        """Every run; (the summary, the runs it shows: with --repeats, each HTTP
        run's median round)."""
        a = self.args
        rounds: list[list[driver.RunResult]] = []
        results: list[driver.RunResult] = []
        http = a.mode in ("all", "http")
        wanted = a.baseline_pods or min(len(self.pods), BASELINE_PODS_CAP)
        baseline = self.pods[: min(wanted, len(self.pods))]
        if http and len(baseline) < len(self.pods) and not (a.no_calibration and a.no_floor):
            self.notes.append(
                f"calibration and floor ran on the first {len(baseline)} of {len(self.pods)} "
                "pods (their per-pod cost does not depend on how full the cluster is)"
            )
        for k in range(a.repeats if http else 0):
            round_no = k + 1 if a.repeats > 1 else 0
            this: list[driver.RunResult] = []
            if not a.no_calibration:
                this.append(self.calibration(baseline, round_no))
            if not a.no_floor:
                this.append(self.floor(baseline, round_no))
            this.append(self.policies(round_no))
            rounds.append(this)
        if http and a.profile:
            last = f" (every round profiled; the file holds round {a.repeats}'s)"
            self.notes.append(
                f"server CPU profile of the policy run written to {a.profile}; "
                "its timings are inflated by profiling" + (last if a.repeats > 1 else "")
            )
        if a.mode in ("all", "inprocess"):
            profile = a.profile if a.mode == "inprocess" else None
            results.append(self.inprocess(profile))
            if profile:
                self.notes.append(f"CPU profile of the in-process loop written to {profile}")
        if a.preempt and a.mode in ("all", "http", "preempt"):
            self.preemption = preempt.run(a, self.workdir, self.log_dir(), self.progress.enabled)
        plan = None
        if a.mode == "plan" or (a.mode == "all" and not a.no_plan):
            grow = a.plan_grow_pods or max(1, round(len(self.pods) * 51000 / DEFAULT_PODS))
            plan = planbench.run(self.items, grow, a.plan_repeats, a.config)
        summary, results = self.summarize(rounds, results)
        if plan is not None:
            summary["plan"] = plan
            summary["comparison"]["checks"].extend(planbench.checks(plan))
        if a.mode in ("all", "inprocess"):  # a few seconds: in-process, ~16 requests a kind
            summary["full_nodes"] = fullnodes.run(self.nodes, self.pods, a.config)
            summary["comparison"]["checks"].append(fullnodes.check(summary["full_nodes"]))
        return summary, results

    def summarize(
        self, rounds: list[list[driver.RunResult]], others: list[driver.RunResult]
    ) -> tuple[dict[str, Any], list[driver.RunResult]]:
        """The summary of the HTTP runs' rounds (one without --repeats) and the other
        runs, and the runs it shows: each HTTP label's median round by ms a pod, then
        the others. Every round's runs are validated; its comparison is its own."""
        a = self.args
        for result in [*(r for this in rounds for r in this), *others]:
            result.notes.append(f"1-minute load average at the end: {result.load_average:.2f}")

        def figures(result: driver.RunResult) -> dict[str, Any]:
            violations = None
            if result.validated:
                violations = validate.validate(self.items, result.placements)
            return report.summarize(result, violations)

        round_runs = [{r.label: figures(r) for r in this} for this in rounds]
        other_runs = {r.label: figures(r) for r in others}
        shown = {
            label: report.median_item(
                range(len(rounds)), key=lambda k, label=label: round_runs[k][label]["ms_per_pod"]
            )
            for label in (round_runs[0] if round_runs else {})
        }
        runs = {label: round_runs[k][label] for label, k in shown.items()} | other_runs
        results = [next(r for r in rounds[k] if r.label == label) for label, k in shown.items()]
        results += others
        by_label = {r.label: r for r in others}
        comparable = a.concurrency == 1 and a.tie_break == "first"
        if rounds and "policies" in runs and "inprocess" in by_label and comparable:
            local_placed = by_label["inprocess"].placements
            counts = []
            for this in rounds:
                http_placed = next(r for r in this if r.label == "policies").placements
                same = sum(1 for uid, node in http_placed.items() if local_placed.get(uid) == node)
                counts.append((same, len(http_placed)))
            same, placed = min(counts)
            self.notes.append(
                f"HTTP and in-process runs chose the same node for {same} of "
                f"{placed} pods (expected all: sequential, first-in-order ties)"
                + (f"; the fewest of {len(rounds)} rounds" if len(rounds) > 1 else "")
            )
        if "floor" in runs:
            self.notes.append(
                "the floor run has no filters, so its invalid placements are expected "
                "and not a target"
            )
        comparisons = [
            report.compare(
                this | other_runs,
                a.nodes,
                len(self.pods),
                standard=a.node_cache and a.concurrency == 1 and not a.profile,
            )
            for this in (round_runs or [{}])
        ]
        comparison = report.combine(comparisons)
        if self.preemption is not None:
            comparison["checks"].append(self.preemption["check"])
        repeats = {}  # the rounds of --repeats, only with more than one
        if len(rounds) > 1:
            section = report.repeats_summary(round_runs, comparisons, comparison, shown)
            repeats = {"repeats": section}
        summary = {
            "workload": {
                "nodes": a.nodes,
                "pods": len(self.pods),
                "seed": a.seed,
                "node_cache": a.node_cache,
                "concurrency": a.concurrency,
                "threads": a.threads,
                "tie_break": a.tie_break,
                "config": a.config,
                "client": self.client_name or None,
                "sample": self.sampling.describe(),
            },
            "notes": self.notes,
            "runs": runs,
            **repeats,
            "preemption": self.preemption,
            "comparison": comparison,
            "environment": {
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            "command": " ".join(["podsift", "bench", *self.argv]),
        }
        return summary, results


def _installed(module: str) -> bool:
    """Whether an optional dependency (the `bench` extra: matplotlib, tqdm) is importable."""
    return importlib.util.find_spec(module) is not None


def _kube_scheduler_bench(args: argparse.Namespace) -> int:
    """--client kube-scheduler (bench/kubesched.py): five runs through the real
    kube-scheduler; the report on stdout, results.json and a plot in --out."""
    from bench import kubesched
    from bench.controlplane import ControlPlaneError

    progress = _Progress(bool(args.progress))
    try:
        summary, code = kubesched.bench(
            args, progress.run, log=lambda line: print(line, file=sys.stderr)
        )
    except KeyboardInterrupt:
        print("podsift bench: interrupted; every process stopped", file=sys.stderr)
        return 130
    except (RuntimeError, PodsiftError, ControlPlaneError) as exc:
        print(f"podsift bench: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        from bench import plots

        files = {
            "plot": plots.kube_scheduler_throughput(
                summary, os.path.join(args.out, "kube_scheduler.png")
            ),
            "results": os.path.join(args.out, "results.json"),
        }
        summary["files"] = files
        _write_json(files["results"], summary)
    print(kubesched.format_text(summary))
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of `podsift bench` (called by `extender.cli`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.threads is None:
        args.threads = max(4, args.concurrency)
    if args.pods is None:
        args.pods = DEFAULT_PODS if args.node_cache else FULL_NODES_DEFAULT_PODS
    if args.all_nodes_every is not None and args.all_nodes_every < 0:
        print("podsift bench: error: --all-nodes-every must be 0 or more", file=sys.stderr)
        return 2
    if not args.node_cache and args.mode != "inprocess":
        per_pod = FULL_NODES_MS_PER_POD_PER_1000_NODES * args.nodes / 1000
        http_runs = (3 - args.no_calibration - args.no_floor) * args.repeats
        estimate = per_pod * args.pods / 1000 * http_runs
        print(
            f"podsift bench: full Nodes bodies: about {per_pod:.0f} ms a pod, "
            f"~{estimate / 60:.1f} min for {http_runs} HTTP run(s) of {args.pods} pods",
            file=sys.stderr,
        )
    if args.repeats > 1 and args.mode not in ("all", "http") and args.client != KUBE_SCHEDULER:
        print(
            f"podsift bench: --repeats repeats the HTTP runs (--mode all or http) and the "
            f"kube-scheduler runs; --mode {args.mode} has neither, so it is ignored "
            "(--plan-repeats repeats the plans)",
            file=sys.stderr,
        )
    if args.mode == "inprocess" and not args.node_cache:
        print("podsift bench: --no-node-cache has no meaning in-process; ignored", file=sys.stderr)
    if args.out and not _installed("matplotlib"):
        print(
            "podsift bench: error: --out writes PNG plots with matplotlib, which is not "
            "installed; install the bench extra (pip install 'podsift[bench]', as ./dev bench "
            "does) or leave out --out",
            file=sys.stderr,
        )
        return 2
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    if args.progress and not _installed("tqdm"):
        print("podsift bench: no progress bar (tqdm is not installed)", file=sys.stderr)
        args.progress = False
    try:  # a bad --config fails here, not after minutes of HTTP runs
        Engine(load_configuration(args.config))
    except PodsiftError as exc:
        print(f"podsift bench: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    _install_sigterm()
    if args.client == KUBE_SCHEDULER:
        return _kube_scheduler_bench(args)
    workdir = tempfile.mkdtemp(prefix="podsift-bench-")
    try:
        client = None
        if args.mode in ("all", "http"):
            try:
                client = clients.choose(args.client, clients.Setup(workdir))
            except clients.ClientUnavailable as exc:
                print(f"podsift bench: error: --client {args.client}: {exc}", file=sys.stderr)
                return 2
        bench = Bench(args, workdir, argv, client)
        summary, results = bench.run()
        if args.out:
            from bench import plots

            usage = None
            source = next((r for r in results if r.label == "policies"), None) or next(
                (r for r in results if r.label == "inprocess"), None
            )
            if source is not None:
                usage = validate.utilization(bench.items, source.placements, UTILIZATION_RESOURCES)
            title = f"Node utilization at the end ({source.label if source else '-'} run)"
            files = plots.write_all(args.out, results, usage, title) if results else {}
            files["raw latencies"] = _write_raw(args.out, results)
            files["results"] = os.path.join(args.out, "results.json")
            summary["files"] = files
            _write_json(files["results"], summary)
        print(report.format_text(summary))
    except KeyboardInterrupt:
        print("podsift bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    except (RuntimeError, PodsiftError) as exc:
        print(f"podsift bench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        gc.unfreeze()  # the workload is garbage now (matters when embedded, as in tests)
    return 1 if _invalid_placements(summary) else 0


def _invalid_placements(summary: dict[str, Any]) -> int:
    """The policies and in-process runs' invalid placements: with --repeats, the
    policies run's in its worst round (the report shows only its median round)."""
    invalid = {
        label: (s.get("validation") or {}).get("invalid_placements", 0)
        for label, s in summary["runs"].items()
        if label in ("policies", "inprocess")
    }
    for r in (summary.get("repeats") or {}).get("rounds", []):
        policies = r["runs"].get("policies") or {}
        invalid["policies"] = max(invalid.get("policies", 0), policies.get("invalid_placements", 0))
    return sum(invalid.values())
