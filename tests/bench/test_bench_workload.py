"""The synthetic workload: deterministic, realistic enough, and placeable."""

from __future__ import annotations

import collections

import orjson
import pytest

from bench.placer import greedy_place
from bench.validate import REQUIRED_TERMS, validate
from bench.workload import generate


def _kinds(cluster: dict) -> tuple[list[dict], list[dict]]:
    nodes = [i for i in cluster["items"] if i["kind"] == "Node"]
    pods = [i for i in cluster["items"] if i["kind"] == "Pod"]
    return nodes, pods


def test_same_seed_gives_identical_bytes() -> None:
    assert orjson.dumps(generate(60, 900, seed=7)) == orjson.dumps(generate(60, 900, seed=7))


def test_other_seed_gives_other_cluster() -> None:
    assert orjson.dumps(generate(60, 900, seed=7)) != orjson.dumps(generate(60, 900, seed=8))


def test_list_shape_nodes_first_then_pending_pods() -> None:
    cluster = generate(40, 1200)
    assert cluster["apiVersion"] == "v1" and cluster["kind"] == "List"
    kinds = [i["kind"] for i in cluster["items"]]
    assert kinds == ["Node"] * 40 + ["Pod"] * 1200
    nodes, pods = _kinds(cluster)
    assert len({n["metadata"]["name"] for n in nodes}) == 40
    assert len({p["metadata"]["uid"] for p in pods}) == 1200
    assert len({(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}) == 1200
    assert all("nodeName" not in p["spec"] for p in pods)
    assert all(p["status"]["phase"] == "Pending" for p in pods)
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == node["metadata"]["name"]
        assert "topology.kubernetes.io/zone" in labels
        assert "node.kubernetes.io/instance-type" in labels
        assert node["status"]["allocatable"]["pods"] == "110"
        assert node["status"]["images"]


def test_nodes_only() -> None:
    nodes, pods = _kinds(generate(1000, 0))
    assert len(nodes) == 1000 and pods == []


def test_mix_exercises_every_policy() -> None:
    nodes, pods = _kinds(generate(1000, 3000))
    effects = {t["effect"] for n in nodes for t in n["spec"].get("taints", [])}
    assert effects == {"NoSchedule", "NoExecute", "PreferNoSchedule"}
    assert sum(bool(n["spec"].get("unschedulable")) for n in nodes) == 10
    assert len({n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes}) == 3
    assert len({n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in nodes}) >= 5
    assert len({n["status"]["allocatable"]["cpu"] for n in nodes}) >= 5
    assert len({n["status"]["allocatable"]["memory"] for n in nodes}) >= 5
    assert any("example.com/gpu" in n["status"]["allocatable"] for n in nodes)
    assert any(n["status"]["allocatable"]["hugepages-2Mi"] != "0" for n in nodes)

    specs = {id(p["spec"]): p["spec"] for p in pods}.values()
    assert len(specs) >= 30  # a few dozen deployments
    cpu_forms = {
        c["resources"]["requests"]["cpu"]
        for s in specs
        for c in s["containers"]
        if "cpu" in c["resources"].get("requests", {})
    }
    memory_forms = {
        c["resources"]["requests"]["memory"]
        for s in specs
        for c in s["containers"]
        if "memory" in c["resources"].get("requests", {})
    }
    assert any(f.endswith("m") for f in cpu_forms) and any("." in f for f in cpu_forms)
    assert any(f.endswith("Mi") for f in memory_forms) and any("e" in f for f in memory_forms)
    assert any(f.endswith("G") for f in memory_forms)
    operators = collections.Counter()
    for s in specs:
        affinity = s.get("affinity", {}).get("nodeAffinity", {})
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution", {})
        for term in required.get("nodeSelectorTerms", []):
            operators.update(e["operator"] for e in term["matchExpressions"])
    assert {"In", "NotIn", "Exists", "Gt"} <= set(operators)
    assert any(
        "preferredDuringSchedulingIgnoredDuringExecution"
        in s.get("affinity", {}).get("nodeAffinity", {})
        for s in specs
    )
    assert any(s.get("nodeSelector") for s in specs)
    assert any(len(s["tolerations"]) > 2 for s in specs)
    assert any(
        c.get("restartPolicy") == "Always" for s in specs for c in s.get("initContainers", [])
    )
    assert any("restartPolicy" not in c for s in specs for c in s.get("initContainers", []))
    assert any(s.get("overhead") for s in specs)
    assert any(
        p.get("hostPort") for s in specs for c in s["containers"] for p in c.get("ports", [])
    )
    node_images = {name for n in nodes for i in n["status"]["images"] for name in i["names"]}
    assert all(c["image"] in node_images for s in specs for c in s["containers"])


def test_density_is_thirty_pods_per_node() -> None:
    nodes, pods = _kinds(generate(50, 1500))
    assert len(pods) == 30 * len(nodes)


@pytest.mark.parametrize("nodes", [1, 2, 3, 5, 10, 20, 37, 80])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_pod_is_placeable_in_order_when_spread(nodes: int, seed: int) -> None:
    cluster = generate(nodes, 30 * nodes, seed=seed)
    placements = greedy_place(cluster["items"], "spread")
    assert [uid for uid, node in placements.items() if node is None] == []
    assert validate(cluster["items"], placements) == []


@pytest.mark.parametrize(("nodes", "seed"), [(50, 1), (200, 3)])
def test_every_pod_is_placeable_even_first_fit_at_scale(nodes: int, seed: int) -> None:
    """First-fit packs as hard as possible; at 50+ nodes the sizing still holds."""
    cluster = generate(nodes, 30 * nodes, seed=seed)
    placements = greedy_place(cluster["items"], "first-fit")
    assert [uid for uid, node in placements.items() if node is None] == []
    assert validate(cluster["items"], placements) == []


def test_rejects_pods_without_nodes() -> None:
    with pytest.raises(ValueError):
        generate(0, 5)


def test_answers_digest_is_deterministic_and_sees_a_change() -> None:
    from bench import digest

    first = digest.answers_digest(20, 40, seed=3)
    assert first == digest.answers_digest(20, 40, seed=3)
    assert len(first) == 64 and first != digest.answers_digest(20, 40, seed=4)


def test_instructions_driver_places_pods(capsys) -> None:
    from bench import instructions

    assert instructions.main(["--nodes", "20", "--pods", "10"]) == 0
    assert capsys.readouterr().out.strip() == "placed 10 of 10"
    assert instructions.main(["--nodes", "20", "--pods", "10", "--schedule-only"]) == 0
    assert capsys.readouterr().out.strip() == "placed 10 of 10"


@pytest.mark.parametrize(
    ("nodes", "seed", "strategy"),
    [
        (1, 1, "spread"),
        (3, 1, "spread"),
        (20, 2, "spread"),
        (80, 3, "spread"),
        (50, 1, "first-fit"),
    ],
)
def test_with_pod_affinity_every_pod_is_still_placeable(nodes: int, seed: int, strategy: str):
    """The pod (anti-)affinity mix (issue 12), on by default: required anti-affinity per
    host is capped to one replica on half the usable nodes, so the greedy placer, which
    honours the validator's inter-pod affinity rules, still places everything validly."""
    cluster = generate(nodes, 30 * nodes, seed=seed)
    specs = [i["spec"] for i in cluster["items"] if i["kind"] == "Pod"]
    anti = [s for s in specs if "podAntiAffinity" in s.get("affinity", {})]
    required = [a for a in anti if REQUIRED_TERMS in a["affinity"]["podAntiAffinity"]]
    if nodes >= 20:  # a tiny cluster may draw none of these deployments
        assert required and len(anti) > len(required)
        assert any("podAffinity" in s.get("affinity", {}) for s in specs)
    placements = greedy_place(cluster["items"], strategy)
    assert [uid for uid, node in placements.items() if node is None] == []
    assert validate(cluster["items"], placements) == []


def _pod_affinity_kinds(cluster: dict) -> set[str]:
    specs = [i["spec"] for i in cluster["items"] if i["kind"] == "Pod"]
    return {k for s in specs for k in s.get("affinity", {}) if k != "nodeAffinity"}


def test_pod_affinity_is_on_by_default_and_can_be_left_out():
    assert _pod_affinity_kinds(generate(20, 600)) == {"podAffinity", "podAntiAffinity"}
    assert _pod_affinity_kinds(generate(20, 600, pod_affinity=False)) == set()


@pytest.mark.parametrize("nodes", [1, 2, 3, 4])
def test_required_anti_affinity_never_asks_for_more_replicas_than_usable_nodes(nodes: int):
    """A zone-pinned Deployment whose zone a tiny cluster lacks gets no replica at all
    (it once got one it could never place at 2 nodes); one usable node takes one."""
    from bench.validate import node_selector_matches, required_affinity_matches, untolerated_taint

    cluster = generate(nodes, 30 * nodes * 10, seed=1)
    node_items, pods = _kinds(cluster)
    by_app = collections.defaultdict(list)
    for p in pods:
        anti = p["spec"].get("affinity", {}).get("podAntiAffinity", {})
        if REQUIRED_TERMS in anti:
            by_app[p["metadata"]["labels"]["app"]].append(p)
    for app, replicas in by_app.items():
        usable = [
            n
            for n in node_items
            if not n["spec"].get("unschedulable")
            and node_selector_matches(replicas[0], n)
            and required_affinity_matches(replicas[0], n)
            and untolerated_taint(replicas[0], n) is None
        ]
        assert 1 <= len(replicas) <= max(1, len(usable) // 2) <= len(usable), app


def test_podsift_with_inter_pod_affinity_places_the_mix_validly(tmp_path):
    """End to end, in-process: podsift's default filters (PodTopologySpread among them:
    the workload spreads too) plus InterPodAffinity place
    the pod affinity mix with zero invalid placements by the independent validator;
    without InterPodAffinity some placements break a required term."""
    from extender.inprocess import InProcessExtender

    cluster = generate(30, 900, seed=2)
    nodes = [i for i in cluster["items"] if i["kind"] == "Node"]
    pods = [i for i in cluster["items"] if i["kind"] == "Pod"]
    names = [n["metadata"]["name"] for n in nodes]
    filters = "NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts"
    invalid = {}
    for extra in ("", ", InterPodAffinity"):
        config = tmp_path / "policy.yaml"
        config.write_text(
            "apiVersion: podsift/v1\nkind: PolicyConfiguration\n"
            f"filters: [{filters}, NodeResourcesFit, PodTopologySpread{extra}]\n"
            "scores: [NodeResourcesFit]\n"
        )
        ext = InProcessExtender(nodes, str(config))
        placements = {}
        for pod in pods:
            node = ext.schedule_one(pod, names)
            if node is not None:
                placements[pod["metadata"]["uid"]] = node
        assert len(placements) == len(pods)
        invalid[extra] = {v.kind for v in validate(cluster["items"], placements)}
    assert invalid[", InterPodAffinity"] == set()
    assert invalid[""] & {"pod-anti-affinity", "existing-pod-anti-affinity"}


def test_affinity_benches_run(capsys):
    from bench import affinitycost, affinitymix

    assert affinitymix.main(["--nodes", "10", "--pods", "200", "--policies", "with"]) == 0
    assert "invalid pods 0 []" in capsys.readouterr().out
    assert affinitycost.main(["--nodes", "20", "--placed", "100", "--calls", "2"]) == 0
    assert "/filter:" in capsys.readouterr().out


def test_the_no_topology_baseline_is_the_default_set_without_the_two_plugins():
    """examples/bench/no-topology.yaml, the baseline of README's topology cost table:
    the default filters and scores in their order and weights, less the two plugins."""
    from pathlib import Path

    from extender.engine.config import default_configuration, load_configuration

    path = Path(__file__).resolve().parents[2] / "examples" / "bench" / "no-topology.yaml"
    baseline, default = load_configuration(str(path)), default_configuration()
    two = {"PodTopologySpread", "InterPodAffinity"}
    assert [f.name for f in baseline.filters] == [
        f.name for f in default.filters if f.name not in two
    ]
    assert [(s.name, s.weight) for s in baseline.scores] == [
        (s.name, s.weight) for s in default.scores if s.name not in two
    ]


def test_topology_cost_driver_places_both_runs(capsys):
    from bench import topologycost

    assert topologycost.main(["--nodes", "20", "--pods", "120"]) == 0
    out = capsys.readouterr().out
    assert "default  placed 120 of 120" in out and "baseline placed 120 of 120" in out
    assert "default / baseline: CPU " in out
