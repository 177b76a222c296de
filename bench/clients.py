"""The replay clients of `podsift bench`'s HTTP runs, chosen with `--client`.

Both hold the same conversation with the extender (bench/driver.py's
docstring) and fill the same `driver.RunResult`, so the report, the plots,
the validator and results.json do not know which one ran:

- `go`: go/bin/replay (go/cmd/replay, built by `./dev build-go`), a separate
  process. The bench writes the inputs to its workdir once (`nodes.jsonl`,
  `pods.jsonl`: one object a line, the bytes the Python driver would send),
  runs the binary with flags, samples the server's memory from this process
  while it waits, and reads back one JSON document (latencies and finish
  times in ns, placements, errors, reconnects, wall time, the replay
  process's CPU time over its loop);
- `python`: `driver.run_http` in the bench process itself.

The default is `go` when go/bin/replay is there and runs, else `python`, with
a note saying why. `./dev bench` builds go/ first (when `go` is on PATH) and,
if that build fails, sets PODSIFT_BENCH_GO_BUILD_FAILED so the bench falls
back to `python` with a note instead of running a stale binary.

A new client is a function from a `Setup` to a `Runner` (or
`ClientUnavailable`), added to `FACTORIES` and to `CHOICES`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench import driver, servers
from bench.sampling import Sampling

CHOICES = ("go", "python")
REPLAY_BINARY = Path(servers.SOURCE_ROOT) / "go" / "bin" / "replay"
BUILD_FAILED_ENV = "PODSIFT_BENCH_GO_BUILD_FAILED"
SAMPLE_EVERY_S = 0.25  # as driver._run_threads calls the sampler


class ClientUnavailable(Exception):
    """The client asked for cannot run here (the message says why and what to do)."""


@dataclass
class HttpRun:
    """One HTTP run, as every client is given it."""

    label: str
    port: int
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    node_cache: bool = True
    concurrency: int = 1
    tie_break: str = "first"
    seed: int = 1
    progress: Callable[[int], None] | None = None
    sampler: Callable[[], None] | None = None
    sampling: Sampling | None = None  # None: every node in every request


Runner = Callable[[HttpRun], driver.RunResult]


@dataclass
class Setup:
    """What a client factory may use: a directory for its files."""

    workdir: str


def python_client(setup: Setup) -> Runner:
    def run(r: HttpRun) -> driver.RunResult:
        return driver.run_http(
            r.label,
            r.port,
            r.nodes,
            r.pods,
            node_cache=r.node_cache,
            concurrency=r.concurrency,
            tie_break=r.tie_break,
            seed=r.seed,
            progress=r.progress,
            sampler=r.sampler,
            sampling=r.sampling,
        )

    return run


def go_client(setup: Setup) -> Runner:
    if os.environ.get(BUILD_FAILED_ENV):
        raise ClientUnavailable(
            "Go replay client not used: ./dev build-go failed (its errors are above the report)"
        )
    return GoReplay(setup.workdir, replay_binary())


FACTORIES: dict[str, Callable[[Setup], Runner]] = {"go": go_client, "python": python_client}
AUTO_ORDER = ("go", "python")  # the default: the first that is available


def choose(requested: str | None, setup: Setup) -> tuple[str, Runner, str | None]:
    """(name, runner, note): the client asked for, or the first available one.

    An explicit choice that cannot run raises ClientUnavailable; the default
    falls back and says why in the note."""
    if requested is not None:
        return requested, FACTORIES[requested](setup), None
    reasons = []
    for name in AUTO_ORDER:
        try:
            runner = FACTORIES[name](setup)
        except ClientUnavailable as exc:
            reasons.append(str(exc))
            continue
        note = None
        if reasons:
            note = f"the {name} replay client ran the HTTP runs: " + "; ".join(reasons)
        return name, runner, note
    raise ClientUnavailable("; ".join(reasons))


def replay_binary() -> Path:
    """go/bin/replay if it is there and answers -version, else ClientUnavailable."""
    binary = REPLAY_BINARY
    if not binary.exists():
        raise ClientUnavailable(f"Go replay client not built ({binary} missing): ./dev build-go")
    try:
        done = subprocess.run(
            [str(binary), "-version"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise ClientUnavailable(f"{binary} does not run ({exc}): ./dev build-go") from exc
    except subprocess.TimeoutExpired as exc:
        raise ClientUnavailable(f"{binary} -version did not answer in 30 s") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()[-300:]
        raise ClientUnavailable(
            f"{binary} -version exited with {done.returncode} ({detail}): ./dev build-go"
        )
    return binary


class GoReplay:
    """Runs go/bin/replay for each HTTP run; the input files are written once."""

    def __init__(self, workdir: str, binary: Path) -> None:
        self.workdir = workdir
        self.binary = binary
        self.nodes_file = os.path.join(workdir, "replay-nodes.jsonl")
        self.pods_file = os.path.join(workdir, "replay-pods.jsonl")
        self._nodes: list[dict[str, Any]] | None = None
        self._pods: list[dict[str, Any]] = []
        self.version = ""

    def _inputs(self, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
        """Write the files unless those written hold these objects (or pods is a
        prefix of them, as the calibration and floor runs' pods are)."""
        same_nodes = self._nodes is not None and (
            len(nodes) == len(self._nodes) and all(a is b for a, b in zip(nodes, self._nodes))
        )
        if not same_nodes:
            _write_lines(self.nodes_file, nodes)
            self._nodes = list(nodes)
        prefix = len(pods) <= len(self._pods) and all(a is b for a, b in zip(pods, self._pods))
        if not prefix:
            _write_lines(self.pods_file, pods)
            self._pods = list(pods)

    def command(self, r: HttpRun, out: str) -> list[str]:
        every = 50 if r.node_cache else 1  # full Nodes: ~0.2 s a pod
        command = [str(self.binary), "-port", str(r.port)]
        command += ["-nodes", self.nodes_file, "-pods", self.pods_file, "-count", str(len(r.pods))]
        command += [f"-node-cache={'true' if r.node_cache else 'false'}"]
        command += ["-concurrency", str(r.concurrency), "-tie-break", r.tie_break]
        command += ["-seed", str(r.seed), "-out", out]
        if r.sampling is not None and r.sampling.sampled:
            command += ["-sample-size", str(r.sampling.size)]
            command += ["-all-nodes-every", str(r.sampling.probe_every)]
        if r.progress is not None:
            command += ["-progress", str(every)]
        return command

    def __call__(self, r: HttpRun) -> driver.RunResult:
        self._inputs(r.nodes, r.pods)
        out = os.path.join(self.workdir, f"replay-{r.label}.json")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out)
        cpu_start = time.process_time_ns()
        proc = subprocess.Popen(
            self.command(r, out),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C reaches the bench, which stops it by pid
        )
        stderr: list[str] = []
        reader = threading.Thread(
            target=_read_stderr, args=(proc, r.progress, stderr), name="replay-stderr", daemon=True
        )
        reader.start()
        try:
            while True:
                try:
                    proc.wait(SAMPLE_EVERY_S)
                    break
                except subprocess.TimeoutExpired:
                    if r.sampler is not None:
                        r.sampler()
        finally:
            _stop(proc)
            reader.join(5)
        waiting_cpu = time.process_time_ns() - cpu_start
        if proc.returncode != 0:
            tail = "\n".join(stderr[-20:])
            raise RuntimeError(
                f"the Go replay client exited with {proc.returncode} in the {r.label} run:\n{tail}"
            )
        with open(out, "rb") as f:
            answer = orjson.loads(f.read())
        return self._result(r, answer, waiting_cpu, stderr)

    def _result(
        self, r: HttpRun, answer: dict[str, Any], waiting_cpu: int, stderr: list[str]
    ) -> driver.RunResult:
        n = len(r.pods)
        result = driver.new_result(r.label, "http", r.node_cache, r.concurrency, n, driver.VERBS)
        driver.mark_sampling(result, r.sampling)
        for verb in driver.VERBS:
            result.latency_ns[verb] = np.asarray(answer["latency_ns"][verb], dtype=np.int64)
        result.done_ns = np.asarray(answer["done_ns"], dtype=np.int64)
        uids = [p["metadata"]["uid"] for p in r.pods]
        result.placements = {
            uids[i]: node for i, node in zip(answer["placed_index"], answer["placed_node"])
        }
        result.wall_ns = int(answer["wall_ns"])
        result.unschedulable = int(answer["unschedulable"])
        result.error_count = int(answer["error_count"])
        result.errors = list(answer["errors"])[: driver.MAX_ERRORS_KEPT]
        result.reconnects = int(answer["reconnects"])
        result.rebinds = int(answer.get("rebinds", 0))
        cpu = answer["cpu"]
        result.client = "go"
        result.client_cpu_ns = int(cpu["user_ns"]) + int(cpu["sys_ns"])
        process = answer["process_cpu"]
        result.client_info = {
            "cpu": "the replay process's CPU over its loop (getrusage)",
            "go_version": answer.get("go_version"),
            "user_ms": round(cpu["user_ns"] / 1e6, 1),
            "sys_ms": round(cpu["sys_ns"] / 1e6, 1),
            "process_cpu_ms": round((process["user_ns"] + process["sys_ns"]) / 1e6, 1),
            "bench_process_cpu_ms": round(waiting_cpu / 1e6, 1),
            "go_gc_cycles": answer.get("gc_cycles"),
            "go_gc_pause_ms": round(answer.get("gc_pause_ns", 0) / 1e6, 2),
        }
        extra = [line for line in stderr if not line.startswith("progress ")]
        if extra:
            result.notes.append("replay client said: " + " | ".join(extra[-3:]))
        result.load_average = os.getloadavg()[0]
        return result


def _write_lines(path: str, objects: list[dict[str, Any]]) -> None:
    """One object a line, each as orjson encodes it (orjson never writes a newline
    inside compact JSON: strings escape it)."""
    with open(path, "wb") as f:
        for k in range(0, len(objects), 4096):
            chunk = objects[k : k + 4096]
            f.write(b"\n".join(map(orjson.dumps, chunk)) + b"\n")


def _read_stderr(
    proc: subprocess.Popen[bytes], tick: Callable[[int], None] | None, lines: list[str]
) -> None:
    """Turns "progress K" lines into ticks of the bar, keeps the others."""
    done = 0
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode(errors="replace").rstrip()
        if line.startswith("progress "):
            count = int(line.split()[1])
            if tick is not None and count > done:
                tick(count - done)
            done = max(done, count)
            continue
        lines.append(line)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """The replay process is gone after this (by pid: SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
