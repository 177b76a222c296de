"""The independent placement validator catches each kind of invalid placement."""

from __future__ import annotations

from typing import Any

import pytest

from bench.validate import invalid_pods, parse_amount, pod_requests, validate


def node(
    name: str = "n1",
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    **extra: str,
) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    allocatable.update({k.replace("_", "-"): v for k, v in extra.items()})
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
        "status": {"allocatable": allocatable},
    }


def pod(uid: str = "p1", requests: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", None) or [
        {"name": "c", "resources": {"requests": requests or {}}}
    ]
    return {
        "kind": "Pod",
        "metadata": {"name": f"pod-{uid}", "namespace": "ns", "uid": uid},
        "spec": {"containers": containers, **spec},
        "status": {"phase": "Pending"},
    }


def kinds(items: list[dict[str, Any]], placements: dict[str, str]) -> list[str]:
    return [v.kind for v in validate(items, placements)]


@pytest.mark.parametrize(
    ("resource", "text", "amount"),
    [
        ("cpu", "100m", 100),
        ("cpu", "0.25", 250),
        ("cpu", "1", 1000),
        ("cpu", "1.5", 1500),
        ("cpu", "0.0001", 1),  # rounded up to a whole millicore
        ("cpu", "1e3", 1_000_000),
        ("memory", "256Mi", 256 * 2**20),
        ("memory", "1G", 10**9),
        ("memory", "5e8", 5 * 10**8),
        ("memory", "1.5Gi", 3 * 2**29),
        ("memory", "128974848Ki", 128974848 * 1024),
        ("memory", "1500m", 2),  # whole units, rounded up
        ("pods", "110", 110),
        ("memory", "2E", 2 * 10**18),
        ("memory", 3, 3),
    ],
)
def test_parse_amount(resource: str, text: Any, amount: int) -> None:
    assert parse_amount(resource, text) == amount


@pytest.mark.parametrize("text", ["", "1.2.3", "abc", "1Q", "--1"])
def test_parse_amount_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount("memory", text)


def test_requests_with_init_containers_sidecars_and_overhead() -> None:
    p = pod(
        containers=[
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
        ],
        initContainers=[
            {
                "name": "sidecar1",
                "restartPolicy": "Always",
                "resources": {"requests": {"cpu": "50m"}},
            },
            {"name": "big-init", "resources": {"requests": {"cpu": "1", "memory": "50Mi"}}},
            {
                "name": "sidecar2",
                "restartPolicy": "Always",
                "resources": {"requests": {"cpu": "10m"}},
            },
        ],
        overhead={"cpu": "5m", "memory": "1Mi"},
    )
    # containers+sidecars: 100+200+50+10 = 360m; big-init runs beside sidecar1: 1050m.
    # memory: 100Mi vs 50Mi -> 100Mi. Plus overhead.
    assert pod_requests(p) == {"cpu": 1055, "memory": 101 * 2**20}


def test_valid_placement_has_no_violation() -> None:
    items = [node(), pod("a", {"cpu": "2"}), pod("b", {"cpu": "2", "memory": "8Gi"})]
    assert validate(items, {"a": "n1", "b": "n1"}) == []


def test_insufficient_cpu_flags_the_pod_that_overflows() -> None:
    items = [node(), pod("a", {"cpu": "3"}), pod("b", {"cpu": "1001m"})]
    violations = validate(items, {"a": "n1", "b": "n1"})
    assert [(v.uid, v.kind) for v in violations] == [("b", "insufficient")]
    assert "cpu" in violations[0].detail
    assert invalid_pods(violations) == 1


@pytest.mark.parametrize(
    ("requests", "extra", "resource"),
    [
        ({"memory": "9Gi"}, {}, "memory"),
        ({"ephemeral-storage": "1Gi"}, {}, "ephemeral-storage"),  # node has none
        ({"ephemeral-storage": "2Gi"}, {"ephemeral_storage": "1Gi"}, "ephemeral-storage"),
        ({"hugepages-2Mi": "4Mi"}, {"hugepages_2Mi": "2Mi"}, "hugepages-2Mi"),
        ({"example.com/gpu": "1"}, {}, "example.com/gpu"),
    ],
)
def test_insufficient_resources(requests: dict, extra: dict, resource: str) -> None:
    violations = validate([node(**extra), pod("a", requests)], {"a": "n1"})
    assert [v.kind for v in violations] == ["insufficient"]
    assert violations[0].detail.startswith(resource)


def test_pod_count_limit() -> None:
    items = [node(pods="2"), pod("a"), pod("b"), pod("c")]
    violations = validate(items, {"a": "n1", "b": "n1", "c": "n1"})
    assert [(v.uid, v.kind) for v in violations] == [("c", "insufficient")]
    assert violations[0].detail.startswith("pods")


def test_overhead_counts() -> None:
    items = [node(cpu="1"), pod("a", {"cpu": "900m"}, overhead={"cpu": "200m"})]
    assert kinds(items, {"a": "n1"}) == ["insufficient"]


def test_prebound_pods_count_first() -> None:
    bound = pod("old", {"cpu": "3"}, nodeName="n1")
    done = pod("done", {"cpu": "4"}, nodeName="n1")
    done["status"]["phase"] = "Succeeded"
    items = [node(), bound, done, pod("a", {"cpu": "1500m"})]
    assert kinds(items, {"a": "n1"}) == ["insufficient"]


def test_unknown_pod_and_node() -> None:
    items = [node(), pod("a")]
    assert kinds(items, {"zzz": "n1", "a": "nope"}) == ["unknown-pod", "unknown-node"]


def test_unschedulable_node_unless_tolerated() -> None:
    tolerate = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]
    items = [node(unschedulable=True), pod("a"), pod("b", tolerations=tolerate)]
    assert kinds(items, {"a": "n1", "b": "n1"}) == ["unschedulable"]


def test_node_selector() -> None:
    items = [
        node(labels={"zone": "a", "disk": "ssd"}),
        pod("a", nodeSelector={"zone": "a"}),
        pod("b", nodeSelector={"zone": "b"}),
        pod("c", nodeSelector={"zone": "a", "gpu": "yes"}),
    ]
    violations = validate(items, {"a": "n1", "b": "n1", "c": "n1"})
    assert [(v.uid, v.kind) for v in violations] == [("b", "node-selector"), ("c", "node-selector")]


def _affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {k: v for k, v in t.items()} if isinstance(t, dict) else {"matchExpressions": t}
                    for t in terms
                ]
            }
        }
    }


@pytest.mark.parametrize(
    ("terms", "ok"),
    [
        ([[{"key": "zone", "operator": "In", "values": ["a", "b"]}]], True),
        ([[{"key": "zone", "operator": "In", "values": ["b"]}]], False),
        ([[{"key": "zone", "operator": "NotIn", "values": ["b"]}]], True),
        ([[{"key": "zone", "operator": "NotIn", "values": ["a"]}]], False),
        ([[{"key": "absent", "operator": "NotIn", "values": ["a"]}]], True),
        ([[{"key": "zone", "operator": "Exists"}]], True),
        ([[{"key": "absent", "operator": "Exists"}]], False),
        ([[{"key": "absent", "operator": "DoesNotExist"}]], True),
        ([[{"key": "zone", "operator": "DoesNotExist"}]], False),
        ([[{"key": "gen", "operator": "Gt", "values": ["3"]}]], True),
        ([[{"key": "gen", "operator": "Gt", "values": ["4"]}]], False),
        ([[{"key": "gen", "operator": "Lt", "values": ["5"]}]], True),
        ([[{"key": "zone", "operator": "Gt", "values": ["1"]}]], False),  # not an integer
        ([[{"key": "absent", "operator": "Lt", "values": ["9"]}]], False),
        # terms are ORed, expressions within a term ANDed
        (
            [
                [{"key": "zone", "operator": "In", "values": ["b"]}],
                [{"key": "gen", "operator": "Gt", "values": ["1"]}],
            ],
            True,
        ),
        (
            [
                [
                    {"key": "zone", "operator": "In", "values": ["a"]},
                    {"key": "gen", "operator": "Gt", "values": ["9"]},
                ]
            ],
            False,
        ),
        ([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}], True),
        ([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}], False),
        ([{}], False),  # an empty term selects nothing
    ],
)
def test_required_node_affinity(terms: list, ok: bool) -> None:
    items = [node(labels={"zone": "a", "gen": "4"}), pod("a", affinity=_affinity(*terms))]
    assert kinds(items, {"a": "n1"}) == ([] if ok else ["node-affinity"])


def test_preferred_affinity_is_not_a_requirement() -> None:
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {
                        "matchExpressions": [{"key": "x", "operator": "In", "values": ["y"]}]
                    },
                }
            ]
        }
    }
    assert kinds([node(), pod("a", affinity=preferred)], {"a": "n1"}) == []


@pytest.mark.parametrize(
    ("taint", "tolerations", "ok"),
    [
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [], False),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, [], False),
        ({"key": "k", "value": "v", "effect": "PreferNoSchedule"}, [], True),
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, [{"key": "k", "value": "v"}], True),
        (
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            [{"key": "k", "operator": "Equal", "value": "w"}],
            False,
        ),
        (
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            [{"key": "k", "operator": "Exists"}],
            True,
        ),
        (
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            [{"key": "k", "operator": "Exists", "effect": "NoExecute"}],
            False,
        ),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, [{"operator": "Exists"}], True),
        (
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            [{"key": "other", "operator": "Exists"}],
            False,
        ),
    ],
)
def test_taints(taint: dict, tolerations: list, ok: bool) -> None:
    items = [node(taints=[taint]), pod("a", tolerations=tolerations)]
    assert kinds(items, {"a": "n1"}) == ([] if ok else ["taint"])


def _port_pod(uid: str, port: int, protocol: str = "TCP", ip: str = "") -> dict[str, Any]:
    spec = {"containerPort": port, "hostPort": port, "protocol": protocol}
    if ip:
        spec["hostIP"] = ip
    return pod(uid, containers=[{"name": "c", "ports": [spec]}])


@pytest.mark.parametrize(
    ("first", "second", "ok"),
    [
        ((80, "TCP", ""), (80, "TCP", ""), False),
        ((80, "TCP", ""), (81, "TCP", ""), True),
        ((80, "TCP", ""), (80, "UDP", ""), True),
        ((80, "TCP", "10.0.0.1"), (80, "TCP", "10.0.0.2"), True),
        ((80, "TCP", "10.0.0.1"), (80, "TCP", "10.0.0.1"), False),
        ((80, "TCP", "0.0.0.0"), (80, "TCP", "10.0.0.2"), False),
        ((80, "TCP", "10.0.0.1"), (80, "TCP", ""), False),
    ],
)
def test_host_ports(first: tuple, second: tuple, ok: bool) -> None:
    items = [node(), _port_pod("a", *first), _port_pod("b", *second)]
    violations = validate(items, {"a": "n1", "b": "n1"})
    assert [(v.uid, v.kind) for v in violations] == ([] if ok else [("b", "host-port")])


def test_container_port_without_host_port_never_conflicts() -> None:
    plain = {"name": "c", "ports": [{"containerPort": 80}]}
    items = [node(), pod("a", containers=[plain]), pod("b", containers=[plain])]
    assert validate(items, {"a": "n1", "b": "n1"}) == []


def test_several_violations_of_one_pod_count_once() -> None:
    items = [
        node(taints=[{"key": "k", "effect": "NoSchedule"}], unschedulable=True),
        pod("a", {"cpu": "5"}, nodeSelector={"x": "y"}),
    ]
    violations = validate(items, {"a": "n1"})
    assert sorted(v.kind for v in violations) == [
        "insufficient",
        "node-selector",
        "taint",
        "unschedulable",
    ]
    assert invalid_pods(violations) == 1


# ------------------------------------------------------------ topology spreading


def _spread_pod(uid: str, max_skew: int = 1) -> dict[str, Any]:
    p = pod(
        uid,
        topologySpreadConstraints=[
            {
                "maxSkew": max_skew,
                "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}},
            }
        ],
    )
    p["metadata"]["labels"] = {"app": "web"}
    return p


ZONES = [node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]


def test_spread_is_checked_as_each_pod_saw_the_cluster() -> None:
    pods = [_spread_pod(f"p{i}") for i in range(3)]
    # a, b, a: each placement keeps the skew at most 1
    assert kinds([*ZONES, *pods], {"p0": "a1", "p1": "b1", "p2": "a1"}) == []
    # a, a: the second one makes zone a two ahead of b
    assert kinds([*ZONES, *pods[:2]], {"p0": "a1", "p1": "a1"}) == ["spread-skew"]


def test_spread_in_an_unknown_order_is_checked_on_the_end_state() -> None:
    pods = [_spread_pod(f"p{i}") for i in range(4)]
    # a valid schedule a, b, a, b replayed as a, a, b, b: the sequential check
    # blames the second pod, the end state (2 and 2) is fine
    replayed = {"p0": "a1", "p2": "a1", "p1": "b1", "p3": "b1"}
    assert kinds([*ZONES, *pods], replayed) == ["spread-skew"]
    assert validate([*ZONES, *pods], replayed, order_known=False) == []
    # three in a, one in b: no order makes that valid, and the end state says so
    skewed = {"p0": "a1", "p1": "b1", "p2": "a1", "p3": "a1"}
    found = validate([*ZONES, *pods], skewed, order_known=False)
    assert {v.kind for v in found} == {"spread-skew"}
    assert {v.uid for v in found} == {"p0", "p2", "p3"}  # every pod in the crowded zone
# ---- inter-pod affinity ---------------------------------------------------------


def _zoned(name: str, zone: str) -> dict[str, Any]:
    n = node(name=name, labels={"zone": zone, "kubernetes.io/hostname": name})
    return n


def _pod_with(name: str, labels: dict, namespace: str = "default", **affinity: list) -> dict:
    p = pod(name)
    p["metadata"]["labels"] = labels
    p["metadata"]["namespace"] = namespace
    kinds = {"affinity": "podAffinity", "anti": "podAntiAffinity"}
    p["spec"]["affinity"] = {
        kinds[k]: {"requiredDuringSchedulingIgnoredDuringExecution": terms}
        for k, terms in affinity.items()
    }
    return p


def _term(app: str, key: str = "zone", **more: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **more}


def test_pod_anti_affinity_both_ways_round() -> None:
    nodes = [_zoned("n1", "a"), _zoned("n2", "a"), _zoned("n3", "b")]
    web1 = _pod_with("w1", {"app": "web"}, anti=[_term("web")])
    web2 = _pod_with("w2", {"app": "web"}, anti=[_term("web")])
    plain = _pod_with("p", {"app": "web"})
    assert kinds([*nodes, web1, web2], {"w1": "n1", "w2": "n3"}) == []
    assert kinds([*nodes, web1, web2], {"w1": "n1", "w2": "n2"}) == [
        "pod-anti-affinity",
        "existing-pod-anti-affinity",  # every rule broken is listed, not only the first
    ]
    # a pod without terms may not join a placed pod whose term selects it
    assert kinds([*nodes, web1, plain], {"w1": "n1", "p": "n2"}) == ["existing-pod-anti-affinity"]
    # by hostname only the same node conflicts
    host = _pod_with("h", {"app": "web"}, anti=[_term("web", "kubernetes.io/hostname")])
    assert kinds([*nodes, plain, host], {"p": "n1", "h": "n2"}) == []
    assert kinds([*nodes, plain, host], {"p": "n1", "h": "n1"}) == ["pod-anti-affinity"]


def test_pod_affinity_and_the_first_pod_of_a_group() -> None:
    nodes = [_zoned("n1", "a"), _zoned("n2", "b")]
    db = _pod_with("db", {"app": "db"})
    cache = _pod_with("c", {"app": "cache"}, affinity=[_term("db")])
    assert kinds([*nodes, db, cache], {"db": "n1", "c": "n1"}) == []
    assert kinds([*nodes, db, cache], {"db": "n1", "c": "n2"}) == ["pod-affinity"]
    assert kinds([*nodes, cache], {"c": "n2"}) == ["pod-affinity"]  # no db, not itself a db
    first = _pod_with("f", {"app": "db"}, affinity=[_term("db")])
    assert kinds([*nodes, first], {"f": "n2"}) == []  # matches its own term: goes anywhere


def test_pod_affinity_namespaces_and_match_label_keys() -> None:
    nodes = [_zoned("n1", "a")]
    spaces = [
        {"kind": "Namespace", "metadata": {"name": "t1", "labels": {"team": "one"}}},
        {"kind": "Namespace", "metadata": {"name": "t2", "labels": {"team": "two"}}},
    ]
    other = _pod_with("o", {"app": "web"}, namespace="t1")
    by_ns = _pod_with(
        "s", {}, anti=[_term("web", namespaceSelector={"matchLabels": {"team": "one"}})]
    )
    assert kinds([*nodes, *spaces, other, by_ns], {"o": "n1", "s": "n1"}) == ["pod-anti-affinity"]
    own_ns = _pod_with("s", {}, anti=[_term("web")])  # its own namespace only: default
    assert kinds([*nodes, *spaces, other, own_ns], {"o": "n1", "s": "n1"}) == []
    v1 = _pod_with("v1", {"app": "web", "rev": "1"})
    v2 = _pod_with("v2", {"app": "web", "rev": "2"}, anti=[_term("web", matchLabelKeys=["rev"])])
    assert kinds([*nodes, v1, v2], {"v1": "n1", "v2": "n1"}) == []
