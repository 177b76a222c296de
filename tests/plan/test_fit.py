"""`plan fit` against an independent count: a resource-only template fits, on each
node, as many copies as the node's free cpu, memory and pod slots admit."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.cli import main
from extender.plan.fit import CAPPED, MAX_COPIES_PER_NODE, fit_template
from extender.plan.source import build
from extender.plan.workload import load_templates
from tests.plan.objects import deployment, listing, node, pod_spec, running_pod

GI = 2**30


def _cluster(nodes, used):
    items = []
    for i, (cpu_m, mem_gi, pods) in enumerate(nodes):
        items.append(node(f"n{i}", f"{cpu_m}m", f"{mem_gi}Gi", pods))
    for i, (at, cpu_m, mem_mi) in enumerate(used):
        if at < len(nodes):
            items.append(running_pod(f"p{i}", f"n{at}", f"{cpu_m}m", f"{mem_mi}Mi"))
    return items


def _independent(nodes, used, cpu_m, mem_mi):
    """Copies per node from the raw numbers alone."""
    out = {}
    for i, (node_cpu, mem_gi, pods) in enumerate(nodes):
        on = [u for u in used if u[0] == i]
        free_cpu = node_cpu - sum(u[1] for u in on)
        free_mem = mem_gi * 1024 - sum(u[2] for u in on)
        free_pods = pods - len(on)
        k = min(free_cpu // cpu_m, free_mem // mem_mi, free_pods)
        out[f"n{i}"] = max(k, 0)
    return out


nodes_st = st.lists(
    st.tuples(st.integers(0, 8000), st.integers(0, 16), st.integers(0, 40)), min_size=1, max_size=8
)
used_st = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 3000), st.integers(0, 4096)), max_size=30
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(nodes=nodes_st, used=used_st, cpu_m=st.integers(1, 2000), mem_mi=st.integers(1, 3000))
def test_fit_equals_the_free_resources_count(tmp_path, nodes, used, cpu_m, mem_mi):
    path = tmp_path / "t.json"
    path.write_bytes(orjson.dumps(deployment("t", 1, pod_spec(f"{cpu_m}m", f"{mem_mi}Mi"))))
    cluster = build(_cluster(nodes, used), "test", None, None)
    (template,) = load_templates([str(path)])
    got = fit_template(cluster, template)
    want = _independent(nodes, used, cpu_m, mem_mi)
    assert got.per_node == {n: k for n, k in want.items() if k}
    # every node is limited by exactly one reason, and the copies were taken out again
    listed = [n for ns in got.limited_by.values() for n in ns]
    assert sorted(listed) == sorted(want)
    assert all(r for r in got.limited_by)
    assert fit_template(cluster, template).per_node == got.per_node


def test_fit_reasons_are_kube_schedulers(tmp_path):
    items = [
        node("small", "1", "8Gi"),
        node("tainted", "8", "8Gi", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
        node("few-slots", "8", "64Gi", pods=2),
    ]
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 1, pod_spec("300m", "1Gi"))))
    cluster = build(items, "test", None, None)
    (template,) = load_templates([str(tmp_path / "w.json")])
    got = fit_template(cluster, template)
    assert got.per_node == {"small": 3, "few-slots": 2}
    assert got.limited_by == {
        "Insufficient cpu": ["small"],
        "node(s) had untolerated taint {k: v}": ["tainted"],
        "Too many pods": ["few-slots"],
    }


def test_fit_cli_json_over_a_snapshot(tmp_path, capsys):
    snap = tmp_path / "snap.json"
    snap.write_bytes(orjson.dumps(listing([node("a", "2", "4Gi"), node("b", "1", "4Gi")])))
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 5, pod_spec("500m"))))
    argv = ["plan", "fit", "--pod", str(tmp_path / "w.json"), "--snapshot", str(snap)]
    assert main([*argv, "--output", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    (t,) = doc["templates"]
    assert (t["name"], t["namespace"], t["workload"]) == ("w", "default", "default/w")
    assert (t["kind"], t["fits"]) == ("Deployment", 6)
    assert t["per_node"] == {"a": 4, "b": 2}
    assert t["limited_by"] == {"Insufficient cpu": 2}
    assert t["limited_by_nodes"] == {"Insufficient cpu": ["a", "b"]}
    assert any("volumes" in u for u in doc["not_modeled"])


def test_fit_without_node_resources_fit(tmp_path):
    """No filter checks room: the count stops where /bind would refuse (it checks the
    room NodeResourcesFit checks), or at the cap."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: podsift/v1\nkind: PolicyConfiguration\nfilters: [NodeAffinity]\nscores: []\n"
    )
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 1, pod_spec("1"))))
    (tmp_path / "free.json").write_bytes(orjson.dumps(deployment("free", 1, pod_spec())))
    cluster = build([node("a", "1"), node("b", "2", pods=5000)], "test", str(config), None)
    sized, free = load_templates([str(tmp_path / "w.json"), str(tmp_path / "free.json")])
    got = fit_template(cluster, sized)
    assert got.per_node == {"a": 1, "b": 2}
    assert got.limited_by == {"/bind refuses: Insufficient cpu": ["a", "b"]}
    got = fit_template(cluster, free)
    assert got.per_node == {"a": 110, "b": MAX_COPIES_PER_NODE}
    assert got.limited_by == {
        "/bind refuses: Too many pods": ["a"],
        CAPPED: ["b"],
    }


def test_fit_takes_its_copies_out_unless_the_plan_ends_there(tmp_path):
    from extender.plan.fit import fit

    paths = []
    for name, cpu in (("a", "500m"), ("b", "300m")):
        path = tmp_path / f"{name}.json"
        path.write_bytes(orjson.dumps(deployment(name, 1, pod_spec(cpu, "100Mi"))))
        paths.append(str(path))
    cluster = build(_cluster([(2000, 4, 20), (1000, 4, 20)], [(0, 500, 100)]), "t", None, None)
    templates = load_templates(paths)
    before = dict(cluster.state.pods)
    restored = fit(cluster, templates)
    assert cluster.state.pods == before  # every copy taken out again
    assert [r.per_node for r in restored] == [{"n0": 3, "n1": 2}, {"n0": 5, "n1": 3}]
    kept = fit(cluster, templates, restore=False)
    assert [r.per_node for r in kept] == [r.per_node for r in restored]
    assert len(cluster.state.pods) == len(before) + 8  # the last template's copies stay
