"""Small Kubernetes objects for the planner's tests, written out by hand."""

from __future__ import annotations

from typing import Any


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110, **extra: Any) -> dict:
    obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)}},
    }
    if extra.get("taints"):
        obj["spec"]["taints"] = extra["taints"]
    if extra.get("labels"):
        obj["metadata"]["labels"].update(extra["labels"])
    if extra.get("annotations"):
        obj["metadata"]["annotations"] = extra["annotations"]
    return obj


def pod_spec(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict:
    requests = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    container: dict[str, Any] = {
        "name": "c",
        "image": "busybox",
        "resources": {"requests": requests},
    }
    if extra.get("host_port"):
        container["ports"] = [{"containerPort": 80, "hostPort": extra["host_port"]}]
    spec: dict[str, Any] = {"containers": [container]}
    if extra.get("node_selector"):
        spec["nodeSelector"] = extra["node_selector"]
    return spec


def running_pod(
    name: str, node_name: str, cpu: str | None = None, memory: str | None = None
) -> dict:
    spec = pod_spec(cpu, memory)
    spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": spec,
        "status": {"phase": "Running"},
    }


def deployment(name: str, replicas: int, spec: dict, namespace: str = "default") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def listing(items: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": items}
