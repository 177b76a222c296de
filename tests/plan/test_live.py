"""`podsift plan --kubeconfig`: the cluster is listed once and never changed."""

from __future__ import annotations

import orjson
import pytest

from extender.cli import main
from tests.fakeapi import FakeApiServer, make_node, make_pod, write_kubeconfig
from tests.plan.objects import deployment, pod_spec


@pytest.fixture
def api():
    srv = FakeApiServer()
    srv.start()
    yield srv
    srv.stop()


def test_place_over_a_live_cluster_lists_and_writes_nothing(api, tmp_path, capsys):
    for i in range(3):
        api.upsert_node(make_node(f"node-{i}", cpu="1"))
    api.upsert_pod(make_pod("running", "uid-running", node="node-0", cpu="600m"))
    api.upsert_pod(make_pod("waiting", "uid-waiting", cpu="900m"))  # pending: takes no room
    before = api.truth()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 4, pod_spec("500m"))))
    argv = ["plan", "place", "--workload", str(tmp_path / "w.json")]
    argv += ["--kubeconfig", str(kubeconfig)]
    assert main([*argv, "--output", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["placed"] == 4
    assert sorted(p["node"] for p in doc["placements"]) == ["node-1", "node-1", "node-2", "node-2"]
    assert api.truth() == before
    methods = {m for m, _, _ in api.requests}
    assert methods == {"GET"}
    assert api.count("GET", "/api/v1/nodes") == 1 and api.count("GET", "/api/v1/pods") == 1
