"""parse_pod: requests as kube-scheduler computes them, validation, caching."""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model import pod as podinfo
from extender.model import quantity
from extender.model.errors import InvalidInput
from extender.model.pod import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    HostPort,
    PodInfo,
    Toleration,
    normalized_image_name,
    parse_pod,
)
from extender.model.resources import is_tracked_resource

MI = 1 << 20
GI = 1 << 30


@pytest.fixture(autouse=True)
def _fresh_caches():
    podinfo.clear_cache()
    quantity.clear_caches()
    yield
    podinfo.clear_cache()


def ctr(
    req: dict | None = None,
    lim: dict | None = None,
    restart: str | None = None,
    **extra: Any,
) -> dict:
    """A container object; `restart="Always"` makes an init container a sidecar."""
    c: dict[str, Any] = {"name": "c", "image": "busybox"}
    resources = {}
    if req is not None:
        resources["requests"] = req
    if lim is not None:
        resources["limits"] = lim
    if resources:
        c["resources"] = resources
    if restart is not None:
        c["restartPolicy"] = restart
    c.update(extra)
    return c


def pod(
    containers: list | None = None,
    init: list | None = None,
    overhead: dict | None = None,
    pod_resources: dict | None = None,
    **spec: Any,
) -> dict:
    s: dict[str, Any] = {"containers": containers if containers is not None else [ctr()]}
    if init is not None:
        s["initContainers"] = init
    if overhead is not None:
        s["overhead"] = overhead
    if pod_resources is not None:
        s["resources"] = pod_resources
    s.update(spec)
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": s}


SIDE = "Always"

# (name, pod, expected requests). Transcribed from component-helpers
# TestPodRequestsAndLimits / TestPodResourceRequests / TestPodLevelResourceRequests;
# overhead is always included (the scheduler's PodRequests options), and
# limits-without-requests are defaulted as the API server does.
REQUEST_CASES = [
    ("no requests", pod(), {}),
    ("just a limit: defaulted to the request", pod([ctr(lim={"cpu": "9"})]), {"cpu": 9000}),
    ("just overhead", pod(overhead={"cpu": "5", "memory": "5"}), {"cpu": 5000, "memory": 5}),
    (
        "request and overhead",
        pod([ctr(req={"cpu": "1", "memory": "10"})], overhead={"cpu": "5", "memory": "5"}),
        {"cpu": 6000, "memory": 15},
    ),
    (
        "request, limits and overhead",
        pod(
            [ctr(req={"cpu": "1", "memory": "10"}, lim={"cpu": "2", "memory": "12"})],
            overhead={"cpu": "5", "memory": "5"},
        ),
        {"cpu": 6000, "memory": 15},
    ),
    (
        "two containers: the sum",
        pod([ctr(req={"cpu": "1", "memory": "5"}), ctr(req={"cpu": "4", "memory": "12"})]),
        {"cpu": 5000, "memory": 17},
    ),
    (
        "two containers, overhead, a massive init container",
        pod(
            [ctr(req={"cpu": "1", "memory": "5"}), ctr(req={"cpu": "4", "memory": "12"})],
            init=[ctr(req={"cpu": "1", "memory": "5"}), ctr(req={"cpu": "40", "memory": "120"})],
            overhead={"cpu": "3", "memory": "8"},
        ),
        {"cpu": 43000, "memory": 128},
    ),
    (
        "larger init container",
        pod([ctr(req={"cpu": "1"})], init=[ctr(req={"cpu": "4"})]),
        {"cpu": 4000},
    ),
    (
        "larger containers",
        pod([ctr(req={"cpu": "2"}), ctr(req={"cpu": "3"})], init=[ctr(req={"cpu": "2"})]),
        {"cpu": 5000},
    ),
    (
        "overhead included",
        pod(
            [ctr(req={"cpu": "2"}), ctr(req={"cpu": "3"})],
            init=[ctr(req={"cpu": "2"}, lim={"cpu": "2"})],
            overhead={"cpu": "1", "memory": "1Gi"},
        ),
        {"cpu": 6000, "memory": GI},
    ),
    (
        "restartable init container",
        pod([ctr(req={"cpu": "1"})], init=[ctr(req={"cpu": "1"}, restart=SIDE)]),
        {"cpu": 2000},
    ),
    (
        "multiple restartable init containers",
        pod(
            [ctr(req={"cpu": "1"})],
            init=[
                ctr(req={"cpu": "5"}),
                ctr(req={"cpu": "1"}, restart=SIDE),
                ctr(req={"cpu": "2"}, restart=SIDE),
                ctr(req={"cpu": "3"}, restart=SIDE),
            ],
        ),
        {"cpu": 7000},
    ),
    (
        "multiple restartable and regular init containers",
        pod(
            [ctr(req={"cpu": "1"})],
            init=[
                ctr(req={"cpu": "5"}),
                ctr(req={"cpu": "1"}, restart=SIDE),
                ctr(req={"cpu": "2"}, restart=SIDE),
                ctr(req={"cpu": "5"}),
                ctr(req={"cpu": "3"}, restart=SIDE),
            ],
        ),
        {"cpu": 8000},
    ),
    (
        "restartable-init, init and regular",
        pod(
            [ctr(req={"cpu": "100"})],
            init=[ctr(req={"cpu": "10"}, restart=SIDE), ctr(req={"cpu": "200"})],
        ),
        {"cpu": 210000},
    ),
    (
        "container and init container",
        pod(
            [ctr(req={"memory": "3Mi", "cpu": "2m"})],
            init=[ctr(req={"memory": "5Mi", "cpu": "4m"})],
        ),
        {"memory": 5 * MI, "cpu": 4},
    ),
    (
        "container and sidecar",
        pod(
            [ctr(req={"memory": "3Mi", "cpu": "2m"})],
            init=[ctr(req={"memory": "5Mi", "cpu": "4m"}, restart=SIDE)],
        ),
        {"memory": 8 * MI, "cpu": 6},
    ),
    (
        "container, sidecar and init",
        pod(
            [ctr(req={"memory": "3Mi", "cpu": "2m"})],
            init=[
                ctr(req={"memory": "5Mi", "cpu": "4m"}, restart=SIDE),
                ctr(req={"memory": "6Mi", "cpu": "8m"}),
            ],
        ),
        {"memory": 11 * MI, "cpu": 12},
    ),
    (
        "pod-level memory",
        pod(pod_resources={"requests": {"memory": "2Mi"}}),
        {"memory": 2 * MI},
    ),
    (
        "pod-level memory, container cpu",
        pod([ctr(req={"cpu": "2m"})], pod_resources={"requests": {"memory": "2Mi"}}),
        {"memory": 2 * MI, "cpu": 2},
    ),
    (
        "pod-level requests override the containers'",
        pod(
            [ctr(req={"memory": "3Mi", "cpu": "2m"})],
            pod_resources={"requests": {"memory": "6Mi", "cpu": "8m"}},
        ),
        {"memory": 6 * MI, "cpu": 8},
    ),
    (
        "pod-level requests override containers, sidecars and init",
        pod(
            [ctr(req={"memory": "3Mi", "cpu": "2m"})],
            init=[
                ctr(req={"memory": "5Mi", "cpu": "4m"}, restart=SIDE),
                ctr(req={"memory": "6Mi", "cpu": "8m"}),
            ],
            pod_resources={"requests": {"memory": "15Mi", "cpu": "18m"}},
        ),
        {"memory": 15 * MI, "cpu": 18},
    ),
    (
        "pod-level unsupported resource is ignored, container storage is not counted",
        pod([ctr(req={"storage": "3Mi"})], pod_resources={"requests": {"storage": "2Mi"}}),
        {},
    ),
    (
        "pod-level unsupported resource, container memory",
        pod([ctr(req={"memory": "3Mi"})], pod_resources={"requests": {"storage": "2Mi"}}),
        {"memory": 3 * MI},
    ),
    (
        "pod-level hugepages, several page sizes",
        pod(
            pod_resources={
                "limits": {"hugepages-2Mi": "2Mi", "hugepages-1Gi": "1Gi"},
                "requests": {"cpu": "1", "hugepages-2Mi": "2Mi", "hugepages-1Gi": "1Gi"},
            }
        ),
        {"cpu": 1000, "hugepages-2Mi": 2 * MI, "hugepages-1Gi": GI},
    ),
    (
        "pod-level and container-level hugepages of different sizes",
        pod(
            [ctr(req={"memory": "4Mi", "hugepages-1Gi": "1Gi"}, lim={"hugepages-1Gi": "1Gi"})],
            pod_resources={
                "limits": {"hugepages-2Mi": "10Mi"},
                "requests": {"cpu": "1", "hugepages-2Mi": "10Mi"},
            },
        ),
        {"cpu": 1000, "memory": 4 * MI, "hugepages-2Mi": 10 * MI, "hugepages-1Gi": GI},
    ),
    (
        "pod-level limits only: requests default to them (API defaulting)",
        pod(pod_resources={"limits": {"cpu": "2", "memory": "1Gi"}}),
        {"cpu": 2000, "memory": GI},
    ),
    (
        "init container limits default its requests too",
        pod([ctr(req={"cpu": "1"})], init=[ctr(lim={"cpu": "3"})]),
        {"cpu": 3000},
    ),
]


@pytest.mark.parametrize(
    ("pod_obj", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_requests_mirror_pod_requests(pod_obj: dict, expected: dict) -> None:
    assert parse_pod(pod_obj).requests == expected


D_CPU, D_MEM = DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST

# (name, pod, nonzero_cpu, nonzero_memory). The first eight are transcribed
# from the scheduler's TestPodInfoCalculateResources; the rest follow the
# same rule (defaults per container lacking the key, init max, overhead added).
NON_ZERO_CASES = [
    ("requestless container", pod([{}]), D_CPU, D_MEM),
    ("one container", pod([ctr(req={"cpu": "500m", "memory": "500Mi"})]), 500, 500 * MI),
    (
        "two containers",
        pod(
            [
                ctr(req={"cpu": "500m", "memory": "500Mi"}),
                ctr(req={"cpu": "700m", "memory": "800Mi"}),
            ]
        ),
        1200,
        1300 * MI,
    ),
    (
        "container and init container with pod-level requests",
        pod(
            [ctr(req={"cpu": "500m", "memory": "500Mi"})],
            init=[ctr(req={"cpu": "500m", "memory": "500Mi"})],
            pod_resources={"requests": {"cpu": "1200m", "memory": "1200Mi"}},
        ),
        1200,
        1200 * MI,
    ),
    (
        "container and sidecar with pod-level requests",
        pod(
            [ctr(req={"cpu": "500m", "memory": "500Mi"})],
            init=[ctr(req={"cpu": "500m", "memory": "500Mi"}, restart=SIDE)],
            pod_resources={"requests": {"cpu": "1200m", "memory": "1200Mi"}},
        ),
        1200,
        1200 * MI,
    ),
    (
        "pod-level memory only",
        pod([{}], init=[{}], pod_resources={"requests": {"memory": "1200Mi"}}),
        D_CPU,
        1200 * MI,
    ),
    (
        "pod-level cpu only",
        pod([{}], init=[{}], pod_resources={"requests": {"cpu": "500m"}}),
        500,
        D_MEM,
    ),
    (
        "unsupported container resources, pod-level cpu",
        pod(
            [ctr(req={"ephemeral-storage": "800Mi"})],
            init=[ctr(req={"ephemeral-storage": "500Mi"})],
            pod_resources={"requests": {"cpu": "500m"}},
        ),
        500,
        D_MEM,
    ),
    ("two requestless containers", pod([{}, {}]), 2 * D_CPU, 2 * D_MEM),
    (
        "requestless sidecar adds a default",
        pod([ctr(req={"cpu": "1"})], init=[ctr(restart=SIDE)]),
        1000 + D_CPU,
        2 * D_MEM,
    ),
    (
        "requestless init container competes with its default",
        pod([ctr(req={"cpu": "50m"})], init=[{}]),
        D_CPU,
        D_MEM,
    ),
    ("explicit zero is not missing", pod([ctr(req={"cpu": "0", "memory": "0"})]), 0, 0),
    (
        "overhead is added to the non-zero totals",
        pod([{}], overhead={"cpu": "10m", "memory": "1Mi"}),
        D_CPU + 10,
        D_MEM + MI,
    ),
    ("a limit counts as the request", pod([ctr(lim={"cpu": "2"})]), 2000, D_MEM),
]


@pytest.mark.parametrize(
    ("pod_obj", "cpu", "memory"),
    [c[1:] for c in NON_ZERO_CASES],
    ids=[c[0] for c in NON_ZERO_CASES],
)
def test_non_zero_requests(pod_obj: dict, cpu: int, memory: int) -> None:
    info = parse_pod(pod_obj)
    assert (info.nonzero_cpu, info.nonzero_memory) == (cpu, memory)


def test_requestless_pod_has_no_requests_but_non_zero_defaults() -> None:
    info = parse_pod(pod([{}]))
    assert info.requests == {}
    assert (info.nonzero_cpu, info.nonzero_memory) == (D_CPU, D_MEM)


def test_quantities_are_summed_before_rounding() -> None:
    info = parse_pod(pod([ctr(req={"cpu": "0.5m", "memory": "0.5"})] * 2))
    assert info.requests == {"cpu": 1, "memory": 1}
    info = parse_pod(pod([ctr(req={"cpu": "0.4m", "memory": "0.2"})] * 3))
    assert info.requests == {"cpu": 2, "memory": 1}


def test_any_quantity_spelling_and_json_numbers() -> None:
    info = parse_pod(pod([ctr(req={"cpu": 0.25, "memory": "1e3", "ephemeral-storage": 2048})]))
    assert info.requests == {"cpu": 250, "memory": 1000, "ephemeral-storage": 2048}


def test_which_resource_names_count() -> None:
    req = {
        "cpu": "1",
        "pods": "1",
        "storage": "1Gi",
        "foo": "1",
        "example.com/foo": "2",
        "nvidia.com/gpu": "1",
        "kubernetes.io/bar": "3",
        "hugepages-2Mi": "4Mi",
        "attachable-volumes-csi-x": "1",
        "requests.example.com/x": "1",
        "Example.com/upper": "1",
        "example.com/zero": "0",
    }
    assert parse_pod(pod([ctr(req=req)])).requests == {
        "cpu": 1000,
        "example.com/foo": 2,
        "nvidia.com/gpu": 1,
        "kubernetes.io/bar": 3,
        "hugepages-2Mi": 4 * MI,
        "attachable-volumes-csi-x": 1,
    }
    assert is_tracked_resource("ephemeral-storage")
    assert not is_tracked_resource("a/b/c")


# ---------------------------------------------------------------------------
# Host ports, images, tolerations, metadata, selectors


def test_host_ports_of_containers_and_sidecars_only() -> None:
    info = parse_pod(
        pod(
            [
                ctr(ports=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]),
                ctr(ports=[{"hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}]),
                ctr(ports=[{"hostPort": 8080}, {"hostPort": 0}]),
            ],
            init=[
                ctr(ports=[{"hostPort": 7000}]),
                ctr(restart=SIDE, ports=[{"hostPort": 9000, "protocol": "SCTP"}]),
            ],
        )
    )
    assert info.host_ports == (
        HostPort(ip="", protocol="SCTP", port=9000),
        HostPort(ip="", protocol="TCP", port=8080),
        HostPort(ip="10.0.0.1", protocol="UDP", port=53),
    )


@pytest.mark.parametrize(
    ("image", "normalized"),
    [
        ("nginx", "nginx:latest"),
        ("nginx:1.25", "nginx:1.25"),
        ("library/nginx", "library/nginx:latest"),
        ("registry:5000/nginx", "registry:5000/nginx:latest"),
        ("registry:5000/team/nginx:2", "registry:5000/team/nginx:2"),
        ("nginx@sha256:0123abcd", "nginx@sha256:0123abcd"),
        ("gcr.io/proj/img:tag", "gcr.io/proj/img:tag"),
    ],
)
def test_normalized_image_name(image: str, normalized: str) -> None:
    assert normalized_image_name(image) == normalized


def test_images_of_containers_and_init_containers() -> None:
    info = parse_pod(
        pod(
            [ctr(image="nginx"), ctr(image="redis:7")],
            init=[ctr(image="init@sha256:ab"), ctr(image="proxy", restart=SIDE), {"name": "x"}],
        )
    )
    assert info.images == ("nginx:latest", "redis:7")
    assert info.init_images == ("init@sha256:ab", "proxy:latest")


def test_tolerations() -> None:
    info = parse_pod(
        pod(
            tolerations=[
                {"key": "a", "value": "1", "effect": "NoSchedule"},
                {"key": "b", "operator": "Exists"},
                {"operator": "Exists"},
                {"key": "c", "operator": "", "effect": "PreferNoSchedule", "tolerationSeconds": 5},
            ]
        )
    )
    assert info.tolerations == (
        Toleration(key="a", operator="Equal", value="1", effect="NoSchedule"),
        Toleration(key="b", operator="Exists", value="", effect=""),
        Toleration(key="", operator="Exists", value="", effect=""),
        Toleration(key="c", operator="Equal", value="", effect="PreferNoSchedule"),
    )


def test_metadata_and_scalar_fields() -> None:
    info = parse_pod(
        {
            "metadata": {"name": "web", "uid": "123"},
            "spec": {
                "containers": [ctr()],
                "nodeName": "node-1",
                "schedulerName": "custom",
                "priority": 1000,
            },
        }
    )
    assert (info.uid, info.name, info.namespace) == ("123", "web", "default")
    assert (info.node_name, info.scheduler_name, info.priority) == ("node-1", "custom", 1000)
    bare = parse_pod({"spec": {"containers": []}})
    assert (bare.uid, bare.name, bare.namespace, bare.node_name) == ("", "", "default", "")
    assert (bare.scheduler_name, bare.priority) == ("default-scheduler", 0)
    assert bare.node_selector is None and bare.required_affinity is None
    assert bare.preferred_affinity is None and bare.tolerations == () and bare.host_ports == ()


REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def test_selectors_are_compiled_with_field_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any, str]] = []
    lazy: dict[str, bool] = {}

    def stub(kind: str):
        def compile_(value: Any, field: str, **options: Any) -> Any:
            calls.append((kind, value, field))
            lazy[kind] = options.get("lazy", False)
            return (kind, field)

        return compile_

    fake = types.SimpleNamespace(
        compile_label_map=stub("labels"),
        compile_node_selector=stub("required"),
        compile_preferred_terms=stub("preferred"),
    )
    monkeypatch.setattr(podinfo, "selectors", fake)
    required = {"nodeSelectorTerms": [{"matchExpressions": []}]}
    preferred = [{"weight": 1, "preference": {}}]
    info = parse_pod(
        pod(
            nodeSelector={"disk": "ssd"},
            affinity={"nodeAffinity": {REQUIRED: required, PREFERRED: preferred}},
        )
    )
    assert info.node_selector == ("labels", "spec.nodeSelector")
    assert info.required_affinity == ("required", f"spec.affinity.nodeAffinity.{REQUIRED}")
    assert info.preferred_affinity == ("preferred", f"spec.affinity.nodeAffinity.{PREFERRED}")
    assert [c[1] for c in calls] == [required, preferred, {"disk": "ssd"}]
    # the pod's own affinity is read lazily, as kube-scheduler reads it (issue 9)
    assert lazy == {"required": True, "preferred": True, "labels": False}
    calls.clear()
    podinfo.clear_cache()
    info = parse_pod(pod(affinity={"podAntiAffinity": {}}))
    assert calls == []
    assert (info.node_selector, info.required_affinity, info.preferred_affinity) == (None,) * 3


def test_real_selectors_compile_and_match() -> None:
    info = parse_pod(
        pod(
            nodeSelector={"disk": "ssd"},
            affinity={
                "nodeAffinity": {
                    REQUIRED: {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["a"]}
                                ]
                            }
                        ]
                    },
                    PREFERRED: [
                        {
                            "weight": 7,
                            "preference": {
                                "matchExpressions": [{"key": "gpu", "operator": "Exists"}]
                            },
                        }
                    ],
                }
            },
        )
    )
    labels = {"disk": "ssd", "zone": "a", "gpu": "yes"}
    assert info.node_selector.matches(labels, "n1")
    assert not info.node_selector.matches({"disk": "hdd"}, "n1")
    assert info.required_affinity.matches(labels, "n1")
    assert not info.required_affinity.matches({"zone": "b"}, "n1")
    assert info.preferred_affinity.weight(labels, "n1") == 7
    assert parse_pod(pod(nodeSelector={})).node_selector is None


# ---------------------------------------------------------------------------
# Validation: always InvalidInput, naming the field path


@pytest.mark.parametrize(
    ("obj", "field", "words"),
    [
        ([], "pod", "Pod object"),
        ({"metadata": {}}, "spec", "missing"),
        ({"spec": []}, "spec", "must be an object"),
        ({"spec": "x"}, "spec", "must be an object"),
        ({"metadata": [], "spec": {}}, "metadata", "must be an object"),
        ({"metadata": {"name": 5}, "spec": {}}, "metadata.name", "string"),
        ({"metadata": {"uid": None, "namespace": 1}, "spec": {}}, "metadata.namespace", "string"),
        ({"spec": {"containers": {}}}, "spec.containers", "must be a list"),
        ({"spec": {"containers": "c"}}, "spec.containers", "must be a list"),
        ({"spec": {"containers": [{}, "c"]}}, "spec.containers[1]", "must be an object"),
        ({"spec": {"initContainers": [5]}}, "spec.initContainers[0]", "must be an object"),
        (
            {"spec": {"containers": [{}, {"resources": []}]}},
            "spec.containers[1].resources",
            "must be an object",
        ),
        (
            {"spec": {"containers": [{"resources": {"requests": ["cpu"]}}]}},
            "spec.containers[0].resources.requests",
            "must be an object",
        ),
        (
            pod([ctr(), ctr(req={"memory": "1.2.3"})]),
            "spec.containers[1].resources.requests.memory",
            "invalid quantity '1.2.3'",
        ),
        (
            pod([ctr(lim={"cpu": "1 Gi"})]),
            "spec.containers[0].resources.limits.cpu",
            "invalid quantity",
        ),
        (
            pod(init=[ctr(req={"nvidia.com/gpu": True})]),
            "spec.initContainers[0].resources.requests.nvidia.com/gpu",
            "bool",
        ),
        (
            pod([ctr(req={"cpu": "-1"})]),
            "spec.containers[0].resources.requests.cpu",
            "must not be negative",
        ),
        (pod(overhead={"memory": "lots"}), "spec.overhead.memory", "invalid quantity"),
        (pod(overhead=[1]), "spec.overhead", "must be an object"),
        (
            pod(pod_resources={"requests": {"cpu": None}}),
            "spec.resources.requests.cpu",
            "NoneType",
        ),
        (pod(tolerations={}), "spec.tolerations", "must be a list"),
        (pod(tolerations=[1]), "spec.tolerations[0]", "must be an object"),
        (
            pod(tolerations=[{}, {"operator": "Lt"}]),
            "spec.tolerations[1].operator",
            "must be one of Equal, Exists",
        ),
        (
            pod(tolerations=[{"effect": "NoRun"}]),
            "spec.tolerations[0].effect",
            "NoSchedule",
        ),
        (pod(tolerations=[{"key": 1}]), "spec.tolerations[0].key", "string"),
        (pod([ctr(ports={})]), "spec.containers[0].ports", "must be a list"),
        (pod([ctr(ports=[3])]), "spec.containers[0].ports[0]", "must be an object"),
        (
            pod([ctr(ports=[{"hostPort": "80"}])]),
            "spec.containers[0].ports[0].hostPort",
            "integer",
        ),
        (
            pod([ctr(ports=[{"hostPort": 80, "protocol": 6}])]),
            "spec.containers[0].ports[0].protocol",
            "string",
        ),
        (pod([ctr(image=["x"])]), "spec.containers[0].image", "string"),
        (pod(init=[ctr(restartPolicy=1)]), "spec.initContainers[0].restartPolicy", "string"),
        (pod(priority=True), "spec.priority", "integer"),
        (pod(priority="1"), "spec.priority", "integer"),
        (pod(nodeName=3), "spec.nodeName", "string"),
        (pod(schedulerName=[]), "spec.schedulerName", "string"),
        (pod(affinity=[]), "spec.affinity", "must be an object"),
        (pod(affinity={"nodeAffinity": 1}), "spec.affinity.nodeAffinity", "must be an object"),
        (pod(nodeSelector={"disk": 1}), "spec.nodeSelector", ""),
        (
            pod(affinity={"nodeAffinity": {REQUIRED: []}}),
            f"spec.affinity.nodeAffinity.{REQUIRED}",
            "",
        ),
        (
            pod(affinity={"nodeAffinity": {PREFERRED: [{"weight": "x"}]}}),
            f"spec.affinity.nodeAffinity.{PREFERRED}[0].weight",
            "",
        ),
        ({"spec": {"containers": {1, 2}}}, "spec.containers", "must be a list"),
    ],
)
def test_errors_name_the_field(obj: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_pod(obj)
    assert err.value.field is not None and err.value.field.startswith(field)
    assert field in str(err.value)
    assert words in str(err.value)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "1", "100m", "1Gi", "x", "Always", "Exists", "NoSchedule", "-1"]),
    st.text(max_size=6),
)
spec_keys = st.sampled_from(
    [
        "containers",
        "initContainers",
        "resources",
        "requests",
        "limits",
        "cpu",
        "memory",
        "overhead",
        "tolerations",
        "operator",
        "effect",
        "ports",
        "hostPort",
        "image",
        "restartPolicy",
        "nodeSelector",
        "affinity",
        "nodeAffinity",
        "priority",
        "nodeName",
        REQUIRED,
        PREFERRED,
        "nodeSelectorTerms",
        "matchExpressions",
        "weight",
        "preference",
    ]
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(spec_keys, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(spec_keys, json_values, max_size=5))
def test_random_specs_parse_or_raise_invalid_input(spec: dict) -> None:
    try:
        info = parse_pod({"metadata": {"name": "p"}, "spec": spec})
    except InvalidInput as err:
        assert err.field
    else:
        assert isinstance(info, PodInfo)
        assert all(isinstance(v, int) and v > 0 for v in info.requests.values())


# ---------------------------------------------------------------------------
# The KEP-753 formula as an independent model


containers_cpu = st.lists(st.integers(min_value=0, max_value=10_000), max_size=4)
init_cpu = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10_000), st.booleans()), max_size=5
)


@given(containers_cpu, init_cpu, st.integers(min_value=0, max_value=500))
def test_requests_follow_the_sidecar_formula(
    regular: list[int], inits: list[tuple[int, bool]], overhead: int
) -> None:
    sidecars_total = sum(m for m, sidecar in inits if sidecar)
    peak, running_sidecars = 0, 0
    for m, sidecar in inits:
        if sidecar:
            running_sidecars += m
            peak = max(peak, running_sidecars)
        else:
            peak = max(peak, m + running_sidecars)
    expected = max(sum(regular) + sidecars_total, peak) + overhead
    obj = pod(
        [ctr(req={"cpu": f"{m}m"}) for m in regular],
        init=[ctr(req={"cpu": f"{m}m"}, restart=SIDE if s else None) for m, s in inits],
        overhead={"cpu": f"{overhead}m"},
    )
    assert parse_pod(obj).requests.get("cpu", 0) == expected


# ---------------------------------------------------------------------------
# The spec cache


def test_pods_sharing_a_spec_share_the_parse() -> None:
    a = pod([ctr(req={"cpu": "1"})])
    b = pod([ctr(req={"cpu": "1"})])
    a["metadata"] = {"name": "a", "uid": "ua", "namespace": "x", "labels": {"app": "a"}}
    b["metadata"] = {"name": "b", "uid": "ub", "annotations": {"note": "b"}}
    pa, pb = parse_pod(a), parse_pod(b)
    assert (pa.name, pa.uid, pa.namespace) == ("a", "ua", "x")
    assert (pb.name, pb.uid, pb.namespace) == ("b", "ub", "default")
    assert pa.requests is pb.requests  # one parse, shared
    # the metadata is each pod's own
    assert dict(pa.labels) == {"app": "a"} and dict(pa.annotations) == {}
    assert dict(pb.labels) == {} and dict(pb.annotations) == {"note": "b"}
    # Key order does not matter: the key is the sorted JSON.
    c = {"spec": dict(reversed(list(b["spec"].items()))), "metadata": {"name": "c"}}
    assert parse_pod(c).requests is pa.requests


def test_equal_labels_share_one_mapping() -> None:
    """Pods of one Deployment bring equal labels: one interned mapping, not a copy each."""
    a, b, c = pod([ctr()]), pod([ctr()]), pod([ctr()])
    a["metadata"] = {"name": "a", "labels": {"app": "web", "tier": "1"}}
    b["metadata"] = {"name": "b", "labels": {"app": "web", "tier": "1"}}
    c["metadata"] = {"name": "c", "labels": {"app": "web", "tier": "2"}}
    pa, pb, pc = parse_pod(a), parse_pod(b), parse_pod(c)
    assert pa.labels is pb.labels and pa.labels is not pc.labels
    assert dict(pc.labels) == {"app": "web", "tier": "2"}
    a["metadata"]["labels"]["app"] = "changed"  # the request's dict is not kept
    assert pa.labels["app"] == "web"


def test_labels_and_annotations_are_read_only_strings() -> None:
    obj = pod([ctr()])
    obj["metadata"] = {"name": "p", "labels": {"app": "web"}, "annotations": {"a": "1"}}
    info = parse_pod(obj)
    with pytest.raises(TypeError):
        info.labels["app"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        info.annotations["b"] = "2"  # type: ignore[index]
    for field in ("labels", "annotations"):
        bad = pod([ctr()])
        bad["metadata"] = {"name": "p", field: {"k": 1}}
        with pytest.raises(InvalidInput, match=rf"metadata\.{field}\.k: must be a string"):
            parse_pod(bad)
        bad["metadata"] = {"name": "p", field: ["k"]}
        with pytest.raises(InvalidInput, match=rf"metadata\.{field}: must be an object"):
            parse_pod(bad)


def test_a_changed_spec_is_parsed_again() -> None:
    obj = pod([ctr(req={"cpu": "1"})])
    assert parse_pod(obj).requests == {"cpu": 1000}
    obj["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    assert parse_pod(obj).requests == {"cpu": 2000}


def test_invalid_specs_are_not_cached() -> None:
    obj = pod([ctr(req={"cpu": "bad"})])
    for _ in range(2):
        with pytest.raises(InvalidInput, match=r"spec.containers\[0\].resources.requests.cpu"):
            parse_pod(obj)


def test_podinfo_is_frozen() -> None:
    info = parse_pod(pod())
    with pytest.raises(AttributeError):
        info.name = "other"  # type: ignore[misc]


# ---- in-place resize (issue 9): PodRequests with UseStatusResources -------------
#
# kube-scheduler 1.33+ counts a container whose status reports `resources` at the
# larger of its spec requests, its status requests and its allocatedResources; when
# the PodResizePending condition says Infeasible, at the larger of the two status
# values (component-helpers determineContainerReqs).


def named(name: str, req: dict | None = None, **extra: Any) -> dict:
    return ctr(req, name=name, **extra)


def status(*statuses: dict, init: list | None = None, condition: str | None = None) -> dict:
    out: dict[str, Any] = {"phase": "Running", "containerStatuses": list(statuses)}
    if init is not None:
        out["initContainerStatuses"] = init
    if condition is not None:
        out["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "PodResizePending", "status": "True", "reason": condition},
        ]
    return out


def cstatus(name: str, requests: dict | None = None, allocated: dict | None = None) -> dict:
    out: dict[str, Any] = {"name": name, "ready": True}
    if requests is not None:
        out["resources"] = {"requests": requests}
    if allocated is not None:
        out["allocatedResources"] = allocated
    return out


def resized(containers: list, the_status: dict, **spec: Any) -> dict:
    obj = pod(containers, **spec)
    obj["status"] = the_status
    return obj


RESIZE_CASES = [
    (
        "upsize in progress: the spec asks more than allocated",
        resized([named("a", {"cpu": "2"})], status(cstatus("a", {"cpu": "1"}, {"cpu": "1"}))),
        {"cpu": 2000},
    ),
    (
        "downsize not yet actuated: the status still holds more",
        resized(
            [named("a", {"cpu": "1", "memory": "1Gi"})],
            status(cstatus("a", {"cpu": "2", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})),
        ),
        {"cpu": 2000, "memory": GI},
    ),
    (
        "allocated but not yet actuated",
        resized([named("a", {"cpu": "1"})], status(cstatus("a", {"cpu": "1"}, {"cpu": "3"}))),
        {"cpu": 3000},
    ),
    (
        "deferred resize: the spec still counts",
        resized(
            [named("a", {"cpu": "4"})],
            status(cstatus("a", {"cpu": "1"}, {"cpu": "1"}), condition="Deferred"),
        ),
        {"cpu": 4000},
    ),
    (
        "infeasible resize: only what the node holds counts",
        resized(
            [named("a", {"cpu": "4", "memory": "2Gi"})],
            status(
                cstatus("a", {"cpu": "1"}, {"cpu": "1", "memory": "1Gi"}), condition="Infeasible"
            ),
        ),
        {"cpu": 1000, "memory": GI},
    ),
    (
        "a status without resources: allocatedResources alone is not read",
        resized([named("a", {"cpu": "1"})], status(cstatus("a", None, {"cpu": "3"}))),
        {"cpu": 1000},
    ),
    (
        "statuses match containers by name",
        resized(
            [named("a", {"cpu": "1"}), named("b", {"cpu": "1"})],
            status(cstatus("b", {"cpu": "2"}), cstatus("ghost", {"cpu": "9"})),
        ),
        {"cpu": 3000},
    ),
    (
        "a limit-only spec request is the spec's request",
        resized(
            [ctr(None, {"cpu": "2"}, name="a")],
            status(cstatus("a", {"cpu": "1"}, {"cpu": "1"})),
        ),
        {"cpu": 2000},
    ),
    (
        "sidecars read their status, plain init containers do not",
        resized(
            [named("main", {"cpu": "1"})],
            status(
                cstatus("main", {"cpu": "1"}),
                init=[cstatus("side", {"cpu": "3"}, {"cpu": "3"}), cstatus("init", {"cpu": "9"})],
            ),
            initContainers=[
                named("init", {"cpu": "1"}),
                named("side", {"cpu": "1"}, restartPolicy="Always"),
            ],
        ),
        {"cpu": 4000},
    ),
    (
        "pod-level requests and overhead stay the spec's",
        resized(
            [named("a", {"cpu": "1", "memory": "1Gi"})],
            status(cstatus("a", {"cpu": "2", "memory": "2Gi"}, {"cpu": "2", "memory": "2Gi"})),
            resources={"requests": {"cpu": "1500m"}},
            overhead={"cpu": "100m"},
        ),
        {"cpu": 1600, "memory": 2 * GI},
    ),
    (
        "an extended resource only the allocation reports",
        resized(
            [named("a", {"cpu": "1"})],
            status(cstatus("a", {"cpu": "1"}, {"cpu": "1", "example.com/gpu": "1"})),
        ),
        {"cpu": 1000, "example.com/gpu": 1},
    ),
]


@pytest.mark.parametrize(
    "obj, expected", [c[1:] for c in RESIZE_CASES], ids=[c[0] for c in RESIZE_CASES]
)
def test_requests_during_an_in_place_resize(obj: dict, expected: dict) -> None:
    assert parse_pod(obj).requests == expected


def test_resize_sets_the_non_zero_scoring_requests_too() -> None:
    # NonMissingContainerRequests fills in a default only where the status-aware
    # requests of a container still lack the resource.
    obj = resized(
        [named("a"), named("b")],
        status(cstatus("a", {"cpu": "500m"}, {"cpu": "500m"})),
    )
    info = parse_pod(obj)
    assert info.requests == {"cpu": 500}
    assert info.nonzero_cpu == 500 + DEFAULT_MILLI_CPU_REQUEST
    assert info.nonzero_memory == 2 * DEFAULT_MEMORY_REQUEST


def test_the_resize_status_keys_the_spec_cache() -> None:
    spec_pod = pod([named("a", {"cpu": "1"})])
    plain = parse_pod(spec_pod)
    smaller = parse_pod({**spec_pod, "status": status(cstatus("a", {"cpu": "1"}, {"cpu": "1"}))})
    bigger = parse_pod({**spec_pod, "status": status(cstatus("a", {"cpu": "1"}, {"cpu": "2"}))})
    again = parse_pod({**spec_pod, "status": status(cstatus("a", {"cpu": "1"}, {"cpu": "2"}))})
    assert plain.requests == smaller.requests == {"cpu": 1000}
    assert bigger.requests == {"cpu": 2000}
    assert again.requests is bigger.requests  # one parse per distinct spec and status
    infeasible = status(cstatus("a", {"cpu": "1"}, {"cpu": "1"}), condition="Infeasible")
    upsized = pod([named("a", {"cpu": "3"})])
    assert parse_pod({**upsized, "status": infeasible}).requests == {"cpu": 1000}
    assert parse_pod({**upsized, "status": {**infeasible, "conditions": []}}).requests == {
        "cpu": 3000
    }


@pytest.mark.parametrize(
    "the_status, field",
    [
        ("Running", "status"),
        ({"containerStatuses": {}}, "status.containerStatuses"),
        ({"containerStatuses": [1]}, "status.containerStatuses[0]"),
        ({"containerStatuses": [{"name": 1, "resources": {}}]}, "status.containerStatuses[0].name"),
        (
            {"containerStatuses": [{"name": "c", "resources": []}]},
            "status.containerStatuses[0].resources",
        ),
        (
            {"containerStatuses": [{"name": "c", "resources": {"requests": {"cpu": "lots"}}}]},
            "status.containerStatuses[0].resources.requests.cpu",
        ),
        (
            {"initContainerStatuses": [{"name": "c", "resources": {}, "allocatedResources": 5}]},
            "status.initContainerStatuses[0].allocatedResources",
        ),
    ],
)
def test_malformed_resize_status_names_the_field(the_status: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_pod({**pod([ctr({"cpu": "1"})]), "status": the_status})
    assert err.value.field == field


def _aggregate_reference(containers, init_containers, defaults):
    """component-helpers aggregateContainerResourcesByFn, step by step over every resource."""
    from extender.model.pod import _add_into, _max_into, _with_defaults

    total: dict[str, int] = {}
    for requests in containers:
        _add_into(total, _with_defaults(requests, defaults))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for requests, restartable in init_containers:
        requests = _with_defaults(requests, defaults)
        if restartable:
            _add_into(total, requests)
            _add_into(sidecars, requests)
            _max_into(init_peak, sidecars)
        else:
            running = dict(requests)
            _add_into(running, sidecars)
            _max_into(init_peak, running)
    _max_into(total, init_peak)
    return total


_REQUESTS = st.dictionaries(st.sampled_from(["cpu", "memory", "x/a", "x/b"]), st.integers(0, 50))


@settings(max_examples=300, derandomize=True)
@given(
    st.lists(_REQUESTS, max_size=3),
    st.lists(st.tuples(_REQUESTS, st.booleans()), max_size=6),
    st.sampled_from([None, {"cpu": 7, "memory": 9}]),
)
def test_the_linear_init_container_aggregate_matches_the_step_by_step_one(
    containers, init_containers, defaults
):
    from extender.model.pod import _aggregate_requests

    assert _aggregate_requests(containers, init_containers, defaults) == _aggregate_reference(
        containers, init_containers, defaults
    )
