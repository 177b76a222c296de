"""The command line (docs/CONTRACT.md §5): clear errors before anything starts."""

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


def test_synth_writes_one_list_nodes_then_pending_pods():
    out = run("synth", "--nodes", "5", "--pods", "12")
    assert out.returncode == 0
    doc = orjson.loads(out.stdout)
    assert doc["kind"] == "List"
    kinds = [i["kind"] for i in doc["items"]]
    assert kinds == ["Node"] * 5 + ["Pod"] * 12
    assert all("nodeName" not in i["spec"] for i in doc["items"] if i["kind"] == "Pod")
    again = run("synth", "--nodes", "5", "--pods", "12")
    assert again.stdout == out.stdout


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
