"""Deterministic synthetic cluster: the workload of `podsift bench` and `podsift synth`.

`generate(nodes, pods, seed)` returns one Kubernetes `List` (the shape
`kubectl get nodes,pods -A -o json` prints): the nodes, then the pending pods
in the order to schedule them. Everything comes from one seeded
`random.Random`, so the same arguments always give identical bytes.

The mix is built to exercise every default policy: node pools of different
sizes (quantities in several spellings), zones and instance types, tainted
pools (GPU: NoSchedule, infra: NoExecute, spot: PreferNoSchedule), cordoned
nodes, hugepages and an extended resource, image lists for ImageLocality;
pods from a few dozen deployments with nodeSelectors, required and preferred
node affinity (In, NotIn, Exists, Gt), tolerations, init containers, sidecars,
pod overhead and host ports; about 40% of the pods carry topology spread
constraints (zone kept even with DoNotSchedule, hosts with DoNotSchedule at
maxSkew 3 or ScheduleAnyway; matchLabelKeys and nodeTaintsPolicy included);
some Deployments carry inter-pod affinity (`_add_pod_affinity`: required
anti-affinity per host, preferred anti-affinity per host and per zone,
preferred affinity to another Deployment's zone).
`owners_of` gives the ReplicaSets and Services of the pods for `podsift synth`.

Every pod is placeable when scheduled in order: the average density is 30
pods per node (about 35% of the cluster's cpu, 20% of its memory), and a
deployment that can use only some nodes is capped: at 8 replicas per node it
may use (a zone, an instance type, a tainted pool), at a sixth of what the
GPU and hugepages pools hold, at a quarter of the nodes for each host port,
and one with required anti-affinity per host at a replica on half the nodes
it may use (`_one_per_node_cap`).
`tests/test_bench_workload.py` checks this with the independent validator
and a naive in-order placer, spreading at 1 to 80 nodes and packing first-fit
at 50 and 200; `bench.placer` also placed all of 1,000 / 30,000 first-fit.

Pods of one deployment share one `spec` dict (as a Deployment's pods share
their template) to keep 150,000 pods cheap in memory: treat the items as
read-only.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
REGION = "us-east-1"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_LABEL = "node.kubernetes.io/instance-type"
HOSTNAME_LABEL = "kubernetes.io/hostname"
CPU_GENERATION_LABEL = "example.com/cpu-generation"
SSD_LABEL = "example.com/local-ssd"
POOL_LABEL = "example.com/pool"
GPU_RESOURCE = "example.com/gpu"
HUGEPAGES_RESOURCE = "hugepages-2Mi"
POD_CAPACITY = 110
PER_NODE_CAP = 8  # most replicas per usable node for a deployment restricted to few nodes
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated names

# Default tolerations the admission controller adds to every pod.
DEFAULT_TOLERATIONS = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


@dataclass(frozen=True)
class InstanceType:
    name: str
    cpu_capacity: str
    cpu_allocatable: str
    memory_capacity: str
    memory_allocatable: str


INSTANCE_TYPES = {
    "m5.2xlarge": InstanceType("m5.2xlarge", "8", "7910m", "32386520Ki", "31Gi"),
    "m5.4xlarge": InstanceType("m5.4xlarge", "16", "15890m", "64Gi", "62Gi"),
    "c5.4xlarge": InstanceType("c5.4xlarge", "16", "16", "32Gi", "30Gi"),
    "r5.4xlarge": InstanceType("r5.4xlarge", "16", "15.5", "131072000Ki", "128974848Ki"),
    "m6i.8xlarge": InstanceType("m6i.8xlarge", "32", "31750m", "128Gi", "125Gi"),
    "p3.8xlarge": InstanceType("p3.8xlarge", "32", "31850m", "244Gi", "240Gi"),
}


@dataclass(frozen=True)
class Pool:
    """A node group: what its nodes look like and how large a share of the cluster it is."""

    name: str
    share: int  # per mille of the nodes
    instance_types: tuple[str, ...]
    taints: tuple[dict[str, str], ...] = ()
    extra_allocatable: tuple[tuple[str, str], ...] = ()
    extra_labels: tuple[tuple[str, str], ...] = ()
    special: bool = False  # gets at least one node once the cluster has 50


POOLS = (
    Pool("general", 620, ("m5.2xlarge", "m5.4xlarge", "c5.4xlarge", "r5.4xlarge", "m6i.8xlarge")),
    Pool(
        "hugepages",
        60,
        ("m5.4xlarge", "m6i.8xlarge"),
        taints=({"key": "example.com/hugepages", "value": "true", "effect": "NoSchedule"},),
        extra_allocatable=((HUGEPAGES_RESOURCE, "2Gi"),),
        extra_labels=(("example.com/hugepages", "2Mi"),),
        special=True,
    ),
    Pool(
        "spot",
        200,
        ("m5.2xlarge", "m5.4xlarge", "c5.4xlarge"),
        taints=({"key": "example.com/spot", "value": "true", "effect": "PreferNoSchedule"},),
        extra_labels=(("example.com/lifecycle", "spot"),),
    ),
    Pool(
        "infra",
        60,
        ("m5.2xlarge", "m5.4xlarge"),
        taints=({"key": "dedicated", "value": "infra", "effect": "NoExecute"},),
        extra_labels=(("node-role.kubernetes.io/infra", ""),),
        special=True,
    ),
    Pool(
        "gpu",
        40,
        ("p3.8xlarge",),
        taints=({"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"},),
        extra_allocatable=((GPU_RESOURCE, "4"),),
        extra_labels=(("example.com/accelerator", "nvidia-tesla-v100"),),
        special=True,
    ),
)
CORDONED_PER_MILLE = 10
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}

# (repository, size in bytes): images cached on nodes and used by containers.
IMAGES = (
    ("registry.example.com/shop/frontend", 187_000_000),
    ("registry.example.com/shop/cart", 96_000_000),
    ("registry.example.com/shop/checkout", 121_000_000),
    ("registry.example.com/payments/api", 243_000_000),
    ("registry.example.com/payments/ledger", 310_000_000),
    ("registry.example.com/search/indexer", 655_000_000),
    ("registry.example.com/search/query", 402_000_000),
    ("registry.example.com/batch/etl", 1_210_000_000),
    ("registry.example.com/batch/report", 530_000_000),
    ("registry.example.com/ml/trainer", 4_870_000_000),
    ("registry.example.com/ml/inference", 2_950_000_000),
    ("registry.example.com/infra/ingress", 142_000_000),
    ("registry.example.com/infra/metrics", 88_000_000),
    ("registry.example.com/infra/logging", 77_000_000),
    ("docker.io/library/redis", 117_000_000),
    ("docker.io/library/postgres", 379_000_000),
    ("docker.io/library/nginx", 187_000_000),
    ("docker.io/envoyproxy/envoy", 165_000_000),
    ("docker.io/fluent/fluent-bit", 64_000_000),
    ("docker.io/library/busybox", 4_260_000),
    ("registry.k8s.io/pause", 736_000),
    ("registry.k8s.io/kube-proxy", 73_000_000),
    ("quay.io/prometheus/node-exporter", 23_000_000),
    ("docker.io/istio/proxyv2", 262_000_000),
)
TAGS = ("1.24.3", "2.0.1", "v3.8.0", "7.2.4", "16.3")

CPU_FORMS = ("25m", "50m", "100m", "0.1", "150m", "0.2", "250m", "0.25")
BIG_CPU_FORMS = ("1", "1000m", "1500m", "2")
MEMORY_FORMS = ("128Mi", "200M", "256Mi", "300M", "0.5Gi", "5e8", "512Mi", "768Mi", "1G", "1Gi")
BIG_MEMORY_FORMS = ("1G", "1Gi", "1.5Gi", "2Gi", "2147483648")
EPHEMERAL_FORMS = ("256Mi", "1Gi", "2G", "500M")


def generate(nodes: int, pods: int, seed: int = 1, pod_affinity: bool = True) -> dict[str, Any]:
    """Build the synthetic cluster: a v1 `List` of `nodes` Nodes then `pods` pending Pods.

    `pod_affinity` gives some Deployments inter-pod affinity (see `_add_pod_affinity`),
    as kube-scheduler's default profile and podsift's default set both judge it;
    False leaves it out (the workload before issue 12, for comparisons)."""
    if nodes < 0 or pods < 0:
        raise ValueError("nodes and pods must not be negative")
    if pods and not nodes:
        raise ValueError("pods need at least one node")
    rng = random.Random(seed)
    node_objects, fleet = _build_nodes(rng, nodes)
    templates = _build_deployments(rng, fleet)
    one_per_node = _add_pod_affinity(templates) if pod_affinity else set()
    _cap_by_feasible_nodes(templates, node_objects)
    for d in templates:
        if d.name in one_per_node:
            limit = _one_per_node_cap(_usable_nodes(d, node_objects))
            d.cap = limit if d.cap is None else min(d.cap, limit)
    counts = _replica_counts(templates, pods)
    order = [i for i, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(order)
    pod_objects = _build_pods(rng, templates, order)
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": node_objects + pod_objects,
    }


def generate_split(
    nodes: int, pods: int, seed: int = 1, pod_affinity: bool = True
) -> tuple[list[dict], list[dict]]:
    """`generate`, as (the Node items, the pending Pod items in scheduling order)."""
    items = generate(nodes, pods, seed, pod_affinity)["items"]
    return items[:nodes], items[nodes:]


# ----------------------------------------------------------------------------- nodes


@dataclass
class Fleet:
    """What the deployment builder needs to know about the nodes it sized pods for."""

    total: int = 0
    by_pool: dict[str, int] = field(default_factory=dict)
    schedulable_by_pool: dict[str, int] = field(default_factory=dict)
    image_names: list[str] = field(default_factory=list)


def _pool_counts(nodes: int) -> list[tuple[Pool, int]]:
    counts = []
    for pool in POOLS[1:]:
        count = nodes * pool.share // 1000
        if pool.special and nodes >= 50:
            count = max(count, 1)
        counts.append((pool, count))
    general = nodes - sum(c for _, c in counts)
    return [(POOLS[0], general)] + counts


def _build_nodes(rng: random.Random, nodes: int) -> tuple[list[dict[str, Any]], Fleet]:
    pools = [pool for pool, count in _pool_counts(nodes) for _ in range(count)]
    rng.shuffle(pools)
    cordoned = set(
        rng.sample(
            [i for i, p in enumerate(pools) if p.name == "general"],
            min(nodes * CORDONED_PER_MILLE // 1000, sum(p.name == "general" for p in pools)),
        )
    )
    # (tagged name, digest name, size): an image has one digest cluster-wide
    tagged_images = [
        (f"{repo}:{tag}", _digest_name(rng, repo), size)
        for repo, size in IMAGES
        for tag in [rng.choice(TAGS)]
    ]
    fleet = Fleet(total=nodes, image_names=[name for name, _, _ in tagged_images])
    objects = []
    for index, pool in enumerate(pools):
        fleet.by_pool[pool.name] = fleet.by_pool.get(pool.name, 0) + 1
        if index not in cordoned:
            fleet.schedulable_by_pool[pool.name] = fleet.schedulable_by_pool.get(pool.name, 0) + 1
        objects.append(_node(rng, index, pool, index in cordoned, tagged_images))
    return objects, fleet


def _node(
    rng: random.Random,
    index: int,
    pool: Pool,
    cordoned: bool,
    images: list[tuple[str, str, int]],
) -> dict[str, Any]:
    name = f"node-{index:05d}"
    itype = INSTANCE_TYPES[rng.choice(pool.instance_types)]
    zone = ZONES[index % len(ZONES)]
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        HOSTNAME_LABEL: name,
        INSTANCE_LABEL: itype.name,
        REGION_LABEL: REGION,
        ZONE_LABEL: zone,
        POOL_LABEL: pool.name,
        CPU_GENERATION_LABEL: str(rng.randint(2, 6)),
    }
    if rng.random() < 0.4:
        labels[SSD_LABEL] = "true"
    labels.update(pool.extra_labels)
    ephemeral = rng.choice(("95551679124", "100Gi", "200Gi"))
    allocatable = {
        "cpu": itype.cpu_allocatable,
        "ephemeral-storage": ephemeral,
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": itype.memory_allocatable,
        "pods": str(POD_CAPACITY),
    }
    allocatable.update(pool.extra_allocatable)
    capacity = dict(allocatable)
    capacity.update(cpu=itype.cpu_capacity, memory=itype.memory_capacity)
    taints = [dict(t) for t in pool.taints]
    spec: dict[str, Any] = {
        "podCIDR": f"10.{64 + index // 256}.{index % 256}.0/24",
        "providerID": f"aws:///{zone}/i-{rng.getrandbits(64):016x}",
    }
    if cordoned:
        spec["unschedulable"] = True
        taints.append(dict(UNSCHEDULABLE_TAINT))
    if taints:
        spec["taints"] = taints
    cached = sorted(rng.sample(range(len(images)), rng.randint(len(images) // 3, len(images))))
    node_images = [
        {"names": [images[i][1], images[i][0]], "sizeBytes": images[i][2]} for i in cached
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(_uuid(rng)),
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [
                {"type": "InternalIP", "address": f"10.0.{index // 256}.{index % 256}"},
                {"type": "Hostname", "address": name},
            ],
            "images": node_images,
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.11",
                "kubeletVersion": "v1.29.4",
                "operatingSystem": "linux",
                "osImage": "Ubuntu 22.04.4 LTS",
            },
        },
    }


def _digest_name(rng: random.Random, repo: str) -> str:
    return f"{repo}@sha256:{rng.getrandbits(256):064x}"


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


# ----------------------------------------------------------------------- deployments


@dataclass
class Deployment:
    """One pod template and how many replicas it may have at most (None: no limit)."""

    name: str
    namespace: str
    weight: int
    spec: dict[str, Any]
    template_hash: str
    cap: int | None = None


def _resources(cpu: str | None, memory: str | None, **extra: str) -> dict[str, Any]:
    requests = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    requests.update({k.replace("_", "-"): v for k, v in extra.items()})
    if not requests:
        return {}
    return {"requests": requests}


def _container(name: str, image: str, resources: dict[str, Any], **more: Any) -> dict[str, Any]:
    container = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": resources,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    container.update(more)
    return container


class _TemplateMaker:
    """Draws varied pod templates from the seeded generator."""

    def __init__(self, rng: random.Random, fleet: Fleet) -> None:
        self.rng = rng
        self.fleet = fleet

    def small_cpu(self) -> str:
        return self.rng.choice(CPU_FORMS)

    def small_memory(self) -> str:
        return self.rng.choice(MEMORY_FORMS)

    def image(self) -> str:
        return self.rng.choice(self.fleet.image_names)

    def app(self, name: str, cpu: str | None = None, memory: str | None = None) -> dict:
        return _container(
            name,
            self.image(),
            _resources(cpu or self.small_cpu(), memory or self.small_memory()),
        )

    def spec(self, containers: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "containers": containers,
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        }
        tolerations = list(more.pop("tolerations", ()))
        spec.update(more)
        spec["tolerations"] = tolerations + [dict(t) for t in DEFAULT_TOLERATIONS]
        return spec


def _required(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": list(t)} for t in terms]
        }
    }


def _preferred(*weighted: tuple[int, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "preference": {"matchExpressions": list(exprs)}} for w, exprs in weighted
        ]
    }


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    expr: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expr["values"] = list(values)
    return expr


def _build_deployments(rng: random.Random, fleet: Fleet) -> list[Deployment]:
    """A few dozen deployments: three variants of each archetype below."""
    maker = _TemplateMaker(rng, fleet)
    archetypes = [
        _plain_web,
        _zone_pinned,
        _instance_type_affinity,
        _ssd_cache,
        _newer_cpu_batch,
        _zone_avoiding,
        _preferring,
        _spot_tolerant,
        _infra_daemon,
        _gpu_trainer,
        _hugepages_db,
        _host_port_agent,
        _init_heavy,
        _sidecar_meshed,
        _sandboxed,
        _best_effort,
    ]
    deployments = []
    for variant in range(3):
        for archetype in archetypes:
            deployment = archetype(maker, variant)
            deployment.template_hash = "".join(rng.choice(NAME_CHARS) for _ in range(10))
            deployments.append(deployment)
    return deployments


# ---- inter-pod affinity (issue 12) -------------------------------------------------


def _pod_term(app: str, key: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}


def _add_pod_affinity(deployments: list[Deployment]) -> set[str]:
    """Give some Deployments the pod (anti-)affinity real ones carry; the names of those
    whose required anti-affinity per host allows one replica per node.

    Required anti-affinity per host for the zone-pinned payment APIs and the ledgers
    (capped to a replica on half the usable nodes, so every pod stays placeable), preferred
    anti-affinity per host for the web frontends and per zone for the batch jobs,
    preferred affinity of checkout to its frontend's zone and of caches to each other.
    """
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"
    one_per_node = set()
    for d in deployments:
        base, variant = d.name.rsplit("-", 1)
        affinity = d.spec.setdefault("affinity", {})
        if base in ("payments-api", "ledger"):
            affinity["podAntiAffinity"] = {required: [_pod_term(d.name, HOSTNAME_LABEL)]}
            one_per_node.add(d.name)
        elif base == "frontend":
            affinity["podAntiAffinity"] = {
                preferred: [{"weight": 100, "podAffinityTerm": _pod_term(d.name, HOSTNAME_LABEL)}]
            }
        elif base == "batch-etl":
            affinity["podAntiAffinity"] = {
                preferred: [{"weight": 50, "podAffinityTerm": _pod_term(d.name, ZONE_LABEL)}]
            }
        elif base == "checkout":
            term = _pod_term(f"frontend-{variant}", ZONE_LABEL)
            affinity["podAffinity"] = {preferred: [{"weight": 50, "podAffinityTerm": term}]}
        elif base == "cache":
            affinity["podAffinity"] = {
                preferred: [{"weight": 30, "podAffinityTerm": _pod_term(d.name, ZONE_LABEL)}]
            }
        if not affinity:
            del d.spec["affinity"]
    return one_per_node


def _one_per_node_cap(usable: int) -> int:
    """Replicas for a Deployment with required anti-affinity per host: one per node, on
    at most half the nodes it may use (room left as nodes fill), one when it may use a
    single node, none when it may use none (a zone the cluster lacks)."""
    return usable // 2 if usable > 1 else usable


def _usable_nodes(d: Deployment, nodes: list[dict[str, Any]]) -> int:
    """How many schedulable nodes the deployment's pods may use (its selectors, taints)."""
    from bench import validate  # the independent rules; it imports nothing from podsift

    probe = {"spec": d.spec}
    return sum(
        1
        for n in nodes
        if not n["spec"].get("unschedulable")
        and validate.node_selector_matches(probe, n)
        and validate.required_affinity_matches(probe, n)
        and validate.untolerated_taint(probe, n) is None
    )


def binding_args(pod: dict[str, Any], node: str) -> dict[str, str]:
    """The ExtenderBindingArgs kube-scheduler sends to bind workload pod `pod` to `node`."""
    meta = pod["metadata"]
    return {
        "PodName": meta["name"],
        "PodNamespace": meta.get("namespace", "default"),
        "PodUID": meta.get("uid", ""),
        "Node": node,
    }


def namespace_items(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A Namespace item for every namespace the List's pods use, labelled as the API
    server labels them (namespaceSelector reads these)."""
    names = sorted(
        {i["metadata"].get("namespace", "default") for i in doc["items"] if i["kind"] == "Pod"}
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}},
        }
        for n in names
    ]


# ---- end inter-pod affinity


def _d(name: str, ns: str, weight: int, spec: dict[str, Any], cap: int | None = None) -> Deployment:
    return Deployment(name=name, namespace=ns, weight=weight, spec=spec, template_hash="", cap=cap)


# --- PodTopologySpread (issue 12): spread constraints on a share of the pods ---
def _spread(spec: dict[str, Any], app: str, *constraints: dict[str, Any]) -> dict[str, Any]:
    """The spec with topologySpreadConstraints over the deployment's own pods."""
    spec["topologySpreadConstraints"] = [
        {**c, "labelSelector": {"matchLabels": {"app": app}}} for c in constraints
    ]
    return spec


def _constraint(key: str, skew: int, hard: bool, **more: Any) -> dict[str, Any]:
    when = "DoNotSchedule" if hard else "ScheduleAnyway"
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, **more}


# --- end PodTopologySpread ---


def _plain_web(m: _TemplateMaker, v: int) -> Deployment:
    # zones kept even (hard), hosts preferred even; matchLabelKeys: one rollout at a time
    name = f"frontend-{v}"
    spec = _spread(
        m.spec([m.app("web")]),
        name,
        _constraint(ZONE_LABEL, 1, True, matchLabelKeys=["pod-template-hash"]),
        _constraint(HOSTNAME_LABEL, 1, False),
    )
    return _d(name, "shop", 12, spec)


def _zone_pinned(m: _TemplateMaker, v: int) -> Deployment:
    spec = m.spec([m.app("api")], nodeSelector={ZONE_LABEL: ZONES[v]})
    return _d(f"payments-api-{ZONES[v][-1]}", "payments", 5, spec)


def _instance_type_affinity(m: _TemplateMaker, v: int) -> Deployment:
    types = (("m5.2xlarge", "m5.4xlarge"), ("c5.4xlarge", "m6i.8xlarge"), ("r5.4xlarge",))[v]
    spec = m.spec(
        [m.app("query")],
        affinity={"nodeAffinity": _required([_expr(INSTANCE_LABEL, "In", *types)])},
    )
    return _d(f"search-query-{v}", "search", 5, spec)


def _ssd_cache(m: _TemplateMaker, v: int) -> Deployment:
    memory = m.rng.choice(BIG_MEMORY_FORMS[:3])
    redis = next(name for name in m.fleet.image_names if "/redis:" in name)
    container = _container("redis", redis, _resources(m.small_cpu(), memory))
    spec = m.spec(
        [container],
        affinity={"nodeAffinity": _required([_expr(SSD_LABEL, "Exists")])},
    )
    return _d(f"cache-{v}", "shop", 2, spec)


def _newer_cpu_batch(m: _TemplateMaker, v: int) -> Deployment:
    storage = m.rng.choice(EPHEMERAL_FORMS)
    app = _container(
        "etl", m.image(), _resources(m.small_cpu(), m.small_memory(), ephemeral_storage=storage)
    )
    spec = m.spec(
        [app],
        affinity={
            "nodeAffinity": _required(
                [_expr(CPU_GENERATION_LABEL, "Gt", str(2 + v % 2))],
                [_expr(INSTANCE_LABEL, "In", "m6i.8xlarge")],
            )
        },
    )
    return _d(f"batch-etl-{v}", "batch", 4, spec)


def _zone_avoiding(m: _TemplateMaker, v: int) -> Deployment:
    spec = m.spec(
        [m.app("ledger")],
        affinity={
            "nodeAffinity": _required(
                [_expr(ZONE_LABEL, "NotIn", ZONES[v]), _expr(POOL_LABEL, "NotIn", "spot")]
            )
        },
    )
    return _d(f"ledger-{v}", "payments", 3, spec)


def _preferring(m: _TemplateMaker, v: int) -> Deployment:
    spec = m.spec(
        [m.app("checkout")],
        affinity={
            "nodeAffinity": _preferred(
                (80, [_expr(ZONE_LABEL, "In", ZONES[v])]),
                (20, [_expr(INSTANCE_LABEL, "In", "m5.4xlarge", "m6i.8xlarge")]),
                (5, [_expr(SSD_LABEL, "Exists")]),
            )
        },
    )
    return _d(f"checkout-{v}", "shop", 6, spec)


def _spot_tolerant(m: _TemplateMaker, v: int) -> Deployment:
    toleration = {"key": "example.com/spot", "operator": "Equal", "value": "true"}
    if v == 1:
        toleration["effect"] = "PreferNoSchedule"
    spec = m.spec(
        [m.app("report")],
        tolerations=[toleration],
        affinity={"nodeAffinity": _preferred((50, [_expr("example.com/lifecycle", "In", "spot")]))},
    )
    return _d(f"report-{v}", "batch", 6, spec)


def _infra_daemon(m: _TemplateMaker, v: int) -> Deployment:
    spec = m.spec(
        [m.app("ingress", cpu=m.rng.choice(CPU_FORMS[:5]))],
        nodeSelector={"node-role.kubernetes.io/infra": ""},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "infra"}],
        priorityClassName="system-cluster-critical",
        priority=2000000000,
    )
    schedulable = m.fleet.schedulable_by_pool.get("infra", 0)
    return _d(f"ingress-{v}", "infra", 1, spec, cap=schedulable * 12)


def _gpu_trainer(m: _TemplateMaker, v: int) -> Deployment:
    gpus = ("1", "1", "2")[v]
    resources = _resources(m.rng.choice(BIG_CPU_FORMS), "8Gi", **{GPU_RESOURCE: gpus})
    resources["limits"] = {GPU_RESOURCE: gpus}
    spec = m.spec(
        [_container("trainer", m.image(), resources)],
        tolerations=[{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
    )
    gpu_nodes = m.fleet.schedulable_by_pool.get("gpu", 0)
    return _d(f"trainer-{v}", "ml", 1, spec, cap=gpu_nodes * 4 // int(gpus) // 6)


def _hugepages_db(m: _TemplateMaker, v: int) -> Deployment:
    size = ("64Mi", "128Mi", "0.125Gi")[v]
    resources = _resources("250m", "512Mi", **{HUGEPAGES_RESOURCE: size})
    resources["limits"] = {HUGEPAGES_RESOURCE: size, "memory": "512Mi"}
    spec = m.spec(
        [_container("postgres", m.image(), resources)],
        tolerations=[{"key": "example.com/hugepages", "operator": "Exists"}],
    )
    per_node = (2048 // 64, 2048 // 128, 2048 // 128)[v]
    nodes = m.fleet.schedulable_by_pool.get("hugepages", 0)
    return _d(f"postgres-{v}", "default", 1, spec, cap=nodes * per_node // 6)


def _host_port_agent(m: _TemplateMaker, v: int) -> Deployment:
    port, protocol, host_ip = ((9100, "TCP", ""), (8125, "UDP", ""), (9100, "TCP", "127.0.0.1"))[v]
    ports = {"containerPort": port, "hostPort": port, "protocol": protocol}
    if host_ip:
        ports["hostIP"] = host_ip
    app = m.app("agent", cpu="100m", memory="64Mi")
    app["ports"] = [ports]
    spec = m.spec([app])
    # Any schedulable node without a NoSchedule/NoExecute taint may host it.
    open_nodes = m.fleet.schedulable_by_pool.get("general", 0)
    return _d(f"metrics-agent-{v}", "infra", 2, spec, cap=open_nodes // 4)


def _init_heavy(m: _TemplateMaker, v: int) -> Deployment:
    migrate = _container(
        "migrate", m.image(), _resources(m.rng.choice(("500m", "1", "0.75")), "1Gi")
    )
    fetch = _container("fetch", "docker.io/library/busybox:1.24.3", _resources("100m", "32Mi"))
    name = f"orders-{v}"
    spec = _spread(
        m.spec([m.app("server")], initContainers=[fetch, migrate]),
        name,
        _constraint(ZONE_LABEL, 2, True, nodeTaintsPolicy="Honor"),
    )
    return _d(name, "shop", 4, spec)


def _sidecar_meshed(m: _TemplateMaker, v: int) -> Deployment:
    proxy = _container(
        "istio-proxy", m.image(), _resources("100m", "128Mi"), restartPolicy="Always"
    )
    init = _container("istio-init", m.image(), _resources("500m" if v else "10m", "64Mi"))
    name = f"cart-{v}"
    spec = _spread(
        m.spec([m.app("cart")], initContainers=[init, proxy]),
        name,
        _constraint(HOSTNAME_LABEL, 2, False),
        _constraint(ZONE_LABEL, 1, False),
    )
    return _d(name, "shop", 6, spec)


def _sandboxed(m: _TemplateMaker, v: int) -> Deployment:
    spec = m.spec(
        [m.app("inference")],
        runtimeClassName="kata",
        overhead={"cpu": "250m", "memory": "120Mi"},
    )
    return _d(f"inference-{v}", "ml", 2, spec)


def _best_effort(m: _TemplateMaker, v: int) -> Deployment:
    # at most 3 a node: cordoned and tainted nodes are domains with none, so the minimum
    # stays 0 (nodeTaintsPolicy Ignore, the default)
    name = f"janitor-{v}"
    spec = _spread(
        m.spec([_container("worker", m.image(), {}), _container("helper", m.image(), {})]),
        name,
        _constraint(HOSTNAME_LABEL, 3, True),
    )
    return _d(name, "default", 3, spec)


def _cap_by_feasible_nodes(deployments: list[Deployment], nodes: list[dict[str, Any]]) -> None:
    """Cap every constrained deployment at PER_NODE_CAP pods per node it may use.

    A deployment that may use every schedulable node without a hard taint
    stays uncapped; one restricted to fewer nodes (a zone, an instance type,
    a tainted pool; few of them in a small cluster) gets at most
    PER_NODE_CAP replicas per such node, and none when no node suits it.
    """
    from bench import validate  # the independent rules; it imports nothing from podsift

    schedulable = [n for n in nodes if not n["spec"].get("unschedulable")]
    open_nodes = {
        n["metadata"]["name"]
        for n in schedulable
        if not any(t["effect"] != "PreferNoSchedule" for t in n["spec"].get("taints", ()))
    }
    for d in deployments:
        probe = {"spec": d.spec}
        feasible = {
            n["metadata"]["name"]
            for n in schedulable
            if validate.node_selector_matches(probe, n)
            and validate.required_affinity_matches(probe, n)
            and validate.untolerated_taint(probe, n) is None
        }
        if d.cap is None and open_nodes <= feasible:
            continue
        limit = len(feasible) * PER_NODE_CAP
        d.cap = limit if d.cap is None else min(d.cap, limit)


def _replica_counts(deployments: list[Deployment], pods: int) -> list[int]:
    """Split `pods` among the deployments by weight, keeping capped ones under their cap."""
    total_weight = sum(d.weight for d in deployments)
    counts = [pods * d.weight // total_weight for d in deployments]
    for i, d in enumerate(deployments):
        if d.cap is not None:
            counts[i] = min(counts[i], max(d.cap, 0))
    uncapped = [i for i, d in enumerate(deployments) if d.cap is None]
    remainder = pods - sum(counts)
    for k in range(remainder):
        counts[uncapped[k % len(uncapped)]] += 1
    return counts


# ------------------------------------------------------------------------------ pods


def owners_of(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ReplicaSets the pods name as their controller, and a Service per
    deployment (selecting its `app` label): what PodTopologySpread's default
    constraints read, for `podsift synth` snapshots. Derived from the pods alone."""
    replica_sets: dict[tuple[str, str], dict[str, str]] = {}
    apps: dict[tuple[str, str], None] = {}
    for pod in pods:
        meta = pod["metadata"]
        for ref in meta.get("ownerReferences", ()):
            if ref.get("controller") and ref["kind"] == "ReplicaSet":
                replica_sets.setdefault((meta["namespace"], ref["name"]), meta["labels"])
        apps.setdefault((meta["namespace"], meta["labels"]["app"]), None)
    owners: list[dict[str, Any]] = []
    for (namespace, name), labels in replica_sets.items():
        owners.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"selector": {"matchLabels": dict(labels)}},
            }
        )
    for namespace, app in apps:
        owners.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": app, "namespace": namespace},
                "spec": {"selector": {"app": app}},
            }
        )
    return owners


def _build_pods(
    rng: random.Random, deployments: list[Deployment], order: list[int]
) -> list[dict[str, Any]]:
    used_names: set[str] = set()
    pods = []
    for index in order:
        d = deployments[index]
        while True:
            suffix = "".join(rng.choice(NAME_CHARS) for _ in range(5))
            name = f"{d.name}-{d.template_hash}-{suffix}"
            if name not in used_names:
                used_names.add(name)
                break
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": d.namespace,
                    "uid": str(_uuid(rng)),
                    "labels": {"app": d.name, "pod-template-hash": d.template_hash},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": f"{d.name}-{d.template_hash}",
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": d.spec,
                "status": {"phase": "Pending", "qosClass": "Burstable"},
            }
        )
    return pods
