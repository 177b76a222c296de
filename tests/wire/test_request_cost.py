"""No request costs more than a bounded multiple of its size (issue 10, item 3).

Each hostile shape is built at two sizes, n and 4n, and run through the Service
verbs (what the HTTP app runs). The work is counted, not timed: every Python
call and line executed while the verb runs (`sys.settrace`), which is
deterministic. Linear work grows at most 4x from n to 4n (a fixed start-up part
only lowers the ratio); a product of two sizes (tolerations x taints, host ports
x nodes, ...) grows 16x. The bound asserted is 5x.

Work in numpy (per-node columns) is not counted by the tracer; the shapes whose
cost would hide there (node-affinity requirements x nodes) are capped instead,
and tested for the cap.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.model import pod as pod_module
from extender.model.errors import InvalidInput
from extender.model.limits import MAX_POD_RESOURCES, MAX_SELECTOR_REQUIREMENTS
from extender.wire.service import Service
from tests.helpers import make_state, node, pod

LINEAR = 5.0  # allowed growth of the work from n to 4n


def work(call: Callable[[], Any]) -> int:
    """Python calls + lines executed by `call()` (in this thread)."""
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


def service(nodes: list[dict], pods: list[dict] = ()) -> Service:
    return Service(make_state(nodes, pods), Engine(default_configuration()))


def growth(build: Callable[[int], Callable[[], Any]], n: int) -> float:
    """work(4n) / work(n), each on a fresh service and a cold pod cache."""
    build(max(1, n // 4))()  # warm up: lazy imports, first-use caches
    measured = []
    for size in (n, 4 * n):
        pod_module.clear_cache()
        measured.append(work(build(size)))
    return measured[1] / measured[0]


# ---------------------------------------------------------------------------
# tolerations x taints


def tolerant_pod(name: str, count: int, effect: str = "NoSchedule") -> dict:
    return pod(
        name,
        cpu="10m",
        tolerations=[
            {"key": f"t{k}", "operator": "Equal", "value": "v", "effect": effect}
            for k in range(count)
        ],
    )


def tainted_nodes(count: int, taints: int, tolerations: int, effect: str) -> list[dict]:
    """Every node its own taint set, every taint tolerated by some toleration."""
    return [
        node(
            f"n{i}",
            taints=[
                {"key": f"t{(i * taints + j) % tolerations}", "value": "v", "effect": effect}
                for j in range(taints)
            ],
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("effect", ["NoSchedule", "PreferNoSchedule"])
@pytest.mark.parametrize("mode", ["Nodes", "NodeNames"])
def test_tolerations_times_distinct_taint_sets_is_linear(mode, effect):
    def build(n: int) -> Callable[[], Any]:
        nodes = tainted_nodes(n, 3, n, effect)
        svc = service(nodes)
        if mode == "Nodes":
            args = {"Pod": tolerant_pod(f"p{n}", n, effect), "Nodes": {"items": nodes}}
        else:
            names = [x["metadata"]["name"] for x in nodes]
            args = {"Pod": tolerant_pod(f"p{n}", n, effect), "NodeNames": names}

        def call() -> None:
            out = svc.filter(args)
            assert not out["FailedNodes"] and not out["Error"]
            svc.prioritize(args)

        return call

    assert growth(build, 40) <= LINEAR


def test_a_cached_verdict_judges_only_the_sets_a_request_brings():
    # Many taint sets known to the store, a request naming two nodes: the pod's
    # first request judges the sets of those two nodes, not every set ever seen.
    def build(n: int) -> Callable[[], Any]:
        nodes = [
            node(f"n{i}", taints=[{"key": "t", "value": f"v{i}", "effect": "NoSchedule"}])
            for i in range(n)
        ]
        svc = service(nodes)
        tolerant = pod("p", tolerations=[{"key": "t", "operator": "Exists"}])
        args = {"Pod": tolerant, "NodeNames": ["n0", "n1"]}
        return lambda: svc.filter(args)

    assert growth(build, 100) <= 1.5


# ---------------------------------------------------------------------------
# host ports x ports in use


def port_pod(name: str, ports: list[tuple[str, int]], node_name: str | None = None) -> dict:
    p = pod(name, cpu="10m", node_name=node_name, uid=f"u-{name}")
    p["spec"]["containers"][0]["ports"] = [
        {"containerPort": port, "hostPort": port, "hostIP": ip} for ip, port in ports
    ]
    return p


def test_host_ports_times_nodes_using_them_is_linear():
    # The pod wants n addresses of one port; each of n nodes has a pod on another
    # address of it: each node is judged once, not once per wanted address.
    def build(n: int) -> Callable[[], Any]:
        nodes = [node(f"n{i}") for i in range(n)]
        used = [port_pod(f"u{i}", [(f"10.1.{i // 250}.{i % 250}", 80)], f"n{i}") for i in range(n)]
        svc = service(nodes, used)
        wanted = [(f"10.2.{k // 250}.{k % 250}", 80) for k in range(n)]
        args = {"Pod": port_pod(f"p{n}", wanted), "NodeNames": [f"n{i}" for i in range(n)]}

        def call() -> None:
            assert not svc.filter(args)["FailedNodes"]

        return call

    assert growth(build, 60) <= LINEAR


def test_parsing_many_host_ports_is_linear():
    def build(n: int) -> Callable[[], Any]:
        wanted = [("", 1 + k) for k in range(n)] * 2  # each named twice: kept once
        raw = port_pod(f"p{n}", wanted)

        def call() -> None:
            assert len(pod_module.parse_pod(raw).host_ports) == n

        return call

    assert growth(build, 300) <= LINEAR


def test_preempt_host_ports_follow_the_conflicts_not_ports_times_candidates():
    # n candidates, each holding a victim on one of the n addresses the pod wants.
    def build(n: int) -> Callable[[], Any]:
        nodes = [node(f"n{i}") for i in range(n)]
        victims = [
            port_pod(f"v{i}", [(f"10.0.{i // 250}.{i % 250}", 80)], f"n{i}") for i in range(n)
        ]
        svc = service(nodes, victims)
        wanted = [(f"10.0.{k // 250}.{k % 250}", 80) for k in range(n)]
        args = {
            "Pod": port_pod(f"p{n}", wanted),
            "NodeNameToMetaVictims": {
                f"n{i}": {"Pods": [{"UID": f"u-v{i}"}], "NumPDBViolations": 0} for i in range(n)
            },
        }

        def call() -> None:
            assert len(svc.preempt(args)["NodeNameToMetaVictims"]) == n

        return call

    assert growth(build, 40) <= LINEAR


# ---------------------------------------------------------------------------
# /preempt: the cost follows the victims, not the pods on the nodes


def test_preempt_cost_follows_victims_not_pods():
    def build(pods_per_node: int) -> Callable[[], Any]:
        nodes = [node(f"n{i}", cpu="64", pods="1000") for i in range(10)]
        pods = [
            pod(f"x{i}-{k}", cpu="10m", node_name=f"n{i}", uid=f"x{i}-{k}")
            for i in range(10)
            for k in range(pods_per_node)
        ]
        svc = service(nodes, pods)
        args = {
            "Pod": pod("p", cpu="10m"),
            "NodeNameToMetaVictims": {
                f"n{i}": {"Pods": [{"UID": f"x{i}-0"}], "NumPDBViolations": 0} for i in range(10)
            },
        }
        return lambda: svc.preempt(args)

    assert growth(build, 50) <= 1.5


def test_preempt_cost_is_linear_in_victims():
    def build(victims: int) -> Callable[[], Any]:
        nodes = [node(f"n{i}", cpu="64", pods="1000") for i in range(10)]
        pods = [
            pod(f"x{i}-{k}", cpu="10m", node_name=f"n{i}", uid=f"x{i}-{k}")
            for i in range(10)
            for k in range(200)
        ]
        svc = service(nodes, pods)
        args = {
            "Pod": pod("p", cpu="10m"),
            "NodeNameToMetaVictims": {
                f"n{i}": {
                    "Pods": [{"UID": f"x{i}-{k}"} for k in range(victims)],
                    "NumPDBViolations": 0,
                }
                for i in range(10)
            },
        }
        return lambda: svc.preempt(args)

    assert growth(build, 20) <= LINEAR


# ---------------------------------------------------------------------------
# node affinity: terms, values; the cap on requirements


def affinity_pod(name: str, terms: list[dict]) -> dict:
    return pod(
        name,
        cpu="10m",
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": t} for t in terms
                ],
            }
        },
    )


def test_affinity_terms_are_linear():
    def build(n: int) -> Callable[[], Any]:
        nodes = [node(f"n{i}", labels={"zone": f"z{i % 3}"}) for i in range(n)]
        svc = service(nodes)
        terms = [
            {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": [f"x{t}"]}]}
            for t in range(n)
        ]
        args = {"Pod": affinity_pod(f"p{n}", terms), "NodeNames": [f"n{i}" for i in range(n)]}
        return lambda: (svc.filter(args), svc.prioritize(args))

    assert growth(build, 50) <= LINEAR


def test_a_huge_in_list_is_linear():
    def build(n: int) -> Callable[[], Any]:
        nodes = [node(f"n{i}") for i in range(n)]
        svc = service(nodes)
        values = [f"n{i}" for i in range(0, n, 2)] + [f"other-{k}" for k in range(4 * n)]
        term = {
            "matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": values}
            ]
        }
        args = {"Pod": affinity_pod(f"p{n}", [term]), "NodeNames": [f"n{i}" for i in range(n)]}

        def call() -> None:
            out = svc.filter(args)
            assert len(out["FailedNodes"]) + len(out["FailedAndUnresolvableNodes"]) == n // 2

        return call

    assert growth(build, 100) <= LINEAR


@pytest.mark.parametrize("where", ["required", "preferred", "nodeSelector"])
def test_selectors_over_the_requirement_cap_are_refused_with_a_clear_error(where):
    svc = service([node("n0")])

    def spec_with(count: int) -> dict:
        if where == "nodeSelector":
            return pod("p", nodeSelector={f"k{i}": "v" for i in range(count)})
        terms = [
            {"matchExpressions": [{"key": f"k{i}", "operator": "DoesNotExist"}]}
            for i in range(count)
        ]
        if where == "required":
            aff = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
        else:
            aff = {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": t} for t in terms
                ]
            }
        return pod("p", affinity={"nodeAffinity": aff})

    at_cap = svc.filter({"Pod": spec_with(MAX_SELECTOR_REQUIREMENTS), "NodeNames": ["n0"]})
    assert at_cap["Error"] == ""
    field = {
        "nodeSelector": r"spec\.nodeSelector",
        "required": "requiredDuringScheduling",
        "preferred": "preferredDuringScheduling",
    }[where]
    message = f"{field}.*has {MAX_SELECTOR_REQUIREMENTS + 1:,} distinct requirements"
    for verb in (svc.filter, svc.prioritize, svc.explain):
        with pytest.raises(InvalidInput, match=message):
            verb({"Pod": spec_with(MAX_SELECTOR_REQUIREMENTS + 1), "NodeNames": ["n0"]})
    # the cap counts what is evaluated: a million copies of one term are one term
    repeated = pod(
        "p",
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "k", "operator": "Exists"}]}
                    ]
                    * (MAX_SELECTOR_REQUIREMENTS + 1)
                }
            }
        },
    )
    assert svc.filter({"Pod": repeated, "NodeNames": ["n0"]})["Error"] == ""


def test_pods_from_the_cluster_are_not_capped():
    # a running pod's affinity is never evaluated and its resources must count
    huge = pod(
        "big",
        node_name="n0",
        nodeSelector={f"k{i}": "v" for i in range(MAX_SELECTOR_REQUIREMENTS + 1)},
    )
    state = make_state([node("n0")], [huge])
    assert len(state.pods) == 1


# ---------------------------------------------------------------------------
# images, containers


def test_many_containers_of_one_image_read_one_column(monkeypatch):
    from extender.cache.view import NodeView

    calls: list[str] = []
    original = NodeView.image_sizes

    def counted(self, image):
        calls.append(image)
        return original(self, image)

    monkeypatch.setattr(NodeView, "image_sizes", counted)
    images = [{"names": ["nginx:1.25"], "sizeBytes": 200 * 2**20}]
    svc = service([node("n0", images=images), node("n1")])
    p = pod("p", cpu="10m")
    p["spec"]["containers"] = [
        {"name": f"c{i}", "image": "nginx:1.25", "resources": {}} for i in range(500)
    ]
    names, scores = svc.prioritize({"Pod": p, "NodeNames": ["n0", "n1"]})
    assert calls == ["nginx:1.25"]
    assert scores.tolist()[0] >= scores.tolist()[1]


def test_many_containers_are_linear():
    def build(n: int) -> Callable[[], Any]:
        svc = service([node("n0", cpu="1000", pods="1000")])
        p = pod(f"p{n}")
        p["spec"]["containers"] = [
            {"name": f"c{i}", "image": f"img{i}", "resources": {"requests": {"cpu": "1m"}}}
            for i in range(n)
        ]
        args = {"Pod": p, "NodeNames": ["n0"]}
        return lambda: (svc.filter(args), svc.prioritize(args), svc.explain(args))

    assert growth(build, 50) <= LINEAR


# ---------------------------------------------------------------------------
# full Node objects are parsed before the lock


def test_full_node_objects_are_parsed_outside_the_state_lock(monkeypatch):
    from extender.cache import nodeobjects

    nodes = [node(f"n{i}") for i in range(5)]
    svc = service(nodes)
    held: list[bool] = []
    original = nodeobjects.parse_node

    def parse(obj, field=""):
        held.append(svc.state.lock._is_owned())
        return original(obj, field)

    monkeypatch.setattr(nodeobjects, "parse_node", parse)
    fresh = [node(f"n{i}", labels={"new": "yes"}) for i in range(5)]
    out = svc.filter({"Pod": pod("p"), "Nodes": {"items": fresh}})
    assert len(out["Nodes"]["items"]) == 5
    assert held == [False] * 5
    with pytest.raises(InvalidInput, match=r"Nodes\.items\[2\]"):
        bad = [*fresh[:2], {"metadata": {"name": "x"}, "status": {"allocatable": {"cpu": []}}}]
        svc.filter({"Pod": pod("p"), "Nodes": {"items": bad}})


# ---------------------------------------------------------------------------
# resources: a reason per node names every resource it lacks


def test_a_pod_requesting_too_many_resources_is_refused_with_a_clear_error():
    svc = service([node("n0")])

    def asking(count: int) -> dict:
        p = pod(f"r{count}")
        p["spec"]["containers"][0]["resources"] = {
            "requests": {f"example.com/r{i}": "1" for i in range(count)}
        }
        return p

    out = svc.filter({"Pod": asking(MAX_POD_RESOURCES), "NodeNames": ["n0"]})
    assert "Insufficient example.com/r0" in out["FailedAndUnresolvableNodes"]["n0"]
    with pytest.raises(InvalidInput, match=f"at most {MAX_POD_RESOURCES},"):
        svc.filter({"Pod": asking(MAX_POD_RESOURCES + 1), "NodeNames": ["n0"]})


# ---------------------------------------------------------------------------
# label keys: every Node object may bring keys of its own


def allocated(call: Callable[[], Any]) -> int:
    """Peak bytes allocated (Python and numpy) while `call()` runs."""
    import tracemalloc

    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_distinct_label_keys_per_node_object_are_linear():
    def build(n: int) -> Callable[[], Any]:
        nodes = [
            node(f"n{i}", labels={f"own-{i}-{k}.example.com": "x" for k in range(10)})
            for i in range(n)
        ]
        svc = service([node(f"n{i}") for i in range(n)])
        args = {
            "Pod": pod(f"p{n}", nodeSelector={"own-0-0.example.com": "x"}),
            "Nodes": {"items": nodes},
        }

        def call() -> None:
            assert len(svc.filter(args)["Nodes"]["items"]) == 1

        return call

    build(10)()
    small, large = allocated(build(150)), allocated(build(600))
    assert large / small <= LINEAR


def test_many_sidecars_of_distinct_resources_parse_linearly():
    # the init-container peak used to be re-taken over every resource after each sidecar
    def build(n: int) -> Callable[[], Any]:
        raw = pod(f"p{n}")
        raw["spec"]["initContainers"] = [
            {
                "name": f"s{i}",
                "restartPolicy": "Always",
                "resources": {"requests": {f"example.com/r{i}": "1", "cpu": "1m"}},
            }
            for i in range(n)
        ]
        return lambda: pod_module.parse_pod(raw)

    assert growth(build, 100) <= LINEAR


def test_distinct_resources_per_node_object_are_linear():
    def build(n: int) -> Callable[[], Any]:
        nodes = [
            node(f"n{i}", extra={f"example.com/own-{i}-{k}": "1" for k in range(10)})
            for i in range(n)
        ]
        svc = service([node(f"n{i}") for i in range(n)])
        args = {"Pod": pod(f"p{n}", cpu="10m"), "Nodes": {"items": nodes}}

        def call() -> None:
            assert len(svc.filter(args)["Nodes"]["items"]) == n

        return call

    build(10)()
    small, large = allocated(build(150)), allocated(build(600))
    assert large / small <= LINEAR


def test_preempt_memory_follows_the_victims_resources_not_the_tables_columns():
    # the table may know many resources (nodes offering devices); the what-if view
    # keeps a freed column only for those the victims hold
    def build(n: int) -> Callable[[], Any]:
        extra = {f"example.com/dev-{k}": "1" for k in range(n)}
        nodes = [node(f"n{i}", extra=extra) for i in range(200)]
        victims = [pod(f"v{i}", cpu="1", node_name=f"n{i}", uid=f"v{i}") for i in range(200)]
        svc = service(nodes, victims)
        args = {
            "Pod": pod("p", cpu="4"),
            "NodeNameToMetaVictims": {
                f"n{i}": {"Pods": [{"UID": f"v{i}"}], "NumPDBViolations": 0} for i in range(200)
            },
        }
        return lambda: svc.preempt(args)

    build(5)()
    small, large = allocated(build(100)), allocated(build(400))
    assert large / small <= 1.5


# ---------------------------------------------------------------------------
# inter-pod affinity (issue 12): a count per term, built from the placed label sets


def test_a_pod_with_too_many_pod_affinity_terms_is_refused_with_a_clear_error():
    from extender.model.limits import MAX_POD_AFFINITY_TERMS

    svc = service([node("n0")])

    def with_terms(count: int) -> dict:
        p = pod(f"a{count}")
        terms = [
            {"labelSelector": {"matchLabels": {"app": f"x{i}"}}, "topologyKey": "zone"}
            for i in range(count)
        ]
        p["spec"]["affinity"] = {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}
        }
        return p

    out = svc.filter({"Pod": with_terms(MAX_POD_AFFINITY_TERMS), "NodeNames": ["n0"]})
    assert out["NodeNames"] == ["n0"]  # at the cap: accepted
    with pytest.raises(InvalidInput, match=f"at most {MAX_POD_AFFINITY_TERMS},"):
        svc.filter({"Pod": with_terms(MAX_POD_AFFINITY_TERMS + 1), "NodeNames": ["n0"]})
