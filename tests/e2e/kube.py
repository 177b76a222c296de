"""What the end-to-end tests build on: the shipped kube-scheduler configuration
pointed at a test's podsift, small Node and Pod objects, and waits on the API.

The control plane itself is bench/controlplane.py (the benchmark runs the same
one); podsift is a real `podsift serve --kubeconfig` (tests/server.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from bench.controlplane import ControlPlane, KubeApi, ready_node, wait_for
from tests.server import Server

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SCHEDULER_CONFIG = ROOT / "manifests" / "sidecar" / "scheduler-config.yaml"
SHIPPED_POLICY = ROOT / "manifests" / "base" / "policy.yaml"
SCHEDULER = "podsift"


RBAC_MANIFESTS = (
    ROOT / "manifests" / "base" / "namespace.yaml",
    ROOT / "manifests" / "base" / "scheduler-rbac.yaml",
    ROOT / "manifests" / "base" / "podsift-clusterrole.yaml",
    ROOT / "manifests" / "sidecar" / "podsift-rbac.yaml",
)
_COLLECTIONS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def apply_manifests(api: KubeApi, paths: tuple[Path, ...] = RBAC_MANIFESTS) -> int:
    """Create every object of these manifest files (kinds above); how many."""
    created = 0
    for path in paths:
        for obj in yaml.safe_load_all(path.read_text()):
            if not obj:
                continue
            namespace = obj["metadata"].get("namespace", "")
            api.call("POST", _COLLECTIONS[obj["kind"]].format(ns=namespace), obj, ok=(201, 409))
            created += 1
    return created


def shipped_scheduler_config(podsift_port: int, **extender: Any) -> dict[str, Any]:
    """manifests/sidecar/scheduler-config.yaml with only the extender's urlPrefix
    pointed at the test's podsift (and any extender field a test overrides)."""
    config = yaml.safe_load(SHIPPED_SCHEDULER_CONFIG.read_text())
    (entry,) = config["extenders"]
    entry["urlPrefix"] = f"http://127.0.0.1:{podsift_port}"
    entry.update(extender)
    return config


def podsift(
    cp: ControlPlane,
    *args: str,
    policy: Path = SHIPPED_POLICY,
    port: int | None = None,
    env: dict[str, str] | None = None,
    kubeconfig: Path | None = None,
) -> Server:
    """`podsift serve --kubeconfig` against the control plane, synced (/readyz 200);
    as the admin unless another kubeconfig is given. Stopped by the test, or at
    the latest with the module's control plane (`stop_leftovers`)."""
    server = Server(
        "--kubeconfig",
        str(kubeconfig or cp.kubeconfig),
        "--config",
        str(policy),
        *args,
        port=port,
        env=env,
    )
    _STARTED.append(server)
    return server


_STARTED: list[Server] = []


def stop_leftovers() -> None:
    """Stop every podsift a failed test left running."""
    while _STARTED:
        server = _STARTED.pop()
        if server.proc.poll() is None:
            server.stop()


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    extended: dict[str, str] | None = None,
) -> dict[str, Any]:
    resources = {"cpu": cpu, "memory": memory, "pods": pods, **(extended or {})}
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    return ready_node(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
            "spec": spec,
            "status": {"capacity": dict(resources), "allocatable": dict(resources)},
        }
    )


def pod(
    name: str,
    cpu: str = "100m",
    memory: str = "128Mi",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    priority_class: str | None = None,
    extended: dict[str, str] | None = None,
    scheduler: str = SCHEDULER,
    **spec: Any,
) -> dict[str, Any]:
    requests = {"cpu": cpu, "memory": memory, **(extended or {})}
    resources: dict[str, Any] = {"requests": requests}
    if extended:
        resources["limits"] = dict(extended)
    body: dict[str, Any] = {
        "schedulerName": scheduler,
        "containers": [{"name": "app", "image": "registry.example/app:1", "resources": resources}],
        **spec,
    }
    if priority_class:
        body["priorityClassName"] = priority_class
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": body,
    }


def create_nodes(api: KubeApi, nodes: list[dict[str, Any]]) -> None:
    api.create_many(lambda _n: "/api/v1/nodes", nodes)


def create_pods(api: KubeApi, pods: list[dict[str, Any]]) -> None:
    api.create_many(
        lambda p: f"/api/v1/namespaces/{p['metadata'].get('namespace', 'default')}/pods", pods
    )


def placements(api: KubeApi, namespace: str | None = None) -> dict[str, str]:
    """namespace/name -> node of every scheduled pod."""
    return {
        f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["spec"]["nodeName"]
        for p in api.pods(namespace)
        if p["spec"].get("nodeName")
    }


def wait_scheduled(api: KubeApi, count: int, namespace: str | None = None, timeout: float = 120):
    """Until at least `count` pods (of the namespace) are bound; their placements."""
    return wait_for(
        lambda: (found := placements(api, namespace)) and len(found) >= count and found,
        timeout,
        f"{count} pods scheduled",
    )


def scheduling_failures(api: KubeApi, namespace: str, name: str) -> list[str]:
    """The messages of the pod's FailedScheduling events."""
    return [
        e.get("message", "")
        for e in api.events(namespace, name)
        if e.get("reason") == "FailedScheduling"
    ]


def with_label(obj: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("labels", {})[key] = value
    return obj


def why_pending(cp: ControlPlane, namespace: str, name: str, server: Server | None = None) -> str:
    """What a test that waited in vain for a pod shows: the pod's conditions, its
    events (count, last time), kube-scheduler's log lines about it, podsift's log."""
    api = cp.api
    assert api is not None
    lines = []
    found = api.pod(namespace, name)
    if found is None:
        lines.append(f"pod {namespace}/{name} does not exist")
    else:
        for condition in (found.get("status") or {}).get("conditions") or []:
            lines.append(f"condition {condition}")
    for event in api.events(namespace, name):
        lines.append(
            f"event {event.get('reason')} x{event.get('count') or 1} "
            f"last {event.get('lastTimestamp') or event.get('eventTime')}: {event.get('message')}"
        )
    for process in cp.schedulers:
        about = [line for line in process.log_tail(400).splitlines() if name in line]
        lines.append(f"{process.name} ({'running' if process.alive() else 'exited'}):")
        lines += about[-12:]
    if server is not None:
        lines.append("podsift log:")
        lines += server.output().splitlines()[-15:]
    return "\n".join(lines)
