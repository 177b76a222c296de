"""Instructions the server spends per HTTP request, counted by callgrind.

    python -m bench.wirecost [--server calibration|podsift] [--nodes 1000]
                             [--requests 2000] [--verbs filter|prioritize|pod|stream]
                             [--placed P] [--no-valgrind]
                             [--config FILE]

Starts the server (the bare-WSGI calibration app under podsift's worker, or
`podsift serve --synthetic-nodes N`) under `valgrind --tool=callgrind`, sends a
warm-up and stops it; then does the same again with `--requests` more requests
over the same kept-alive connection, one at a time, framed the way
kube-scheduler's Go client frames them. The difference of the worker's two
totals over `--requests` is its instructions per request: the poller, the
thread pool and the app together (callgrind_control cannot reach a forked
worker, hence two runs; PYTHONHASHSEED is fixed so both start alike).
Instruction counts do not move with the machine's load, so two versions of the
worker compare exactly on a shared machine where wall and CPU times do not.

`--config` gives the podsift server a policy configuration (an empty one,
`{"filters": [], "scores": []}`, measures podsift's plumbing alone: the
bench's floor run). `--verbs filter` repeats one `/filter` (a pod and the node names), `prioritize`
one `/prioritize` (neither changes the state); `pod` sends
the `/filter`, `/prioritize`, `/bind` of one pod (calibration only: podsift
would bind the same pod again and again). `stream` schedules the workload's pods
one after another as kube-scheduler does (each pod's `/filter` with every node, its
`/prioritize` with the names that passed, its `/bind` to the first best-scored
node): the figure is instructions a pod, as the cluster fills, for either server,
counted in the request threads only (`--toggle-collect=start_thread`: the app and
what each request runs, not the poller, the worker's start or the master). The whole
worker's count (`--whole-worker`) varies by ~10^8 instructions between identical runs,
as much as a few hundred pods cost; the request threads' repeats within 0.2%.
(`--placed P` first places P pods the same way, in both runs). With `--no-valgrind` it reports the
worker's CPU time and context switches per request instead (from /proc; noisy
on a loaded machine), and with `--strace` also its system calls per request by
name (`strace -f -c`, which slows the server down: futex counts, which depend on
how threads meet, grow under it; the others do not).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench import servers
from bench.workload import binding_args, generate_split
from extender.argtypes import positive

WARM_UP = 50


def requests(nodes: int, verbs: str, port: int) -> list[bytes]:
    """The request bytes to send in a cycle: a head like Go's net/http writes, a body."""
    node_items, pods = generate_split(nodes, 1)
    names = [n["metadata"]["name"] for n in node_items]
    pod = pods[0]
    args = orjson.dumps({"Pod": pod, "NodeNames": names})
    bind = orjson.dumps(binding_args(pod, names[0]))
    plan = [("/prioritize" if verbs == "prioritize" else "/filter", args)]
    if verbs == "pod":
        plan += [("/prioritize", args), ("/bind", bind)]
    return [_frame(path, body, port) for path, body in plan]


def exchange(sock: socket.socket, request: bytes, buf: bytearray) -> int:
    """Send one request and read its answer whole; its status code."""
    return exchange_body(sock, request, buf)[0]


def exchange_body(sock: socket.socket, request: bytes, buf: bytearray) -> tuple[int, bytes]:
    """Send one request and read its answer whole: (status code, body)."""
    sock.sendall(request)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        buf += data
    head = bytes(buf[:end]).decode("latin-1")
    match = re.search(r"(?im)^content-length:\s*(\d+)", head)
    total = end + 4 + (int(match.group(1)) if match else 0)
    while len(buf) < total:
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection mid-answer")
        buf += data
    body = bytes(buf[end + 4 : total])
    del buf[:total]
    return int(head.split(" ", 2)[1]), body


def _frame(path: str, body: bytes, port: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: kube-scheduler/v1.34.4 (linux/amd64) kubernetes/bench\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
        "Accept-Encoding: gzip\r\n\r\n"
    )
    return head.encode() + body


class PodStream:
    """The workload's pods scheduled one after another over one connection, as
    kube-scheduler frames them (Go's layout: the Pod, then NodeNames). Every run
    sends the same pods in the same order and picks alike (the first best-scored
    node), so two runs differ only by the pods the longer one adds."""

    def __init__(self, nodes: int, pods: int, port: int) -> None:
        node_items, self.pods = generate_split(nodes, pods)
        self.names = orjson.dumps([n["metadata"]["name"] for n in node_items])
        self.port = port
        self.next = 0
        self.unplaced = 0

    def drive(self, sock: socket.socket, buf: bytearray, count: int) -> None:
        for pod in self.pods[self.next : self.next + count]:
            self.next += 1
            head = b'{"Pod":' + orjson.dumps(pod) + b',"NodeNames":'
            answer = self._call(sock, buf, "/filter", head + self.names + b"}")
            passed = orjson.loads(answer).get("NodeNames") or []
            if not passed:
                self.unplaced += 1
                continue
            answer = self._call(sock, buf, "/prioritize", head + orjson.dumps(passed) + b"}")
            scores = orjson.loads(answer)
            best = max(scores, key=lambda s: s["Score"])["Host"]  # the first best
            answer = self._call(sock, buf, "/bind", orjson.dumps(binding_args(pod, best)))
            if orjson.loads(answer).get("Error"):
                self.unplaced += 1

    def _call(self, sock: socket.socket, buf: bytearray, path: str, body: bytes) -> bytes:
        status, answer = exchange_body(sock, _frame(path, body, self.port), buf)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}: {answer[:200]!r}")
        return answer


def drive_stream(port: int, stream: PodStream, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream.drive(sock, bytearray(), count)


def drive(port: int, plan: list[bytes], count: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        for i in range(count):
            status = exchange(sock, plan[i % len(plan)], buf)
            if status != 200:
                raise RuntimeError(f"request {i}: HTTP {status}")


def _stat_times(path: str) -> tuple[float, float]:
    """User and system CPU seconds from a /proc .../stat file."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_times(pid: int) -> tuple[float, float]:
    """The process's user and system CPU seconds so far."""
    return _stat_times(f"/proc/{pid}/stat")


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """User and system CPU seconds of each of the process's threads, by thread id."""
    out: dict[int, tuple[float, float]] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out[int(task)] = _stat_times(f"/proc/{pid}/task/{task}/stat")
        except OSError:  # the thread ended
            continue
    return out


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all the process's threads."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{task}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def syscall_counts(path: Path) -> dict[str, int]:
    """Calls per syscall from an `strace -c` summary."""
    counts: dict[str, int] = collections.Counter()
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            counts[fields[-1]] += int(fields[3])
    return counts


def total_instructions(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def podsift_command(port: int, nodes: int, threads: int, config: str | None) -> list[str]:
    """`podsift serve` on the synthetic cluster of `nodes` nodes."""
    command = [sys.executable, "-m", "extender", "serve", "--synthetic-nodes", str(nodes)]
    command += ["--listen", f"127.0.0.1:{port}", "--threads", str(threads)]
    command += ["--log-level", "warning"]
    return command + (["--config", config] if config else [])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.wirecost", description=__doc__.split("\n")[0])
    p.add_argument("--server", choices=("calibration", "podsift"), default="calibration")
    p.add_argument("--nodes", type=positive, default=1000)
    p.add_argument("--requests", type=positive, default=2000)
    p.add_argument("--verbs", choices=("filter", "prioritize", "pod", "stream"), default="filter")
    p.add_argument(
        "--placed", type=int, default=0, help="--verbs stream: pods placed before the warm-up"
    )
    p.add_argument("--threads", type=positive, default=4)
    p.add_argument("--no-valgrind", action="store_true")
    p.add_argument(
        "--request-threads",
        action="store_true",
        help="count only the request threads (callgrind --toggle-collect=start_thread): "
        "the app and the per-request work, not the poller; the default for --verbs stream",
    )
    p.add_argument(
        "--whole-worker",
        action="store_true",
        help="--verbs stream: count the whole worker instead (noisy: +-10^8 a run)",
    )
    p.add_argument("--strace", action="store_true", help="with --no-valgrind: syscalls too")
    p.add_argument("--keep", help="keep the callgrind output in this directory")
    p.add_argument("--config", help="podsift: the policy configuration file to serve with")
    args = p.parse_args(argv)
    if args.config and args.server != "podsift":
        p.error("--config is for --server podsift")
    if args.verbs == "stream" and args.strace:
        p.error("--strace counts a repeated request's system calls: not with --verbs stream")
    if args.server == "podsift" and args.verbs == "pod":
        p.error("--verbs pod binds one pod again and again: calibration only")
    port = servers.free_port()
    if args.server == "calibration":
        command = servers.calibration_command(port, args.threads)
    else:
        command = podsift_command(port, args.nodes, args.threads, args.config)
    out_dir = Path(args.keep or tempfile.mkdtemp(prefix="wirecost-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    threads_only = args.request_threads or (args.verbs == "stream" and not args.whole_worker)
    if not args.no_valgrind:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p",
            # the request threads only (everything they call): not the worker's start, nor
            # the master, whose counts vary by ~10^8 between identical runs
            *(["--toggle-collect=start_thread"] if threads_only else []),
            *command,
        ]
    stream = args.verbs == "stream"
    plan = [] if stream else requests(args.nodes, args.verbs, port)
    if stream:
        # the warm-up, the placed pods and the measured ones, one workload
        pods = max(args.placed, 0) + WARM_UP + args.requests
    os.environ["PYTHONHASHSEED"] = "0"  # the same dict layouts in both runs

    def run(count: int) -> tuple[float, int]:
        """Start the server, send the warm-up and `count` requests, stop it: the
        worker's CPU seconds for the requests, and its instructions over its life."""
        log = str(out_dir / "server.log")
        server = servers.ServerProcess(command, port, log, args.server)
        server.start(ready_timeout=900)
        try:
            worker = server.worker_pid()
            assert worker is not None, "no worker process"
            feed = PodStream(args.nodes, pods, port) if stream else None
            if feed is not None:
                drive_stream(port, feed, max(args.placed, 0) + WARM_UP)
            else:
                drive(port, plan, WARM_UP)
            user0, system0 = cpu_times(worker)
            threads0 = thread_cpu(worker)
            switches = context_switches(worker)
            if feed is not None:
                drive_stream(port, feed, count)
            else:
                drive(port, plan, count)
            user1, system1 = cpu_times(worker)
            threads1 = thread_cpu(worker)
            user, system = user1 - user0, system1 - system0
            used = user + system
            switches = context_switches(worker) - switches
            if args.no_valgrind:
                unit = "pod" if stream else "request"
                print(
                    f"{args.server} {args.verbs}: {used / count * 1e6:.0f} us CPU "
                    f"(user {user / count * 1e6:.0f}, system {system / count * 1e6:.0f}) and "
                    f"{switches / count:.2f} context switches a {unit} (worker)"
                )
                # where it went: the poller is the worker's main thread (its pid)
                spent = {}
                for tid, (u1, s1) in threads1.items():
                    u0, s0 = threads0.get(tid, (0.0, 0.0))
                    if u1 + s1 > u0 + s0:
                        spent[tid] = ((u1 - u0) / count * 1e6, (s1 - s0) / count * 1e6)
                parts = [
                    f"{'poller' if tid == worker else 'thread ' + str(tid)} "
                    f"{u + s:.0f} (user {u:.0f}, system {s:.0f})"
                    for tid, (u, s) in sorted(spent.items(), key=lambda kv: -sum(kv[1]))
                ]
                print(f"  by thread, us a {unit}: " + "; ".join(parts))
            if args.strace and not stream:
                _strace(worker, port, plan, count, out_dir / "strace.txt")
        finally:
            server.stop()
        if args.no_valgrind:
            return used, 0
        return used, total_instructions(out_dir / f"callgrind.out.{worker}")

    if args.no_valgrind:
        run(args.requests)
        return 0
    _, base = run(0)
    _, total = run(args.requests)
    print(
        f"{args.server} {args.verbs}: {(total - base) / args.requests:,.0f} instructions a "
        f"{'pod' if stream else 'request'} ({total:,} - {base:,} with none, over {args.requests})"
    )
    return 0


def _strace(worker: int, port: int, plan: list[bytes], count: int, out: Path) -> None:
    tracer = subprocess.Popen(
        ["strace", "-f", "-c", "-p", str(worker), "-o", str(out)], stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1.0)  # attached to every thread
        drive(port, plan, count)
        time.sleep(0.5)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    counts = syscall_counts(out)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    print("syscalls a request: " + ", ".join(f"{name} {n / count:.2f}" for name, n in ranked))


if __name__ == "__main__":
    raise SystemExit(main())
