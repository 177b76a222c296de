"""The command line (docs/CONTRACT.md §5): clear errors before anything starts."""

import os
import subprocess
import sys

import orjson


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "extender", *args], capture_output=True, text=True, timeout=120
    )


def test_serve_refuses_an_unknown_policy(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("filters: [NoSuchPolicy]\n")
    out = run("serve", "--config", str(cfg), "--listen", "127.0.0.1:1")
    assert out.returncode == 2
    assert "unknown policy 'NoSuchPolicy'" in out.stderr
    assert "NodeResourcesFit" in out.stderr  # names the known ones


def test_serve_refuses_bad_policy_args(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scores: [{name: NodeResourcesFit, args: {scoringStrategy: {type: Fastest}}}]\n")
    out = run("serve", "--config", str(cfg))
    assert out.returncode == 2 and "Fastest" in out.stderr


def test_serve_refuses_missing_snapshot_and_bad_listen(tmp_path):
    out = run("serve", "--snapshot", str(tmp_path / "none.json"))
    assert out.returncode == 2 and "file not found" in out.stderr
    out = run("serve", "--listen", "localhost")
    assert out.returncode == 2 and "HOST:PORT" in out.stderr
    out = run("serve", "--listen", "127.0.0.1:0")  # well formed, but no port to listen on
    assert out.returncode == 2 and "the port must be in 1..65535" in out.stderr


def test_synth_writes_one_list_nodes_then_pending_pods_then_namespaces():
    out = run("synth", "--nodes", "5", "--pods", "12")
    assert out.returncode == 0
    doc = orjson.loads(out.stdout)
    assert doc["kind"] == "List"
    kinds = [i["kind"] for i in doc["items"]]
    spaces = {i["metadata"]["namespace"] for i in doc["items"] if i["kind"] == "Pod"}
    assert kinds[:17] == ["Node"] * 5 + ["Pod"] * 12
    # then the owners of those pods (PodTopologySpread's default constraints)
    owners = kinds[17 : len(kinds) - len(spaces)]
    assert set(owners) == {"ReplicaSet", "Service"}
    # then their Namespaces (InterPodAffinity's namespaceSelector reads their labels)
    assert kinds[len(kinds) - len(spaces) :] == ["Namespace"] * len(spaces)
    assert {i["metadata"]["name"] for i in doc["items"] if i["kind"] == "Namespace"} == spaces
    assert all("nodeName" not in i["spec"] for i in doc["items"] if i["kind"] == "Pod")
    again = run("synth", "--nodes", "5", "--pods", "12")
    assert again.stdout == out.stdout
    # the snapshot loads, and its pods get PodTopologySpread's default selector
    from extender.cache.state import ClusterState
    from extender.model.pod import parse_pod

    state = ClusterState()
    state.load_items(doc["items"])
    first = parse_pod(doc["items"][5])
    with state.lock:
        selector = state.table.owners.default_selector(
            first.namespace, first.labels, tuple(first.labels.items()), first.controller
        )
    assert selector is not None and selector.matches(first.labels)


SCHEDULER_CONFIG = "manifests/sidecar/scheduler-config.yaml"


def test_serve_help_names_the_scheduler_profile_and_the_cpu_profile():
    out = run("serve", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "--profile NAME" in text and "KubeSchedulerConfiguration" in text
    assert "--cpu-profile FILE" in text


def test_serve_profile_errors_are_one_line_and_exit_2(tmp_path):
    out = run("serve", "--profile", "podsift", "--listen", "127.0.0.1:1")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "podsift: error: --profile podsift: selects a profile of a KubeSchedulerConfiguration "
        "given with --config, and no --config was given"
    ]
    out = run("serve", "--config", SCHEDULER_CONFIG, "--profile", "default-scheduler")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"podsift: error: --profile default-scheduler: no such profile in {SCHEDULER_CONFIG}; "
        "its profiles (schedulerName): podsift"
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text("filters: [NodeName]\n")
    out = run("serve", "--config", str(policy), "--profile", "podsift")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "is a podsift PolicyConfiguration, which has no profiles" in out.stderr


def test_serve_refuses_bad_args_in_a_scheduler_configuration(tmp_path):
    cfg = tmp_path / "k.yaml"
    cfg.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "profiles:\n"
        "- schedulerName: x\n"
        "  pluginConfig:\n"
        "  - name: NodeResourcesFit\n"
        "    args: {scoringStrategy: {type: Fastest}}\n"
    )
    out = run("serve", "--config", str(cfg))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "NodeResourcesFit: invalid args: scoringStrategy.type" in out.stderr


def test_serve_a_scheduler_configuration_profile_warns_once(tmp_path):
    """The dropped plugins are named in one warning line, by the master only."""
    from tests.helpers import node, pod
    from tests.server import Server

    snapshot = tmp_path / "cluster.json"
    snapshot.write_bytes(orjson.dumps({"kind": "List", "items": [node("n1")]}))
    server = Server(
        "--config", SCHEDULER_CONFIG, "--profile", "podsift", "--snapshot", str(snapshot)
    )
    try:
        status, answer = server.post("/explain", {"Pod": pod("p", cpu="1"), "NodeNames": ["n1"]})
        output = server.output()  # the worker has booted: it would have logged by now
    finally:
        server.stop()
    warnings = [line for line in output.splitlines() if "left to kube-scheduler" in line]
    assert len(warnings) == 1, output
    assert "VolumeBinding (filter+score)" in warnings[0] and "warning" in warnings[0].lower()
    assert status == 200
    (entry,) = answer["nodes"]
    assert entry["passed"] is True
    assert list(entry["filters"])[:6] == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
        "NodeResourcesFit",
    ]  # fmt: skip
    # the profile turns off in-tree the scores podsift gives as the extender; what it
    # keeps on and podsift implements (PodTopologySpread, InterPodAffinity) podsift runs too
    assert set(entry["scores"]) <= {"PodTopologySpread", "InterPodAffinity"}


def test_every_option_of_serve_synth_and_bench_is_in_the_readme():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    documented = set(re.findall(r"`(--[a-z][a-z-]*)", readme))
    for command in ("serve", "synth", "bench"):
        out = run(command, "--help")
        assert out.returncode == 0
        usage = out.stdout.split("\n\n")[0]  # argparse wraps it between whole options
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", usage)) - {"--help"}
        assert options, command
        missing = sorted(options - documented)
        assert not missing, f"podsift {command}: {missing} not in README.md"


def _blas_threads_seen(env: dict) -> str:
    """What a podsift process leaves in OPENBLAS_NUM_THREADS once its CLI is
    imported (before any command imports numpy)."""
    code = "import os, extender.cli; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_podsift_asks_openblas_for_one_thread_unless_told() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _blas_threads_seen(env) == "1"
    assert _blas_threads_seen({**env, "OPENBLAS_NUM_THREADS": "3"}) == "3"
