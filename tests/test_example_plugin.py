"""The example third-party plugin, loaded the way podsift loads any plugin.

Nothing is pip-installed: a temporary `.dist-info` built from the example's
own pyproject.toml (its real entry points) is put on the path, which is all
`importlib.metadata.entry_points` needs to find a distribution. A fresh
interpreter then resolves the policies through `policies.base.lookup`, and a
real `podsift serve` uses them from a policy configuration.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from extender.errors import ConfigError
from extender.podinfo import parse_pod
from extender.state import ClusterState
from tests.server import Server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "podsift-example-plugin"
GROUP = "podsift.policies"


@pytest.fixture(scope="module")
def plugin_paths(tmp_path_factory) -> list[str]:
    """sys.path entries that make the example visible as an installed distribution."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("site")
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [f"[{GROUP}]"]
    lines += [f"{name} = {target}" for name, target in project["entry-points"][GROUP].items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return [str(site), str(EXAMPLE / "src")]


@pytest.fixture
def plugin_on_path(plugin_paths, monkeypatch):
    for entry in reversed(plugin_paths):
        monkeypatch.syspath_prepend(entry)
    for module in [m for m in sys.modules if m.startswith("podsift_example_plugin")]:
        monkeypatch.delitem(sys.modules, module)


def child_env(plugin_paths: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*plugin_paths, str(ROOT), env.get("PYTHONPATH", "")])
    return env


# --------------------------------------------------------------------------------------
# Discovery through the entry point


def test_example_declares_its_policies_in_the_podsift_group():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert set(project["entry-points"][GROUP]) == {"PreferLabel", "RequireLabel"}


def test_entry_points_find_the_example(plugin_on_path):
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    assert {"PreferLabel", "RequireLabel"} <= set(found)
    cls = found["PreferLabel"].load()
    assert cls.__module__ == "podsift_example_plugin.label"
    assert callable(cls.score)
    assert callable(found["RequireLabel"].load().filter)


def test_policies_base_lookup_resolves_the_example_in_a_fresh_interpreter(plugin_paths):
    code = (
        "import json\n"
        "from policies import base\n"
        "prefer = base.create('PreferLabel', {'key': 'disk'}, 'score')\n"
        "require = base.create('RequireLabel', {'key': 'disk'}, 'filter')\n"
        "print(json.dumps({'available': base.available(),\n"
        "    'prefer': type(prefer).__module__, 'require': type(require).__module__}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_env(plugin_paths),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"PreferLabel", "RequireLabel", "NodeResourcesFit"} <= set(out["available"])
    assert out["prefer"] == out["require"] == "podsift_example_plugin.label"


# --------------------------------------------------------------------------------------
# The policies' behaviour


def node(name: str, labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
    }


NODES = [
    node("fast-nvme", {"example.com/disk": "nvme"}),
    node("fast-ssd", {"example.com/disk": "ssd"}),
    node("slow", {"example.com/disk": "hdd"}),
    node("bare", {}),
]
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
}


@pytest.fixture
def view():
    state = ClusterState()
    state.load_items(NODES)
    nodes_view, _, unknown = state.view([n["metadata"]["name"] for n in NODES])
    assert not unknown
    return nodes_view


def test_prefer_label_scores_100_or_0(plugin_on_path, view):
    from podsift_example_plugin import PreferLabel

    scores = PreferLabel({"key": "example.com/disk"}).score(parse_pod(POD), view)
    assert scores.dtype == np.int64
    assert scores.tolist() == [100, 100, 100, 0]
    scores = PreferLabel({"key": "example.com/disk", "values": ["nvme", "ssd"]}).score(
        parse_pod(POD), view
    )
    assert scores.tolist() == [100, 100, 0, 0]


def test_require_label_filters_with_a_reason(plugin_on_path, view):
    from podsift_example_plugin import RequireLabel

    policy = RequireLabel({"key": "example.com/disk", "values": ["nvme"]})
    passed = policy.filter(parse_pod(POD), view)
    assert passed.tolist() == [True, False, False, False]
    failed = np.flatnonzero(~passed)
    reasons = policy.reasons(parse_pod(POD), view, failed)
    assert reasons == ["node(s) didn't have label example.com/disk in (nvme)"] * 3
    assert policy.unresolvable is True


@pytest.mark.parametrize(
    "args",
    [{}, {"key": ""}, {"key": "a", "values": []}, {"key": "a", "values": "x"}, {"key": "a b"}],
)
def test_invalid_args_are_config_errors(plugin_on_path, args):
    from podsift_example_plugin import PreferLabel, RequireLabel

    for cls in (PreferLabel, RequireLabel):
        with pytest.raises(ConfigError):
            cls(args)


def test_unknown_args_are_config_errors(plugin_on_path):
    from podsift_example_plugin import PreferLabel

    with pytest.raises(ConfigError, match="unknown args"):
        PreferLabel({"key": "a", "value": "b"})


# --------------------------------------------------------------------------------------
# Served by a real podsift


def post(port: int, path: str, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server_port(plugin_paths, tmp_path_factory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("plugin-server")
    snapshot = tmp / "cluster.json"
    snapshot.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": NODES}))
    config = tmp / "policy.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "podsift/v1",
                "kind": "PolicyConfiguration",
                "filters": [
                    "NodeUnschedulable",
                    {"name": "RequireLabel", "args": {"key": "example.com/disk"}},
                ],
                "scores": [
                    {
                        "name": "PreferLabel",
                        "weight": 1,
                        "args": {"key": "example.com/disk", "values": ["nvme"]},
                    }
                ],
            }
        )
    )
    server = Server(f"--snapshot={snapshot}", f"--config={config}", env=child_env(plugin_paths))
    try:
        yield server.port
    finally:
        server.stop()


NAMES = [n["metadata"]["name"] for n in NODES]


def test_served_explain_shows_the_plugin_policies(server_port):
    status, answer = post(server_port, "/explain", {"Pod": POD, "NodeNames": NAMES})
    assert status == 200
    by_name = {n["name"]: n for n in answer["nodes"]}
    assert by_name["bare"]["passed"] is False
    assert by_name["bare"]["filters"]["RequireLabel"] == {
        "pass": False,
        "reason": "node(s) didn't have label example.com/disk",
    }
    assert by_name["fast-nvme"]["scores"] == {"PreferLabel": 100}
    assert by_name["fast-ssd"]["scores"] == {"PreferLabel": 0}
    assert by_name["fast-nvme"]["score"] == 10
    assert by_name["fast-ssd"]["score"] == 0


def test_served_filter_and_prioritize_use_the_plugin(server_port):
    status, result = post(server_port, "/filter", {"Pod": POD, "NodeNames": NAMES})
    assert status == 200 and result["Error"] == ""
    assert result["NodeNames"] == ["fast-nvme", "fast-ssd", "slow"]
    failed = {**result["FailedNodes"], **result["FailedAndUnresolvableNodes"]}
    assert set(failed) == {"bare"}
    status, hosts = post(server_port, "/prioritize", {"Pod": POD, "NodeNames": NAMES[:3]})
    assert status == 200
    assert hosts == [
        {"Host": "fast-nvme", "Score": 10},
        {"Host": "fast-ssd", "Score": 0},
        {"Host": "slow", "Score": 0},
    ]
