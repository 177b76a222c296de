"""`podsift bench --client kube-scheduler`: the real scheduler as the client.

The bench workload goes through a real control plane (bench/controlplane.py:
etcd, kube-apiserver and kube-scheduler v1.34 built from the Kubernetes
modules) five times, each on a fresh etcd:

- `alone`: kube-scheduler with its default profile, no extender;
- `podsift`: kube-scheduler with manifests/sidecar/scheduler-config.yaml, its
  extender pointed at `podsift serve --kubeconfig` (podsift filters,
  prioritizes and binds);
- `podsift-nobind`: the same without `bindVerb`: kube-scheduler binds, and
  podsift learns each placement from its watch (the cost of podsift's Binding,
  and of a view that lags kube-scheduler's by a watch event);
- `calibration`: the same configuration pointed at the bare WSGI calibration
  server (bench/calibrate.py: every node passes, every score 0) without
  `bindVerb`: kube-scheduler binds. What any Python extender under gunicorn
  costs before it does any work; the yardstick of `podsift-nobind`.
- `calibration-bind`: the calibration server with `bindVerb`, as podsift runs:
  its `/bind` POSTs the Binding with podsift's own client and nothing more.
  What any Python extender that binds costs before it does any work; the
  yardstick of `podsift`, in the same configuration (its Bindings, too, come
  from a second client of the API server: docs/PERFORMANCE.md, "What
  `bindVerb` costs the whole cycle").

Per run the Nodes and then all Pods are created while no scheduler runs; then
kube-scheduler starts and a watch on the pods records when each one is bound.
Throughput is the pods bound over the time from the first Binding to the
last, as scheduler_perf's SchedulingThroughput counts scheduled pods over the
run; the timeline (pods bound per second) goes into results.json and a plot.
kube-scheduler's client QPS and burst are raised to 5,000 as scheduler_perf
raises them, so its own rate limiter does not set the pace. The CPU seconds
each process used while pods were being scheduled show where the two cores
went.

The workload's pods lose what a client may not set (bench/controlplane.py's
`api_objects`): their owner references among it, so the system default
topology spreading, which needs an owning ReplicaSet, selects nothing in any
of the runs alike.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench import servers, validate
from bench.controlplane import (
    GO_BIN,
    TOKEN,
    ControlPlane,
    ControlPlaneError,
    KubeApi,
    api_objects,
    missing_binaries,
    placements_in_bind_order,
)
from bench.report import median_item

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SCHEDULER_CONFIG = ROOT / "manifests" / "sidecar" / "scheduler-config.yaml"
SHIPPED_POLICY = ROOT / "manifests" / "base" / "policy.yaml"
RUNS = ("alone", "podsift", "podsift-nobind", "calibration", "calibration-bind")
CALIBRATIONS = ("calibration", "calibration-bind")
SCHEDULER_NAME = "podsift"
CLIENT_QPS = 5000
# a run ends when every pod is bound, or when none was bound for this long
STALL_S = 30.0


@dataclass
class SchedulerRun:
    """One run: when each pod was bound, and what every process spent."""

    label: str
    pods: int
    bound_at: list[float] = field(default_factory=list)
    started: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    setup_s: float = 0.0
    extender_requests: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    invalid: int = 0

    @property
    def bound(self) -> int:
        return len(self.bound_at)

    @property
    def seconds(self) -> float:
        """From the first Binding to the last."""
        return self.bound_at[-1] - self.bound_at[0] if len(self.bound_at) > 1 else 0.0

    @property
    def pods_per_s(self) -> float:
        return (self.bound - 1) / self.seconds if self.seconds > 0 else 0.0

    def timeline(self) -> list[int]:
        """Pods bound in each second after kube-scheduler started."""
        if not self.bound_at:
            return []
        counts = [0] * (int(self.bound_at[-1] - self.started) + 1)
        for at in self.bound_at:
            counts[int(at - self.started)] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        per_pod = {
            name: round(seconds * 1000 / self.bound, 3) if self.bound else None
            for name, seconds in self.cpu_s.items()
        }
        return {
            "pods": self.pods,
            "bound": self.bound,
            "seconds": round(self.seconds, 3),
            "pods_per_s": round(self.pods_per_s, 1),
            "cpu_s": {k: round(v, 2) for k, v in self.cpu_s.items()},
            "cpu_ms_per_pod": per_pod,
            "setup_s": round(self.setup_s, 1),
            "extender_requests": self.extender_requests,
            "timeline_pods_per_s": self.timeline(),
            "invalid_placements": self.invalid,
            "notes": self.notes,
        }


class BindWatch:
    """Streams the pods' watch from the API server and records, per pod, the
    moment it was first seen bound. A thread of its own; cheap for the API server
    (served from its watch cache)."""

    def __init__(self, cp: ControlPlane, resource_version: str) -> None:
        self.cp = cp
        self.resource_version = resource_version
        self.bound: dict[str, float] = {}
        self.error: str | None = None
        self.changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bind-watch", daemon=True)
        self._conn: http.client.HTTPSConnection | None = None

    def start(self) -> BindWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None and self._conn.sock is not None:
            try:
                self._conn.sock.shutdown(2)
            except OSError:
                pass
        self._thread.join(timeout=10)

    def _run(self) -> None:
        context = ssl.create_default_context(cafile=str(self.cp.pki / "ca.crt"))
        rv = self.resource_version
        while not self._stop.is_set():
            self._conn = http.client.HTTPSConnection(
                "127.0.0.1", self.cp.port, context=context, timeout=None
            )
            try:
                self._conn.request(
                    "GET",
                    f"/api/v1/pods?watch=1&resourceVersion={rv}",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                response = self._conn.getresponse()
                if response.status != 200:
                    self.error = f"watch: HTTP {response.status}"
                    return
                while not self._stop.is_set():
                    line = response.readline()
                    if not line:
                        break
                    event = orjson.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        self.error = f"watch: {obj.get('message')}"
                        return
                    meta = obj.get("metadata") or {}
                    rv = meta.get("resourceVersion", rv)
                    if (obj.get("spec") or {}).get("nodeName"):
                        key = f"{meta.get('namespace')}/{meta.get('name')}"
                        if key not in self.bound:
                            self.bound[key] = time.monotonic()
                            self.changed.set()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if not self._stop.is_set():
                    self.error = f"watch: {exc}"
                    time.sleep(0.2)
            finally:
                self._conn.close()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (gunicorn master + worker)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in servers.child_pids(pid))


def scheduler_config(kind: str, extender_port: int | None) -> dict[str, Any]:
    """The KubeSchedulerConfiguration of a run, QPS raised as scheduler_perf does."""
    if kind == "alone":
        config: dict[str, Any] = {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "leaderElection": {"leaderElect": False},
            "profiles": [{"schedulerName": SCHEDULER_NAME}],
        }
    else:
        config = yaml.safe_load(SHIPPED_SCHEDULER_CONFIG.read_text())
        (extender,) = config["extenders"]
        extender["urlPrefix"] = f"http://127.0.0.1:{extender_port}"
        if kind == "podsift-nobind":
            extender.pop("bindVerb", None)  # kube-scheduler binds; podsift learns from its watch
        if kind in CALIBRATIONS:
            extender.pop("preemptVerb", None)  # it evaluates no victims
        if kind == "calibration":
            extender.pop("bindVerb", None)  # it binds nothing: kube-scheduler binds
    config["clientConnection"] = {"qps": CLIENT_QPS, "burst": CLIENT_QPS}
    return config


def _settled_requests(port: int, label: str, bound: int) -> dict[str, float]:
    """`_podsift_requests` once podsift has counted every bind it made: the watch can
    show the last Binding before podsift's /bind handler has recorded it (a few ms)."""
    counts = _podsift_requests(port)
    if label != "podsift":
        return counts  # without bindVerb podsift binds nothing
    deadline = time.monotonic() + 5.0
    while counts.get("bind:ok", 0) + counts.get("bind:error", 0) < bound:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
        counts = _podsift_requests(port)
    return counts


def _podsift_requests(port: int) -> dict[str, float]:
    """podsift's own count of requests per verb and outcome (`filter:ok`), and the
    mean time it took to answer each verb (`filter:mean_ms`), from its /metrics."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except OSError:
        return {}
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    calls: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            verb = sample.labels.get("verb", "")
            if sample.name == "podsift_requests_total":
                counts[f"{verb}:{sample.labels['outcome']}"] = sample.value
            elif sample.name == "podsift_request_duration_seconds_sum":
                sums[verb] = sample.value
            elif sample.name == "podsift_request_duration_seconds_count":
                calls[verb] = sample.value
    for verb, total in sums.items():
        if calls.get(verb):
            counts[f"{verb}:mean_ms"] = round(total * 1000 / calls[verb], 3)
    return counts


def run_one(
    label: str,
    items: list[dict[str, Any]],
    workdir: Path,
    threads: int,
    config: str | None = None,
    tick: Any = None,
    log: Any = print,
    profile: str | None = None,
) -> SchedulerRun:
    """One of the runs on a fresh control plane."""
    setup, nodes, pods = api_objects(items, SCHEDULER_NAME)
    run = SchedulerRun(label, len(pods))
    directory = workdir / f"kube-scheduler-{label}"
    began = time.monotonic()
    with ControlPlane(directory) as cp:
        api: KubeApi = cp.api  # type: ignore[assignment]
        api.create_setup(setup)
        api.create_many(lambda _n: "/api/v1/nodes", nodes, threads=8)
        api.create_many(
            lambda p: f"/api/v1/namespaces/{p['metadata']['namespace']}/pods", pods, threads=8
        )
        log(f"  {label}: {len(nodes)} nodes and {len(pods)} pods created "
            f"in {time.monotonic() - began:.0f} s")
        extender: servers.ServerProcess | None = None
        port = servers.free_port()
        if label.startswith("podsift"):
            command = servers.podsift_command(
                "",
                port,
                threads,
                config=config or str(SHIPPED_POLICY),
                profile=profile,
                kubeconfig=str(cp.kubeconfig),
            )
            extender = servers.ServerProcess(command, port, str(directory / "podsift.log"), label)
        elif label in CALIBRATIONS:
            binding = None
            if label == "calibration-bind":
                binding = {
                    "PODSIFT_CALIBRATION_API": cp.server,
                    "PODSIFT_CALIBRATION_TOKEN": TOKEN,
                    "PODSIFT_CALIBRATION_CA": str(cp.pki / "ca.crt"),
                }
            extender = servers.ServerProcess(
                servers.calibration_command(port, threads),
                port,
                str(directory / f"{label}.log"),
                label,
                env=binding,
            )
        try:
            if extender is not None:
                extender.start()
            listing = api.get("/api/v1/pods?limit=1")
            watch = BindWatch(cp, listing["metadata"]["resourceVersion"]).start()
            run.setup_s = time.monotonic() - began
            pids = {"kube-apiserver": cp.apiserver.pid, "etcd": cp.etcd.pid}  # type: ignore[union-attr]
            if extender is not None:
                pids[label] = extender.pid
            before = {name: process_tree_cpu(pid) for name, pid in pids.items()}
            run.started = time.monotonic()
            scheduler = cp.scheduler(
                scheduler_config(label, port if extender is not None else None)
            )
            # a new process: all of its CPU counts, its start included (cp.scheduler
            # waits a moment to see it run, and a small run can be over by then)
            before["kube-scheduler"] = 0.0
            pids["kube-scheduler"] = scheduler.pid
            last, last_change = 0, time.monotonic()
            try:
                while len(watch.bound) < len(pods):
                    watch.changed.wait(1.0)
                    watch.changed.clear()
                    now = time.monotonic()
                    if len(watch.bound) != last:
                        if tick is not None:
                            tick(len(watch.bound) - last)
                        last, last_change = len(watch.bound), now
                    elif now - last_change > STALL_S:
                        run.notes.append(
                            f"{len(pods) - last} pods still pending after {STALL_S:.0f} s "
                            "without a new binding"
                        )
                        break
                    if not scheduler.alive():
                        raise RuntimeError(f"kube-scheduler exited:\n{scheduler.log_tail()}")
                    if watch.error:
                        raise RuntimeError(watch.error)
                run.cpu_s = {
                    name: process_tree_cpu(pid) - before[name] if name != "kube-scheduler"
                    else cpu_seconds(pid) - before[name]
                    for name, pid in pids.items()
                }
                if label.startswith("podsift"):
                    run.extender_requests = _settled_requests(port, label, run.bound)
            finally:
                scheduler.stop()
                watch.stop()
            run.bound_at = sorted(watch.bound.values())
            run.invalid = invalid_placements(api)
        finally:
            if extender is not None:
                extender.stop()
    return run


def _paged(api: KubeApi, path: str) -> Iterator[dict[str, Any]]:
    token = ""
    while True:
        page = api.get(f"{path}?limit=5000" + (f"&continue={token}" if token else ""))
        yield from page["items"]
        token = page["metadata"].get("continue") or ""
        if not token:
            return


def invalid_placements(api: KubeApi) -> int:
    """Pods the run placed where they do not fit, by bench/validate.py's reading of
    the API server's own Node and Pod objects."""
    nodes = [{**n, "kind": "Node"} for n in _paged(api, "/api/v1/nodes")]
    pods, placed = placements_in_bind_order(_paged(api, "/api/v1/pods"))
    # kube-scheduler binds in goroutines: the commit order is not quite its decision order
    return validate.invalid_pods(validate.validate([*nodes, *pods], placed, order_known=False))


def run_all(
    items: list[dict[str, Any]],
    workdir: Path,
    threads: int,
    config: str | None = None,
    runs: tuple[str, ...] = RUNS,
    repeats: int = 1,
    progress: Any = None,
    log: Any = print,
) -> dict[str, list[SchedulerRun]]:
    """Every run `repeats` times, alternating (alone, podsift, calibration, alone,
    ...), so a slow spell of the shared machine falls on all of them alike."""
    done: dict[str, list[SchedulerRun]] = {label: [] for label in runs}
    pods = sum(1 for item in items if item.get("kind") == "Pod")
    for repeat in range(repeats):
        for label in runs:
            name = label if repeats == 1 else f"{label} #{repeat + 1}"
            with progress(name, pods) if progress else _no_progress() as tick:
                run = run_one(label, items, workdir / f"r{repeat}", threads, config, tick, log)
            done[label].append(run)
            log(
                f"  {name}: {run.bound}/{run.pods} bound in {run.seconds:.1f} s, "
                f"{run.pods_per_s:.1f} pods/s"
            )
    return done


@contextlib.contextmanager
def _no_progress() -> Iterator[None]:
    yield None


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


# targets of issue 11, at 1,000 nodes and 30,000 pods
# podsift/calibration-bind: the calibration server in podsift's configuration (it
# binds); podsift/calibration, against one that leaves binding to kube-scheduler,
# is reported beside it
TARGETS = {"podsift/alone": 0.6, "podsift/calibration-bind": 0.9}
AIM = {"podsift/alone": 0.8}


def summarize(runs: dict[str, list[SchedulerRun]]) -> dict[str, Any]:
    """Per run: the median over repeats (and each repeat); the ratios of medians."""
    out: dict[str, Any] = {}
    for label, repeats in runs.items():
        median_run = median_item(repeats, key=lambda r: r.pods_per_s)
        entry = median_run.summary()
        entry["pods_per_s"] = round(_median([r.pods_per_s for r in repeats]), 1)
        entry["repeats_pods_per_s"] = [round(r.pods_per_s, 1) for r in repeats]
        entry["invalid_placements"] = max(r.invalid for r in repeats)
        out[label] = entry
    rate = {label: entry["pods_per_s"] for label, entry in out.items()}
    ratios: dict[str, float] = {}
    for a, b in (
        ("podsift", "alone"),
        ("podsift", "calibration-bind"),
        ("podsift", "calibration"),
        ("podsift-nobind", "alone"),
        ("podsift-nobind", "calibration"),
        ("calibration", "alone"),
        ("calibration-bind", "alone"),
    ):
        if rate.get(a) and rate.get(b):
            ratios[f"{a}/{b}"] = round(rate[a] / rate[b], 3)
    checks = [
        {
            "name": name,
            "value": ratios[name],
            "target": target,
            "aim": AIM.get(name),
            "met": ratios[name] >= target,
        }
        for name, target in TARGETS.items()
        if name in ratios
    ]
    return {"runs": out, "ratios": ratios, "checks": checks}


def format_text(summary: dict[str, Any]) -> str:
    w = summary["workload"]
    lines = [
        f"podsift bench --client kube-scheduler: kube-scheduler {w['kube_scheduler']} on a real "
        f"control plane, {w['nodes']} nodes, {w['pods']} pods, seed {w['seed']}, "
        f"{w['repeats']} repeat(s), a fresh etcd each run",
        "",
        f"  {'run':<16}{'bound':>7}{'pods/s':>9}{'repeats':>22}   CPU ms a pod: "
        "kube-scheduler / apiserver / etcd / extender",
    ]
    for label, run in summary["runs"].items():
        cpu = run["cpu_ms_per_pod"]
        extender = cpu.get(label)
        repeats = ", ".join(f"{v:g}" for v in run["repeats_pods_per_s"])
        lines.append(
            f"  {label:<16}{run['bound']:>7}{run['pods_per_s']:>9.1f}{repeats:>22}   "
            f"{cpu.get('kube-scheduler', 0):.2f} / {cpu.get('kube-apiserver', 0):.2f} / "
            f"{cpu.get('etcd', 0):.2f} / " + (f"{extender:.2f}" if extender is not None else "-")
        )
    podsift = summary["runs"].get("podsift", {}).get("extender_requests") or {}
    if podsift:
        lines.append(
            "  podsift's own mean time a request: "
            + ", ".join(
                f"{verb} {podsift[f'{verb}:mean_ms']:.2f} ms"
                for verb in ("filter", "prioritize", "bind")
                if f"{verb}:mean_ms" in podsift
            )
        )
    lines.append("")
    for name, value in summary["ratios"].items():
        check = next((c for c in summary["checks"] if c["name"] == name), None)
        verdict = ""
        if check:
            aim = f", aim {check['aim']}" if check["aim"] else ""
            verdict = f"  (target >= {check['target']}{aim}: {'met' if check['met'] else 'MISSED'})"
        lines.append(f"  {name:<28}{value:.3f}{verdict}")
    invalid = {k: r["invalid_placements"] for k, r in summary["runs"].items()}
    lines.append(
        "  invalid placements (bench/validate.py against the Node objects): "
        + ", ".join(f"{k} {v}" for k, v in invalid.items())
    )
    for label, run in summary["runs"].items():
        for note in run["notes"]:
            lines.append(f"  note ({label}): {note}")
    if summary.get("files"):
        lines.append("")
        lines += [f"  {what}: {path}" for what, path in summary["files"].items()]
    return "\n".join(lines)


def kube_scheduler_version() -> str:
    try:
        out = subprocess.run(
            [str(GO_BIN / "kube-scheduler"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except OSError:
        return "?"
    return out.strip().rsplit(" ", 1)[-1] or "?"


def bench(args: Any, progress: Any = None, log: Any = print) -> tuple[dict[str, Any], int]:
    """`podsift bench --client kube-scheduler`: (summary, exit code)."""
    from bench.workload import generate

    missing = missing_binaries(GO_BIN)
    if missing:
        raise ControlPlaneError(
            f"--client kube-scheduler needs {', '.join(missing)} in go/bin: run ./dev build-go "
            "(./dev bench does it when Go is installed)"
        )
    items = generate(args.nodes, args.pods, seed=args.seed)["items"]
    runs = tuple(r for r in RUNS if not (r in CALIBRATIONS and args.no_calibration))
    workdir = Path(tempfile.mkdtemp(prefix="podsift-kubesched-"))
    try:
        done = run_all(
            items, workdir, args.threads, args.config, runs, args.repeats, progress, log
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(done)
    summary["workload"] = {
        "client": "kube-scheduler",
        "kube_scheduler": kube_scheduler_version(),
        "nodes": args.nodes,
        "pods": args.pods,
        "seed": args.seed,
        "repeats": args.repeats,
        "threads": args.threads,
        "config": args.config,
        "client_qps": CLIENT_QPS,
    }
    invalid = sum(run["invalid_placements"] for run in summary["runs"].values())
    return summary, 1 if invalid else 0


def main(argv: list[str] | None = None) -> int:
    """Development entry point, one run with a server CPU profile:
    python -m bench.kubesched [--profile=FILE] [--threads=N] NODES PODS [RUN]."""
    import sys

    from bench.workload import generate

    args = sys.argv[1:] if argv is None else list(argv)
    options = dict(a[2:].split("=", 1) for a in args if a.startswith("--"))
    args = [a for a in args if not a.startswith("--")]
    usage = "usage: python -m bench.kubesched [--profile=FILE] [--threads=N] NODES PODS [RUN]"
    if not 2 <= len(args) <= 3 or not all(a.isdigit() for a in args[:2]):
        print(usage, file=sys.stderr)
        return 2
    profile = options.get("profile")
    threads = int(options.get("threads", 4))
    nodes, pods = int(args[0]), int(args[1])
    label = args[2] if len(args) > 2 else "podsift"
    if label not in RUNS:
        print(f"{usage}\nRUN is one of: {', '.join(RUNS)}", file=sys.stderr)
        return 2
    items = generate(nodes, pods, seed=1)["items"]
    with tempfile.TemporaryDirectory(prefix="podsift-kubesched-") as tmp:
        run = run_one(label, items, Path(tmp), threads=threads, profile=profile)
    summary = run.summary()
    summary.pop("timeline_pods_per_s")
    print(label, orjson.dumps(summary).decode())
    return 0


__all__ = ["RUNS", "SchedulerRun", "bench", "format_text", "run_all", "summarize"]

if __name__ == "__main__":
    raise SystemExit(main())
