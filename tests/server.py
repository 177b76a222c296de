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

import orjson

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    ) -> None:
        self.port = free_port()
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
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

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
