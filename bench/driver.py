"""Replay kube-scheduler's conversation with an extender and time every call.

Per pod, as kube-scheduler does with an extender that filters, prioritizes and
binds: POST /filter with every node (node cache mode: the names; otherwise the
full Node objects), POST /prioritize over the survivors (skipped when exactly
one survives, as kube-scheduler skips scoring then), pick the highest score,
POST /bind. Sequential by default, like kube-scheduler's scheduling cycle;
with `concurrency` > 1 several scheduler threads take pods from one queue, each
with its own keep-alive connection.

Ties between equally scored nodes: `first` takes the first in the order sent
(the node list order; podsift's in-process engine does the same, so both modes
can agree pod for pod); `random` picks uniformly with a generator seeded from
the run's seed, as kube-scheduler's selectHost does.

Timing: `perf_counter_ns` around each request's send-and-receive only; request
bodies are encoded before and answers decoded after the timed section (the
names list is encoded once per run). Wall time covers everything.

The client's own cost: `run_http` records the bench process's CPU time
(`time.process_time_ns`, user + system, every thread) over the loop as
`client_cpu_ns`. During an HTTP run the bench process hosts only this client
(the server is a process of its own), its progress bar and the memory
sampler, so that is what the Python client spends on the two cores it shares
with the server. `bench.clients` runs the same conversation from a Go program
instead (go/cmd/replay) and fills the same `RunResult`.
"""

from __future__ import annotations

import functools
import gc
import http.client
import itertools
import operator
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from bench.sampling import Sampling
from bench.workload import binding_args

VERBS = ("filter", "prioritize", "bind")
INPROCESS_VERB = "schedule"
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
MAX_ERRORS_KEPT = 20


class PodFailed(Exception):
    """One pod could not be scheduled because of an error (not because nothing fits)."""


class BindRefused(PodFailed):
    """The extender refused the bind: the node no longer fits the pod (with several
    schedulers, another one's bind landed between this pod's filter and its bind)."""


# how often one pod goes round again after a refused bind, as kube-scheduler requeues
# a pod whose bind failed
BIND_RETRIES = 3


class HttpStatusError(Exception):
    def __init__(self, path: str, status: int, body: bytes) -> None:
        super().__init__(f"POST {path}: HTTP {status}: {body[:300]!r}")
        self.status = status


class Client:
    """One keep-alive connection; a reset connection is reopened once per request."""

    def __init__(self, host: str, port: int, timeout: float = 120.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, path: str, body: bytes) -> bytes:
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = self._connect()
                self.conn.request("POST", path, body, HEADERS)
                response = self.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise
                self.reconnects += 1
                continue
            if response.status != 200:
                raise HttpStatusError(path, response.status, data)
            return data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class RunResult:
    """Everything one run measured; `bench.report` turns it into figures."""

    label: str
    mode: str  # "http" or "inprocess"
    node_cache: bool
    concurrency: int
    pods: int
    verbs: tuple[str, ...]
    # per pod index: latency in ns of each verb (-1 where the verb was not called)
    latency_ns: dict[str, np.ndarray] = field(default_factory=dict)
    done_ns: np.ndarray | None = None  # when each pod was finished, ns since the start
    wall_ns: int = 0
    placements: dict[str, str] = field(default_factory=dict)  # pod uid -> node, bind order
    unschedulable: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    rebinds: int = 0  # pods sent round again after a refused bind
    memory: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    validated: bool = True  # False for the calibration run, whose binds are no-ops
    load_average: float = 0.0  # the machine's 1-minute load at the end (2 cores: noisy)
    gc: dict[str, Any] = field(default_factory=dict)  # in-process only: collector pauses
    client: str = ""  # HTTP runs: the replay client that drove the run ("python", "go")
    client_cpu_ns: int | None = None  # that client's own CPU (user + system) over the loop
    client_info: dict[str, Any] = field(default_factory=dict)  # client details for the report
    # HTTP runs with a node sample (bench.sampling): which pods carried every node
    # (the all-nodes probe, reported apart) and how the run chose its node lists
    probe: np.ndarray | None = None
    sampling: str = ""

    def record_error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)


def new_result(
    label: str, mode: str, node_cache: bool, concurrency: int, n: int, verbs
) -> RunResult:
    result = RunResult(label, mode, node_cache, concurrency, n, tuple(verbs))
    result.latency_ns = {v: np.full(n, -1, dtype=np.int64) for v in verbs}
    result.done_ns = np.full(n, -1, dtype=np.int64)
    return result


def mark_sampling(result: RunResult, sampling: Sampling | None) -> None:
    """Record on an HTTP run's result how its node lists were chosen and which pods
    were the all-nodes probe."""
    if sampling is None or not sampling.sampled:
        return
    result.sampling = sampling.describe()
    every = sampling.probe_every
    index = np.arange(result.pods)
    result.probe = index % every == 0 if every else np.zeros(result.pods, dtype=bool)


_SCORE = operator.itemgetter("Score")


def _best(entries: list[dict[str, Any]], tie_break: str, rng: random.Random) -> str:
    """The host with the highest score; ties broken as the run asks."""
    best = max(entries, key=_SCORE)  # the first of the best
    if tie_break == "first":
        return best["Host"]
    top = best["Score"]
    tied = [e["Host"] for e in entries if e["Score"] == top]
    return tied[0] if len(tied) == 1 else rng.choice(tied)


class _NodeBodies:
    """Pre-encoded node parts of request bodies, built once per run."""

    def __init__(
        self, nodes: list[dict[str, Any]], node_cache: bool, sampling: Sampling | None = None
    ) -> None:
        self.node_cache = node_cache
        self.names = [n["metadata"]["name"] for n in nodes]
        self.sampling = sampling if sampling is not None and sampling.sampled else None
        self.name_set = frozenset(self.names)
        if node_cache:
            self.all_nodes = b',"Nodes":null,"NodeNames":' + orjson.dumps(self.names) + b"}"
            self.encoded: dict[str, bytes] = {}
        else:
            self.encoded = {n["metadata"]["name"]: orjson.dumps(n) for n in nodes}
            self.all_nodes = self._full(self.names)

    def _full(self, names: list[str]) -> bytes:
        items = b",".join(self.encoded[n] for n in names)
        return b',"Nodes":{"metadata":{},"items":[' + items + b']},"NodeNames":null}'

    def for_filter(self, i: int) -> bytes:
        """The node part of pod i's /filter body: every node, or its window."""
        if self.sampling is None or self.sampling.is_probe(i):
            return self.all_nodes
        return self.subset(self.sampling.window(self.names, i))

    def subset(self, names: list[str]) -> bytes:
        if self.node_cache:
            return b',"Nodes":null,"NodeNames":' + orjson.dumps(names) + b"}"
        return self._full(names)

    def survivors(self, answer: dict[str, Any]) -> list[str]:
        if self.node_cache:
            return answer.get("NodeNames") or []
        return [n["metadata"]["name"] for n in ((answer.get("Nodes") or {}).get("items") or [])]


def run_http(
    label: str,
    port: int,
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    *,
    node_cache: bool = True,
    concurrency: int = 1,
    tie_break: str = "first",
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
    sampler: Callable[[], None] | None = None,
    sampling: Sampling | None = None,
) -> RunResult:
    """Schedule `pods` in order through the extender listening on 127.0.0.1:`port`;
    each /filter carries every node or, with `sampling`, pod i's window of them."""
    n = len(pods)
    result = new_result(label, "http", node_cache, concurrency, n, VERBS)
    result.client = "python"
    mark_sampling(result, sampling)
    bodies = _NodeBodies(nodes, node_cache, sampling)
    queue = itertools.count()  # next() on a count is atomic under the GIL
    lock = threading.Lock()
    stop = threading.Event()
    cpu_start = time.process_time_ns()
    start = time.perf_counter_ns()

    def scheduler(thread_index: int) -> None:
        client = Client("127.0.0.1", port)
        rng = random.Random(seed * 1000 + thread_index)
        try:
            while True:
                i = next(queue)
                if i >= n or stop.is_set():
                    return
                for attempt in range(BIND_RETRIES + 1):
                    try:
                        node = _schedule_one_http(
                            client, bodies, pods[i], i, result, tie_break, rng
                        )
                        failure = None
                    except BindRefused as exc:
                        node, failure = None, str(exc)
                        if attempt < BIND_RETRIES:
                            with lock:
                                result.rebinds += 1
                            continue
                    except PodFailed as exc:
                        node, failure = None, str(exc)
                    break
                result.done_ns[i] = time.perf_counter_ns() - start
                with lock:
                    if failure is not None:
                        result.record_error(failure)
                    elif node is None:
                        result.unschedulable += 1
                    else:
                        result.placements[pods[i]["metadata"]["uid"]] = node
                if progress is not None:
                    progress(1)
        finally:
            with lock:
                result.reconnects += client.reconnects
            client.close()

    try:
        _run_threads(scheduler, concurrency, sampler)
    finally:
        stop.set()  # on Ctrl-C, the scheduler threads take no more pods
    result.wall_ns = time.perf_counter_ns() - start
    result.client_cpu_ns = time.process_time_ns() - cpu_start
    result.client_info = {"cpu": "bench process CPU over the loop (time.process_time)"}
    result.load_average = os.getloadavg()[0]
    return result


def _schedule_one_http(
    client: Client,
    bodies: _NodeBodies,
    pod: dict[str, Any],
    i: int,
    result: RunResult,
    tie_break: str,
    rng: random.Random,
) -> str | None:
    """The chosen node, or None when no node fits; PodFailed on any error."""
    meta = pod["metadata"]
    pod_head = b'{"Pod":' + orjson.dumps(pod)
    filter_body = pod_head + bodies.for_filter(i)
    try:
        t0 = time.perf_counter_ns()
        raw = client.post("/filter", filter_body)
        result.latency_ns["filter"][i] = time.perf_counter_ns() - t0
        answer = orjson.loads(raw)
        if answer.get("Error"):
            raise PodFailed(f"filter {meta['name']}: {answer['Error']}")
        survivors = bodies.survivors(answer)
        if not survivors:
            return None
        if not bodies.name_set.issuperset(survivors):
            strangers = [s for s in survivors if s not in bodies.name_set]
            raise PodFailed(f"filter {meta['name']}: answered nodes not sent: {strangers[:3]}")
        if len(survivors) == 1:
            node = survivors[0]
        else:
            body = pod_head + bodies.subset(survivors)
            t0 = time.perf_counter_ns()
            raw = client.post("/prioritize", body)
            result.latency_ns["prioritize"][i] = time.perf_counter_ns() - t0
            entries = orjson.loads(raw)
            if len(entries) != len(survivors):
                raise PodFailed(
                    f"prioritize {meta['name']}: {len(entries)} entries for {len(survivors)} nodes"
                )
            node = _best(entries, tie_break, rng)
        binding = orjson.dumps(binding_args(pod, node))
        t0 = time.perf_counter_ns()
        raw = client.post("/bind", binding)
        result.latency_ns["bind"][i] = time.perf_counter_ns() - t0
        error = orjson.loads(raw).get("Error")
        if error:
            refused = BindRefused if "no longer fits" in error else PodFailed
            raise refused(f"bind {meta['name']} to {node}: {error}")
        return node
    except (HttpStatusError, OSError, http.client.HTTPException, orjson.JSONDecodeError) as exc:
        raise PodFailed(f"{meta['name']}: {exc}") from exc


def run_inprocess(
    label: str,
    extender: Any,
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    *,
    verbs: bool = False,
    tie_break: str = "first",
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
    sampler: Callable[[], None] | None = None,
) -> RunResult:
    """Schedule `pods` through an `extender.inprocess.InProcessExtender`, no HTTP.

    By default one `schedule_one` call per pod (filter, score, pick and bind in
    one engine pass, recorded as the verb "schedule"); with `verbs=True` the
    three wire-shaped calls instead, timed separately, as the HTTP driver does.
    """
    names = [n["metadata"]["name"] for n in nodes]
    n = len(pods)
    result = new_result(label, "inprocess", True, 1, n, VERBS if verbs else (INPROCESS_VERB,))
    rng = random.Random(seed * 1000)
    schedule_one = extender.schedule_one
    if not verbs and tie_break == "random":
        schedule_one = functools.partial(extender.schedule_one, rng=rng)
    gc_pauses = _GcPauses()
    gc.callbacks.append(gc_pauses)
    start = time.perf_counter_ns()
    last_sample = start
    for i, pod in enumerate(pods):
        meta = pod["metadata"]
        failure = None
        try:
            if verbs:
                node = _verbs_inprocess(extender, pod, names, i, result, tie_break, rng)
            else:
                t0 = time.perf_counter_ns()
                node = schedule_one(pod, names)
                result.latency_ns[INPROCESS_VERB][i] = time.perf_counter_ns() - t0
        except PodFailed as exc:
            node, failure = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - an engine error is a result, not a crash
            node, failure = None, f"{meta['name']}: {type(exc).__name__}: {exc}"
        now = time.perf_counter_ns()
        result.done_ns[i] = now - start
        if failure is not None:
            result.record_error(failure)
        elif node is None:
            result.unschedulable += 1
        else:
            result.placements[meta["uid"]] = node
        if progress is not None and i % 256 == 255:
            progress(256)
        if sampler is not None and now - last_sample > 250_000_000:
            sampler()
            last_sample = now
    if progress is not None:
        progress(n % 256)
    result.wall_ns = time.perf_counter_ns() - start
    gc.callbacks.remove(gc_pauses)
    result.gc = gc_pauses.summary()
    result.load_average = os.getloadavg()[0]
    return result


class _GcPauses:
    """gc.callbacks hook: how often the collector ran in-process and for how long."""

    def __init__(self) -> None:
        self.started = 0
        self.count = [0, 0, 0]
        self.total_ns = [0, 0, 0]
        self.max_ns = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter_ns()
            return
        gen = info.get("generation", 0)
        pause = time.perf_counter_ns() - self.started
        self.count[gen] += 1
        self.total_ns[gen] += pause
        self.max_ns[gen] = max(self.max_ns[gen], pause)

    def summary(self) -> dict[str, Any]:
        return {
            f"gen{g}": {
                "collections": self.count[g],
                "total_ms": round(self.total_ns[g] / 1e6, 1),
                "max_ms": round(self.max_ns[g] / 1e6, 2),
            }
            for g in range(3)
        }


def _verbs_inprocess(
    extender: Any,
    pod: dict[str, Any],
    names: list[str],
    i: int,
    result: RunResult,
    tie_break: str,
    rng: random.Random,
) -> str | None:
    meta = pod["metadata"]
    t0 = time.perf_counter_ns()
    answer = extender.filter({"Pod": pod, "Nodes": None, "NodeNames": names})
    result.latency_ns["filter"][i] = time.perf_counter_ns() - t0
    if answer.get("Error"):
        raise PodFailed(f"filter {meta['name']}: {answer['Error']}")
    survivors = answer.get("NodeNames") or []
    if not survivors:
        return None
    if len(survivors) == 1:
        node = survivors[0]
    else:
        t0 = time.perf_counter_ns()
        entries = extender.prioritize({"Pod": pod, "Nodes": None, "NodeNames": survivors})
        result.latency_ns["prioritize"][i] = time.perf_counter_ns() - t0
        node = _best(entries, tie_break, rng)
    t0 = time.perf_counter_ns()
    answer = extender.bind(binding_args(pod, node))
    result.latency_ns["bind"][i] = time.perf_counter_ns() - t0
    if answer.get("Error"):
        raise PodFailed(f"bind {meta['name']} to {node}: {answer['Error']}")
    return node


def _run_threads(
    target: Callable[[int], None], count: int, sampler: Callable[[], None] | None
) -> None:
    threads = [
        threading.Thread(target=target, args=(k,), name=f"scheduler-{k}", daemon=True)
        for k in range(count)
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.25)
        if sampler is not None:
            sampler()
