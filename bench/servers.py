"""Start and stop the HTTP servers a benchmark run measures, and read their memory.

Every server runs on 127.0.0.1 on a free port, in its own session (a Ctrl-C
at the terminal reaches only the bench, which then stops the server), and is
stopped by its pid: SIGTERM, a wait, SIGKILL only if it will not go.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The bench's own source root, so `python -m extender` and `bench.calibrate:app`
# resolve to this tree even when the package is not installed.
SOURCE_ROOT = str(Path(__file__).resolve().parent.parent)
KEEPALIVE_S = 75


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = SOURCE_ROOT + (os.pathsep + path if path else "")
    return env


class ServerProcess:
    """One server process (gunicorn master + one worker), as a context manager."""

    def __init__(
        self,
        command: list[str],
        port: int,
        log_path: str,
        label: str,
        env: dict[str, str] | None = None,
    ) -> None:
        """`env`: variables added to the server's environment."""
        self.command = command
        self.env = env or {}
        self.port = port
        self.log_path = log_path
        self.label = label
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.ready_s: float | None = None  # process start to /readyz 200: the load time

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, ready_timeout: float = 300.0) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**_env(), **self.env},
            cwd=SOURCE_ROOT,
            start_new_session=True,
        )
        began = time.monotonic()
        deadline = began + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} server exited with {self.proc.returncode} before it was "
                    f"ready:\n{self.log_tail()}"
                )
            if _get_status(self.port, "/readyz") == 200:
                self.ready_s = time.monotonic() - began
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.label} server not ready after {ready_timeout:.0f} s")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM the master (it stops its worker, which writes any profile), then wait."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
        return proc.returncode

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def worker_pid(self) -> int | None:
        """The gunicorn worker (the master's child), where the state lives."""
        children = child_pids(self.pid)
        return children[0] if children else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _get_status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def podsift_command(
    snapshot: str,
    port: int,
    threads: int,
    config: str | None = None,
    profile: str | None = None,
    max_body: int | None = None,
    kubeconfig: str | None = None,
) -> list[str]:
    """`podsift serve` on a snapshot file, or on a live cluster with `kubeconfig`."""
    source = ["--kubeconfig", kubeconfig] if kubeconfig else ["--snapshot", snapshot]
    command = [sys.executable, "-m", "extender", "serve", *source]
    command += ["--listen", f"127.0.0.1:{port}", "--threads", str(threads)]
    command += ["--log-level", "warning"]
    if config:
        command += ["--config", config]
    if profile:
        command += ["--cpu-profile", profile]
    if max_body:
        command += ["--max-body", str(max_body)]
    return command


# podsift serve's worker class (gthread that waits for whole requests in its poller)
CALIBRATION_WORKER = "extender.wire.worker.PodsiftWorker"


def calibration_command(port: int, threads: int) -> list[str]:
    """The bare WSGI echo app under the same gunicorn settings as `podsift serve`."""
    command = [sys.executable, "-m", "gunicorn", "--worker-class", CALIBRATION_WORKER]
    command += ["--workers", "1"]
    command += ["--threads", str(threads), "--keep-alive", str(KEEPALIVE_S)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if _gunicorn_has_control_socket():
        command.append("--no-control-socket")
    return command + ["bench.calibrate:app"]


def _gunicorn_has_control_socket() -> bool:
    try:
        from gunicorn.config import Config

        return "control_socket_disable" in Config().settings
    except Exception:  # pragma: no cover - gunicorn missing or changed
        return False


# ------------------------------------------------------------------------ memory


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    children = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: split after it
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry))
    return sorted(children)


def memory_of(pid: int) -> dict[str, int]:
    """{"rss": VmRSS, "hwm": VmHWM} in bytes for a live process; {} if it is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    out["hwm"] = int(line.split()[1]) * 1024
    except OSError:
        return {}
    return out
