"""The replay clients of the HTTP runs (`bench.clients`): the Go client agrees with
the Python driver pod for pod, surfaces the same errors, and the bench falls back
to Python, or refuses an explicit `--client go`, when the Go binary is not there.

These tests need go/bin/replay (`./dev build-go`, which `./dev test` runs before
pytest) and fail, not skip, without it. No test asserts a time.
"""

from __future__ import annotations

import http.server
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench import clients, driver, servers
from bench.cli import main
from bench.workload import generate
from tests.bench.loopback import serving


@pytest.fixture(scope="module")
def replay() -> Path:
    binary = clients.REPLAY_BINARY
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"{binary} is missing: these tests need the Go replay client; build it with "
            "./dev build-go (./dev test does before pytest), or for it alone: "
            "cd go && go build -o bin/replay ./cmd/replay"
        )
    return binary


def _run(runner: clients.Runner, command, nodes, pods, tmp: Path, **kw: Any) -> driver.RunResult:
    port = servers.free_port()
    with servers.ServerProcess(command(port), port, str(tmp / "server.log"), "test"):
        return runner(clients.HttpRun("policies", port, nodes, pods, tie_break="first", **kw))


@pytest.mark.parametrize(("node_cache", "n_nodes", "n_pods"), [(True, 40, 240), (False, 8, 60)])
def test_go_and_python_place_every_pod_alike(
    replay: Path, tmp_path: Path, node_cache: bool, n_nodes: int, n_pods: int
) -> None:
    from extender.inprocess import InProcessExtender

    cluster = generate(n_nodes, n_pods, seed=4)
    nodes, pods = cluster["items"][:n_nodes], cluster["items"][n_nodes:]
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))

    def command(port: int) -> list[str]:
        return servers.podsift_command(str(snapshot), port, 2, max_body=64 * 2**20)

    setup = clients.Setup(str(tmp_path))
    ticks: list[int] = []
    by_client = {
        name: _run(
            clients.FACTORIES[name](setup),
            command,
            nodes,
            pods,
            tmp_path,
            node_cache=node_cache,
            progress=ticks.append if name == "go" else None,
        )
        for name in ("python", "go")
    }
    local = driver.run_inprocess(
        "inprocess", InProcessExtender(nodes, None), nodes, pods, tie_break="first"
    )
    go, py = by_client["go"], by_client["python"]
    assert (go.client, py.client) == ("go", "python")
    assert go.error_count == py.error_count == 0, (go.errors, py.errors)
    assert len(go.placements) > n_pods // 2
    # pod for pod, and in the same order
    assert list(go.placements.items()) == list(py.placements.items())
    assert go.placements == local.placements
    assert go.unschedulable == py.unschedulable == local.unschedulable
    assert go.node_cache is node_cache and go.pods == n_pods
    for verb in ("filter", "bind"):
        assert ((go.latency_ns[verb] > 0) == (py.latency_ns[verb] > 0)).all()
    assert ((go.latency_ns["prioritize"] >= 0) == (py.latency_ns["prioritize"] >= 0)).all()
    assert (go.done_ns > 0).all() and go.wall_ns >= go.done_ns.max()
    assert go.client_cpu_ns > 0 and py.client_cpu_ns > 0
    assert go.client_info["go_version"].startswith("go")
    assert sum(ticks) == n_pods


# ---- errors, against a fake extender both clients talk to -----------------------------


class _FakeExtender(http.server.BaseHTTPRequestHandler):
    """Answers by pod name: an Error, no survivor, a node never sent, one survivor,
    an HTTP 500, a failed bind, and a connection dropped after an answer."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        args = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = (args.get("Pod") or {}).get("metadata", {}).get("name") or args.get("PodName")
        status, answer = 200, None
        if self.path == "/filter":
            answer = {
                "err": {"NodeNames": None, "Error": "cache not synced"},
                "none": {"NodeNames": [], "Error": ""},
                "stranger": {"NodeNames": ["n1", "zz"], "Error": ""},
                "one": {"NodeNames": ["n2"], "Error": ""},
            }.get(name, {"NodeNames": args["NodeNames"], "Error": ""})
        elif self.path == "/prioritize":
            if name == "boom":
                status, answer = 500, {"Error": "boom"}
            else:
                answer = [{"Host": n, "Score": i % 2} for i, n in enumerate(args["NodeNames"])]
        else:
            answer = {"Error": "no room" if name == "nobind" else ""}
        body = orjson.dumps(answer)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if name == "drop" and self.path == "/bind":
            self.close_connection = True  # without telling the client

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_port() -> Iterator[int]:
    with serving(_FakeExtender) as port:
        yield port


def test_both_clients_record_the_same_errors(replay: Path, fake_port: int, tmp_path: Path) -> None:
    nodes = [{"metadata": {"name": n}} for n in ("n1", "n2", "n3")]
    names = ["ok", "err", "none", "stranger", "one", "boom", "nobind", "drop", "ok2"]
    pods = [
        {"metadata": {"name": n, "namespace": "default", "uid": f"u{i}"}}
        for i, n in enumerate(names)
    ]
    setup = clients.Setup(str(tmp_path))
    results = {
        name: clients.FACTORIES[name](setup)(
            clients.HttpRun("fake", fake_port, nodes, pods, tie_break="first")
        )
        for name in ("go", "python")
    }
    go, py = results["go"], results["python"]
    expected = [
        "filter err: cache not synced",
        "filter stranger: answered nodes not sent: ['zz']",
        'boom: POST /prioritize: HTTP 500: b\'{"Error":"boom"}\'',
        "bind nobind to n2: no room",
    ]
    assert py.errors == expected
    assert go.errors == expected
    assert go.error_count == py.error_count == 4
    assert go.unschedulable == py.unschedulable == 1
    assert go.placements == py.placements == {"u0": "n2", "u4": "n2", "u7": "n2", "u8": "n2"}
    assert go.reconnects == py.reconnects == 1  # the connection dropped after "drop"
    assert go.latency_ns["prioritize"][4] == -1 and go.latency_ns["bind"][2] == -1


# ---- choosing the client -----------------------------------------------------------------

SMALL = ["--nodes", "10", "--pods", "40", "--mode", "http", "--no-calibration", "--no-floor"]
SMALL += ["--no-preempt", "--tie-break", "first", "--no-progress"]


def test_go_is_the_default_and_its_cost_is_reported(
    replay: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([*SMALL, "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["workload"]["client"] == "go"
    run = results["runs"]["policies"]
    assert run["placed"] == 40 and run["validation"]["invalid_placements"] == 0
    cost = run["client"]
    assert cost["name"] == "go" and cost["cpu_ms_per_pod"] > 0
    assert cost["cpu_share_of_ms_per_pod"] == pytest.approx(
        cost["cpu_ms_per_pod"] / run["ms_per_pod"], abs=0.002
    )
    assert not any("replay client ran" in note for note in results["notes"])
    out = capsys.readouterr().out
    assert "replay client go" in out and "go client's own CPU" in out


def test_python_client_reports_its_cost_too(capsys: pytest.CaptureFixture) -> None:
    assert main([*SMALL, "--client", "python"]) == 0
    out = capsys.readouterr().out
    assert "replay client python" in out and "python client's own CPU" in out


def test_falls_back_to_python_when_the_binary_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(clients, "REPLAY_BINARY", tmp_path / "no-replay")
    assert main([*SMALL, "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["workload"]["client"] == "python"
    assert results["runs"]["policies"]["client"]["name"] == "python"
    out = capsys.readouterr().out
    assert "replay client python" in out
    assert "the python replay client ran the HTTP runs: Go replay client not built" in out
    assert "./dev build-go" in out


def test_falls_back_when_the_binary_does_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    broken = tmp_path / "replay"
    broken.write_text("#!/bin/sh\necho 'exec format error' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(clients, "REPLAY_BINARY", broken)
    assert main(SMALL) == 0
    out = capsys.readouterr().out
    assert "replay client python" in out and "exited with 3 (exec format error)" in out


def test_a_failed_go_build_falls_back_with_a_note(
    replay: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(clients.BUILD_FAILED_ENV, "1")
    assert main(SMALL) == 0
    out = capsys.readouterr().out
    assert "replay client python" in out and "./dev build-go failed" in out


def test_explicit_go_without_the_binary_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(clients, "REPLAY_BINARY", tmp_path / "no-replay")
    assert main([*SMALL, "--client", "go"]) == 2
    captured = capsys.readouterr()
    assert "podsift bench: error: --client go: Go replay client not built" in captured.err
    assert "./dev build-go" in captured.err
    assert captured.out == ""


def test_the_in_process_mode_needs_no_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(clients, "REPLAY_BINARY", tmp_path / "no-replay")
    assert main(["--nodes", "5", "--pods", "20", "--mode", "inprocess", "--client", "go"]) == 0
    out = capsys.readouterr().out
    assert "replay client" not in out
