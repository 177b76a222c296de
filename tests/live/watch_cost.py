"""CPU cost per watch event through the live path: line splitting + orjson + ClusterState.

Run: .venv/bin/python -m tests.watch_cost [--events 10000] [--repeat 5]

Feeds pre-encoded watch lines (realistic ~6 KB pods from a Deployment, with
managedFields and container statuses) through `WatchStream` and the watcher's
event application into a real `ClusterState`, and reports process CPU time per
event (median of the repeats) for: status-only updates (skipped), updates that
change a pod's requests (applied), and the bare orjson decode for reference.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import orjson

from bench.workload import DEFAULT_TOLERATIONS
from extender.cache.state import ClusterState
from extender.live.client import WatchStream
from extender.live.watcher import ClusterWatcher
from tests.fakeapi import make_node


def realistic_pod(i: int, node: str) -> dict:
    name = f"web-7d9c6f8b5-{i:05d}"
    container = {
        "name": "web",
        "image": "registry.example.com/team/web:1.42.3",
        "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
        "env": [{"name": f"ENV_{k}", "value": f"value-{k}"} for k in range(8)],
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "volumeMounts": [
            {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets", "readOnly": True}
        ],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 5},
        "terminationMessagePath": "/dev/termination-log",
        "imagePullPolicy": "IfNotPresent",
    }
    sidecar = copy.deepcopy(container)
    sidecar.update(name="proxy", image="registry.example.com/mesh/proxy:1.20.1", ports=[])
    sidecar["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}}
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"5b1f0d2e-0000-4000-8000-{i:012d}",
            "resourceVersion": "1",
            "labels": {"app": "web", "pod-template-hash": "7d9c6f8b5", "tier": "frontend"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d9c6f8b5",
                    "uid": "0c4d7c1a-1111-4000-8000-000000000001",
                    "controller": True,
                }
            ],
            "managedFields": [
                {
                    "manager": m,
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-20T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        f"f:{k}": {} for k in ("metadata", "spec", "status", "conditions")
                    },
                }
                for m in ("kube-controller-manager", "kubelet", "kube-scheduler")
            ],
        },
        "spec": {
            "containers": [container, sidecar],
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": []}}],
            "nodeName": node,
            "schedulerName": "default-scheduler",
            "serviceAccountName": "web",
            "tolerations": [dict(t) for t in DEFAULT_TOLERATIONS],
            "priority": 0,
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2026-11-20T10:00:05Z"}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "hostIP": "10.0.0.1",
            "podIP": f"10.1.{i // 250}.{i % 250}",
            "startTime": "2026-11-20T10:00:01Z",
            "containerStatuses": [
                {
                    "name": c,
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "image": "registry.example.com/team/web:1.42.3",
                    "imageID": "registry.example.com/team/web@sha256:" + "0" * 64,
                    "containerID": "containerd://" + "a" * 64,
                    "state": {"running": {"startedAt": "2026-11-20T10:00:03Z"}},
                }
                for c in ("web", "proxy")
            ],
        },
    }


def event_lines(pods: list[dict], n: int, change_requests: bool) -> list[bytes]:
    lines = []
    for k in range(n):
        pod = copy.deepcopy(pods[k % len(pods)])
        pod["metadata"]["resourceVersion"] = str(1000 + k)
        if change_requests:  # a scheduling-relevant change every time
            requests = pod["spec"]["containers"][0]["resources"]["requests"]
            requests["cpu"] = f"{101 + k // len(pods)}m"
        else:  # status churn only: a probe time, a restart count
            pod["status"]["conditions"][2]["lastProbeTime"] = f"2026-11-20T10:{k % 60:02d}:00Z"
            pod["status"]["containerStatuses"][1]["restartCount"] = k
        lines.append(orjson.dumps({"type": "MODIFIED", "object": pod}) + b"\n")
    return lines


class Lines:
    """Stands in for the HTTP response: one chunk per event, as the API server sends."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def stream(self, amt: int, decode_content: bool = True):
        return iter(self.lines)

    def shutdown(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def fresh_watcher(nodes: int, pods: list[dict]) -> ClusterWatcher:
    state = ClusterState()
    state.replace_all([make_node(f"node-{j}", cpu="64") for j in range(nodes)], pods)
    watcher = ClusterWatcher(state, api=None)  # type: ignore[arg-type]  # never started
    watcher._generation = 1
    watcher._kinds["pods"].generation = 1
    return watcher


def run(lines: list[bytes], watcher: ClusterWatcher) -> float:
    kind = watcher._kinds["pods"]
    apply = watcher._apply_event
    start = time.process_time()
    for event in WatchStream(Lines(lines)):
        apply(kind, 1, event)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pods", type=int, default=1_000)
    parser.add_argument("--nodes", type=int, default=100)
    args = parser.parse_args()

    pods = [realistic_pod(i, f"node-{i % args.nodes}") for i in range(args.pods)]
    skipped_lines = event_lines(pods, args.events, change_requests=False)
    applied_lines = event_lines(pods, args.events, change_requests=True)
    size = sum(map(len, skipped_lines)) // len(skipped_lines)

    results: dict[str, list[float]] = {"skipped": [], "applied": [], "decode only": []}
    for _ in range(args.repeat):
        w = fresh_watcher(args.nodes, pods)
        results["skipped"].append(run(skipped_lines, w))
        assert w.stats()["events_skipped"] == args.events, w.stats()
        w = fresh_watcher(args.nodes, pods)
        results["applied"].append(run(applied_lines, w))
        assert w.stats()["events_applied"] >= args.events * 0.9, w.stats()
        start = time.process_time()
        for line in skipped_lines:
            orjson.loads(line)
        results["decode only"].append(time.process_time() - start)

    print(
        f"{args.events} MODIFIED pod events of ~{size} bytes, {args.pods} pods on {args.nodes} "
        f"nodes, median of {args.repeat} (process CPU time)"
    )
    for name, times in results.items():
        per = statistics.median(times) / args.events * 1e6
        print(f"  {name:12s} {per:8.1f} us/event")


if __name__ == "__main__":
    main()
