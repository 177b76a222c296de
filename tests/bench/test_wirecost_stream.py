"""`python -m bench.wirecost --verbs stream`: a real server, the workload's pods one by one."""

from __future__ import annotations

import re
import socket

import pytest

from bench import servers, wirecost


def test_stream_places_every_pod_through_a_real_podsift(capsys: pytest.CaptureFixture) -> None:
    port = servers.free_port()
    command = wirecost.podsift_command(port, nodes=20, threads=2, config=None)
    server = servers.ServerProcess(command, port, "/dev/null", "podsift")
    server.start(ready_timeout=120)
    try:
        stream = wirecost.PodStream(20, 30, port)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            stream.drive(sock, bytearray(), 10)
            stream.drive(sock, bytearray(), 20)  # continues where it stopped
    finally:
        server.stop()
    assert stream.next == 30
    assert stream.unplaced == 0  # 20 nodes hold 30 pods of the workload: every bind lands


def test_stream_cli_reports_a_pod_cost(capsys: pytest.CaptureFixture) -> None:
    argv = ["--server", "calibration", "--verbs", "stream", "--nodes", "20"]
    assert wirecost.main([*argv, "--requests", "5", "--no-valgrind"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"calibration stream: \d+ us CPU \(user \d+, system \d+\) "
        r"and [\d.]+ context switches a pod",
        out,
    )


def test_stream_refuses_strace() -> None:
    with pytest.raises(SystemExit):
        wirecost.main(["--verbs", "stream", "--no-valgrind", "--strace"])


def test_instructions_measures_pods_of_a_fixed_workload(capsys: pytest.CaptureFixture) -> None:
    from bench import instructions

    argv = ["--nodes", "20", "--placed", "10", "--schedule-only"]
    assert instructions.main([*argv, "--pods", "5"]) == 0
    assert "placed 5 of 5" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # past the pool the workload would change size
        instructions.main([*argv, "--pods", str(instructions.POOL + 1)])
