"""Start and stop a real `podsift serve` (gunicorn) on loopback for tests."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_once(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    ctx: Any = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """One request on a connection of its own (HTTPS when `ctx`, an SSLContext, is
    given): (status, body). For tests where the client, not a kept-alive connection,
    is what is tested."""
    if ctx is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM by pid, then SIGKILL if it has not exited within 20 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


class Server:
    """A podsift process; `stop()` sends SIGTERM to its pid and waits.

    Its output goes to a temporary log file (a pipe nobody reads could fill up
    and block the server), shown in the error when it fails to start.
    """

    def __init__(
        self,
        *args: str,
        ready_path: str = "/readyz",
        timeout: float = 60,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "extender",
                "serve",
                "--listen",
                f"127.0.0.1:{self.port}",
                *args,
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"podsift serve exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                status, _ = self.get(ready_path)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"podsift serve did not become ready:\n{self.output()}")
            time.sleep(0.1)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        return request_once(self.port, "GET", path, timeout=5)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """/metrics parsed: (sample name, its labels) -> value."""
        from prometheus_client.parser import text_string_to_metric_families

        status, body = self.get("/metrics")
        assert status == 200, body
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when the labelled series does not exist yet)."""
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    def post_raw(self, path: str, body: bytes, method: str = "POST") -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def post(self, path: str, obj) -> tuple[int, object]:
        status, body = self.post_raw(path, orjson.dumps(obj))
        return status, orjson.loads(body)

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()
