"""The example third-party plugin, loaded the way podsift loads any plugin.

Nothing is pip-installed: a temporary `.dist-info` built from the example's
own pyproject.toml (its real entry points) is put on the path, which is all
`importlib.metadata.entry_points` needs to find a distribution. The example's
own test suite (written against `extender.testing` only) then runs in a fresh
interpreter, the registry resolves its policies by name, and a real
`podsift serve` uses them from a policy configuration.
"""

from __future__ import annotations

import ast
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from tests.exampleplugin import EXAMPLE, GROUP, child_env, example_plugin_paths
from tests.server import Server, free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plugin_paths(tmp_path_factory) -> list[str]:
    """sys.path entries that make the example visible as an installed distribution."""
    return example_plugin_paths(tmp_path_factory.mktemp("site"))


@pytest.fixture
def plugin_on_path(plugin_paths, monkeypatch):
    for entry in reversed(plugin_paths):
        monkeypatch.syspath_prepend(entry)
    for module in [m for m in sys.modules if m.startswith("podsift_example_plugin")]:
        monkeypatch.delitem(sys.modules, module)


# --------------------------------------------------------------------------------------
# Discovery through the entry point


def test_example_declares_its_policies_in_the_podsift_group():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert set(project["entry-points"][GROUP]) == {
        "PreferLabel",
        "RequireLabel",
        "CapacityAnnotation",
    }


def test_entry_points_find_the_example(plugin_on_path):
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    assert {"PreferLabel", "RequireLabel", "CapacityAnnotation"} <= set(found)
    cls = found["PreferLabel"].load()
    assert cls.__module__ == "podsift_example_plugin.label"
    assert callable(cls.score)
    assert callable(found["RequireLabel"].load().filter)


def test_the_registry_resolves_the_example_in_a_fresh_interpreter(plugin_paths):
    code = (
        "import json\n"
        "from extender.framework import registry\n"
        "prefer = registry.create('PreferLabel', {'key': 'disk'}, 'score')\n"
        "require = registry.create('RequireLabel', {'key': 'disk'}, 'filter')\n"
        "print(json.dumps({'available': registry.available(),\n"
        "    'prefer': type(prefer).__module__, 'require': type(require).__module__,\n"
        "    'trusted': [registry.is_trusted(n) for n in ('PreferLabel', 'NodeName')]}))\n"
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
    assert {"PreferLabel", "RequireLabel", "CapacityAnnotation", "NodeResourcesFit"} <= set(
        out["available"]
    )
    assert out["prefer"] == out["require"] == "podsift_example_plugin.label"
    # a third-party plugin's answers are checked; podsift's own built-ins are trusted
    assert out["trusted"] == [False, True]


def test_the_example_plugins_own_tests_pass(plugin_paths):
    """The example's suite uses only extender.api and extender.testing."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=EXAMPLE,
        env=child_env(plugin_paths),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 10 and "failed" not in result.stdout, result.stdout


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            found.update(alias.name for alias in item.names)
        elif isinstance(item, ast.ImportFrom) and item.module and not item.level:
            found.add(item.module)
    return found


def test_the_example_imports_only_the_public_api():
    sources = list((EXAMPLE / "src").rglob("*.py")) + list((EXAMPLE / "tests").rglob("*.py"))
    assert len(sources) >= 4
    for path in sources:
        podsift = {
            m for m in _imported_modules(path) if m.split(".")[0] in ("extender", "policies")
        }
        assert podsift <= {"extender.api", "extender.testing"}, (path, podsift)


# --------------------------------------------------------------------------------------
# Served by a real podsift

CAPACITY = "capacity.example.com/ssd"


def node(name: str, labels: dict[str, str], capacity: str | None = None) -> dict:
    metadata: dict = {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}}
    if capacity is not None:
        metadata["annotations"] = {CAPACITY: capacity}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata,
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
    }


NODES = [
    node("fast-nvme", {"example.com/disk": "nvme"}, capacity="1000"),
    node("fast-ssd", {"example.com/disk": "ssd"}, capacity="10"),
    node("slow", {"example.com/disk": "hdd"}),
    node("bare", {}, capacity="5000"),
]
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
}


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
                    {"name": "CapacityAnnotation", "args": {"key": CAPACITY}},
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


def test_served_capacity_annotation_reads_node_annotations(server_port):
    """Annotations reach a plugin from the snapshot (NodeNames) and from the request
    itself (full Nodes, whose annotations are authoritative)."""
    db = {**POD, "metadata": {**POD["metadata"], "annotations": {CAPACITY: "100"}}}
    status, result = post(server_port, "/filter", {"Pod": db, "NodeNames": NAMES})
    assert status == 200 and result["Error"] == ""
    assert result["NodeNames"] == ["fast-nvme"]
    assert result["FailedNodes"] == {
        "fast-ssd": f"node(s) didn't have enough {CAPACITY}",
        "slow": f"node(s) didn't have enough {CAPACITY}",
    }
    # the request's own Node objects win: fast-ssd now advertises enough
    sent = [NODES[0], node("fast-ssd", {"example.com/disk": "ssd"}, capacity="100")]
    status, result = post(server_port, "/filter", {"Pod": db, "Nodes": {"items": sent}})
    assert status == 200 and result["Error"] == ""
    assert [n["metadata"]["name"] for n in result["Nodes"]["items"]] == ["fast-nvme", "fast-ssd"]


# --------------------------------------------------------------------------------------
# The README's "Trying it locally", run as written


def readme_walkthrough() -> tuple[str, str]:
    """The shell block of README "Trying it locally" and the output it documents."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Trying it locally") :]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    printed = re.search(r"\nprints.*?```\n(.*?)```", section, re.S).group(1)
    return script, printed


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "jq", "curl")), reason="needs bash, jq, curl"
)
def test_the_readme_walkthrough_works_as_written(plugin_paths, tmp_path):
    script, printed = readme_walkthrough()
    install = "pip install -e examples/podsift-example-plugin\n"
    assert script.startswith(install)
    port = str(free_port())  # not 8888: other servers may run beside the tests
    script = script.replace(install, "").replace("localhost:8888", f"localhost:{port}")
    script = script.replace("podsift serve ", f"podsift serve --listen 127.0.0.1:{port} ", 1)
    env = child_env(plugin_paths)  # the plugin as if pip-installed
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    out = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == printed
