"""While a hostile request is in flight, an ordinary /filter still answers (issue 10, item 3).

A real `podsift serve` (gunicorn, one worker, four threads) on loopback, and
the reporter's two shapes in flight: a full-Nodes /filter of a pod with 10,000
tolerations over 1,000 Node objects with 30 taints each, every node its own
taint set (2.45 MB; it held the state lock ~110 s on the reporter's machine,
28 s here), sent twice; and four pods with 10,000 host ports each at once (they
took every worker thread for ~50 s). Meanwhile another client sends ordinary
/filter requests by node name, each of which must be answered within a
generous liveness bound (not a latency target: an ordinary answer takes
milliseconds). Both fail on the code before issue 10.
"""

from __future__ import annotations

import threading

import orjson

from tests.helpers import node, pod
from tests.server import Server, request_once

NODES, TAINTS, TOLERATIONS = 1000, 30, 10_000
LIVENESS_SECONDS = 15  # far above an ordinary /filter, far below the old lock hold
HOSTILE_ROUNDS = 2


def _post(port: int, path: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    return request_once(port, "POST", path, body, timeout=timeout)


def test_an_ordinary_filter_answers_while_a_hostile_one_is_in_flight(tmp_path):
    nodes = [
        node(
            f"node-{i}",
            taints=[
                {"key": f"t{(i * TAINTS + j) % TOLERATIONS}", "value": "v", "effect": "NoSchedule"}
                for j in range(TAINTS)
            ],
        )
        for i in range(NODES)
    ]
    snapshot = tmp_path / "cluster.json"
    snapshot.write_bytes(orjson.dumps({"kind": "List", "items": nodes}))
    tolerations = [
        {"key": f"t{k}", "operator": "Equal", "value": "v", "effect": "NoSchedule"}
        for k in range(TOLERATIONS)
    ]
    hostile = orjson.dumps(
        {"Pod": pod("hostile", cpu="10m", tolerations=tolerations), "Nodes": {"items": nodes}}
    )
    ordinary = orjson.dumps(
        {
            "Pod": pod("ordinary", cpu="10m", tolerations=tolerations[:TAINTS]),
            "NodeNames": [f"node-{i}" for i in range(10)],
        }
    )
    # the body limit is not what this test is about: room for the 2.6 MB body whatever
    # the default
    server = Server(f"--snapshot={snapshot}", f"--max-body={16 * 2**20}")
    try:
        hostile_answers: list[tuple[int, bytes]] = []

        def send_hostile() -> None:
            for _ in range(HOSTILE_ROUNDS):
                hostile_answers.append(_post(server.port, "/filter", hostile, timeout=300))

        sender = threading.Thread(target=send_hostile, daemon=True)
        sender.start()
        answered = 0
        while sender.is_alive():
            # raises TimeoutError if the ordinary request waits past the bound
            status, body = _post(server.port, "/filter", ordinary, timeout=LIVENESS_SECONDS)
            assert status == 200
            assert orjson.loads(body)["Error"] == ""
            answered += 1
        sender.join()
        assert answered >= 1
        assert [status for status, _ in hostile_answers] == [200] * HOSTILE_ROUNDS
        last = orjson.loads(hostile_answers[-1][1])
        assert last["Error"] == "" and len(last["Nodes"]["items"]) == NODES
    finally:
        server.stop()


def test_an_ordinary_filter_answers_while_four_host_port_pods_are_in_flight(tmp_path):
    # The reporter's other shape: four pods with 10,000 host ports each, at once.
    # They occupy all four of the worker's threads, so the ordinary request waits
    # for one of them to finish: the parse must be quick, not only the lock short.
    nodes = [node(f"node-{i}") for i in range(NODES)]
    snapshot = tmp_path / "cluster.json"
    snapshot.write_bytes(orjson.dumps({"kind": "List", "items": nodes}))
    names = [f"node-{i}" for i in range(NODES)]
    bodies = []
    for p in range(4):
        hostile = pod(f"ports-{p}", cpu="10m")
        hostile["spec"]["containers"][0]["name"] = f"c{p}"  # a spec of its own each
        hostile["spec"]["containers"][0]["ports"] = [
            {"containerPort": 1 + k, "hostPort": 1 + k} for k in range(10_000)
        ]
        bodies.append(orjson.dumps({"Pod": hostile, "NodeNames": names}))
    ordinary = orjson.dumps({"Pod": pod("ordinary", cpu="10m"), "NodeNames": names[:10]})
    server = Server(f"--snapshot={snapshot}", f"--max-body={16 * 2**20}")
    try:
        answers: list[tuple[int, bytes]] = []
        senders = [
            threading.Thread(
                target=lambda b=b: answers.append(_post(server.port, "/filter", b, timeout=300)),
                daemon=True,
            )
            for b in bodies
        ]
        for t in senders:
            t.start()
        answered = 0
        while any(t.is_alive() for t in senders) or not answered:
            status, body = _post(server.port, "/filter", ordinary, timeout=LIVENESS_SECONDS)
            assert status == 200 and orjson.loads(body)["Error"] == ""
            answered += 1
        for t in senders:
            t.join()
        assert sorted(status for status, _ in answers) == [200] * 4
        assert all(orjson.loads(body)["Error"] == "" for _, body in answers)
    finally:
        server.stop()
