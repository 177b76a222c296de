"""The node sample of the HTTP runs (`bench.sampling`): kube-scheduler's
numFeasibleNodesToFind, the rotating window, the all-nodes probe, the flags, and
both replay clients sending the same windows. No test asserts a time.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import clients, report, sampling
from bench.cli import main
from bench.sampling import Sampling
from tests.bench.loopback import serving


@pytest.mark.parametrize(
    ("total", "percentage", "expected"),
    [
        (1, 0, 1),
        (99, 0, 99),  # below 100 nodes: every node
        (100, 0, 100),  # 50% is 50, raised to the minimum of 100
        (500, 0, 230),  # 50 - 4 = 46%
        (1000, 0, 420),  # 50 - 8 = 42%
        (5000, 0, 500),  # 50 - 40 = 10%
        (6000, 0, 300),  # 50 - 48 = 2%, raised to 5%
        (15000, 0, 750),  # 5%
        (100000, 0, 5000),
        (1000, 30, 300),  # an explicit percentage
        (1000, 5, 100),  # ... still at least 100 nodes
        (1000, 100, 1000),
    ],
)
def test_nodes_to_find_is_kube_schedulers(total: int, percentage: int, expected: int) -> None:
    assert sampling.nodes_to_find(total, percentage) == expected


def test_parse_sample() -> None:
    assert sampling.parse_sample("all") == "all"
    assert sampling.parse_sample("auto") == "auto"
    assert sampling.parse_sample("7") == 7
    for bad in ("0", "101", "-3", "half", "5%"):
        with pytest.raises(argparse.ArgumentTypeError):
            sampling.parse_sample(bad)


@given(
    nodes=st.integers(2, 400),
    size_share=st.floats(0.0, 0.99),
    every=st.integers(0, 7),
    i=st.integers(0, 10_000),
)
def test_windows_rotate_and_cover_the_cluster(
    nodes: int, size_share: float, every: int, i: int
) -> None:
    size = max(1, min(nodes - 1, int(nodes * size_share)))
    s = Sampling(nodes, size, every)
    names = [f"n{k}" for k in range(nodes)]
    window = s.window(names, i)
    if s.is_probe(i):
        assert window == names and every and i % every == 0
        return
    # size consecutive nodes from (i * size) mod n, wrapping
    assert len(window) == size
    first = names.index(window[0])
    assert first == i * size % nodes
    assert window == [names[(first + k) % nodes] for k in range(size)]
    # the next pod's window starts where this one ended, as nextStartNodeIndex moves on
    nxt = Sampling(nodes, size, 0).window(names, i + 1)
    assert names.index(nxt[0]) == (first + size) % nodes


def test_every_name_is_sent_within_a_round() -> None:
    s = Sampling(15000, sampling.nodes_to_find(15000), 0)
    names = [f"n{k}" for k in range(15000)]
    seen = set()
    for i in range(15000 // s.size):
        seen.update(s.window(names, i))
    assert len(seen) == 15000


def test_choose_defaults() -> None:
    small, note = sampling.choose(None, None, 1000, 30000)
    assert not small.sampled and small.size == 1000 and small.probe_every == 0 and note is None
    assert small.describe() == "every node in every request"
    border, note = sampling.choose(None, None, 5000, 150000)
    assert not border.sampled and note is None
    large, note = sampling.choose(None, None, 15000, 450000)
    assert large == Sampling(15000, 750, sampling.DEFAULT_PROBE_EVERY)
    assert note is not None and "--sample all" in note
    assert "750 of 15000" in large.describe() and "every 100th pod" in large.describe()
    asked, note = sampling.choose(20, 0, 1000, 10)
    assert asked == Sampling(1000, 200, 0) and note is None
    everything, _ = sampling.choose("all", 5, 15000, 450000)
    assert not everything.sampled and not everything.is_probe(0)
    tiny, _ = sampling.choose("auto", None, 50, 10)  # under 100 nodes kube-scheduler sends all
    assert not tiny.sampled


# ---- both clients send the same windows ----------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Passes every node it is sent, scores them alike, records each /filter's names."""

    protocol_version = "HTTP/1.1"
    seen: dict[str, list[str]] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        args = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/filter":
            self.seen[args["Pod"]["metadata"]["name"]] = args["NodeNames"]
            answer = {"NodeNames": args["NodeNames"], "Error": ""}
        elif self.path == "/prioritize":
            answer = [{"Host": n, "Score": 0} for n in args["NodeNames"]]
        else:
            answer = {"Error": ""}
        body = orjson.dumps(answer)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[int]:
    with serving(_Recorder) as port:
        yield port


def test_both_clients_send_the_windows(recorder: int, tmp_path: Path) -> None:
    binary = clients.REPLAY_BINARY
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"{binary} is missing: ./dev build-go")
    nodes = [{"metadata": {"name": f"n{k}"}} for k in range(7)]
    names = [n["metadata"]["name"] for n in nodes]
    pods = [{"metadata": {"name": f"p{i}", "uid": f"u{i}"}} for i in range(10)]
    s = Sampling(7, 3, 4)
    setup = clients.Setup(str(tmp_path))
    for name in ("go", "python"):
        _Recorder.seen = {}
        result = clients.FACTORIES[name](setup)(
            clients.HttpRun("sampled", recorder, nodes, pods, tie_break="first", sampling=s)
        )
        assert result.error_count == 0 and len(result.placements) == 10, result.errors
        expected = {f"p{i}": s.window(names, i) for i in range(10)}
        assert _Recorder.seen == expected, name
        assert _Recorder.seen["p0"] == names and _Recorder.seen["p1"] == ["n3", "n4", "n5"]
        assert result.probe is not None and list(result.probe.nonzero()[0]) == [0, 4, 8]
        summary = report.summarize(result)
        assert summary["all_nodes_probe"]["pods"] == 3
        assert summary["all_nodes_probe"]["verbs"]["filter"]["count"] == 3
        assert summary["verbs"]["filter"]["count"] == 7  # the sampled pods only
        assert "rotating window of 3 of 7" in summary["sample"]


# ---- the flags --------------------------------------------------------------------------

RUN = ["--nodes", "120", "--pods", "40", "--mode", "http", "--no-calibration", "--no-floor"]
RUN += ["--no-preempt", "--no-progress"]


def test_sample_flags_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([*RUN, "--sample", "auto", "--all-nodes-every", "8", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    run = results["runs"]["policies"]
    assert run["placed"] == 40 and run["validation"]["invalid_placements"] == 0
    assert run["all_nodes_probe"]["pods"] == 5  # pods 0, 8, 16, 24, 32
    assert run["verbs"]["filter"]["count"] == 35
    assert "100 of 120" in results["workload"]["sample"]
    assert run["memory"]["ready_s"] > 0  # the server's load time, start to /readyz
    out = capsys.readouterr().out
    assert "HTTP runs' node lists: a rotating window of 100 of 120" in out
    assert "filter all" in out and "s after start" in out


def test_default_small_run_sends_every_node(capsys: pytest.CaptureFixture) -> None:
    assert main([*RUN, "--client", "python"]) == 0
    out = capsys.readouterr().out
    assert "node lists" not in out and "filter all" not in out


@pytest.mark.parametrize("flags", [["--sample", "0"], ["--sample", "most"]])
def test_bad_sample_is_refused(flags: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*RUN, *flags])
    assert exit_info.value.code == 2
    assert "--sample" in capsys.readouterr().err


def test_negative_probe_is_refused(capsys: pytest.CaptureFixture) -> None:
    assert main([*RUN, "--all-nodes-every", "-1"]) == 2
    assert "--all-nodes-every" in capsys.readouterr().err
