"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-scheduler.

The binaries are the upstream ones, built from the Kubernetes Go modules by
`./dev build-go` into go/bin (go/go.mod pins the version). No kubelet and no
controller manager run: the harness creates Nodes with their status, and
`Kubelet` stands in for the one thing a kubelet must do here, finishing the
graceful deletion of bound pods (preemption's victims would otherwise stay
Terminating forever). kube-scheduler's integration tests and scheduler_perf
run the same way.

Used by the end-to-end tests (tests/e2e) and by `podsift bench --client
kube-scheduler`. Every process logs to a file in the work directory, and is
stopped by its pid.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import yaml

from bench.pki import make_tls

ROOT = Path(__file__).resolve().parent.parent
GO_BIN = ROOT / "go" / "bin"
COMPONENTS = ("etcd", "kube-apiserver", "kube-scheduler")
TOKEN = "podsift-e2e-admin-token"
# The identity podsift and kube-scheduler share in manifests/sidecar (its RBAC is
# manifests/base/scheduler-rbac.yaml and podsift-clusterrole.yaml): tests that apply
# those manifests run both components as this user, so the shipped RBAC is what
# authorizes them.
SCHEDULER_ACCOUNT = ("podsift-system", "podsift-scheduler")
SCHEDULER_TOKEN = "podsift-e2e-scheduler-token"
# Who created each pods/binding: the audit log records user and user agent.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create]
    resources: [{group: "", resources: [pods/binding]}]
  - level: None
"""
# TaintNodesByCondition would taint every new Node not-ready (no kubelet reports it
# ready); ServiceAccount wants token controllers that do not run here.
DISABLED_ADMISSION = "ServiceAccount,TaintNodesByCondition"


class ControlPlaneError(RuntimeError):
    """A component did not start, or an API call failed."""


def missing_binaries(bin_dir: Path = GO_BIN) -> list[str]:
    """The components not built yet (empty when the control plane can run)."""
    return [name for name in COMPONENTS if not os.access(bin_dir / name, os.X_OK)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """One component: its command, its log file, its pid; stopped by pid."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to everyone else."""
        self.stop(timeout=10, sig=signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# ---- certificates ------------------------------------------------------------
def _write_pki(directory: Path) -> None:
    """The cluster CA and kube-apiserver's serving certificate (bench/pki.py), and
    the service-account key pair the API server insists on."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    make_tls(directory, "kube-apiserver", ["localhost"])
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "sa.key").write_bytes(
        sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


# ---- the API -----------------------------------------------------------------
class KubeApi:
    """A minimal Kubernetes REST client: one keep-alive HTTPS connection per thread,
    the CA verified, JSON in and out. Enough for a harness; podsift itself and
    kube-scheduler use their own real clients."""

    def __init__(self, port: int, ca_file: Path, token: str = TOKEN, timeout: float = 60) -> None:
        self.port = port
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, context=self.context, timeout=self.timeout
            )
            self.local.conn = conn
        return conn

    def raw(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        data = None if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException, ssl.SSLError, TimeoutError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ok: Iterable[int] = (200, 201),
        content_type: str = "application/json",
    ) -> Any:
        status, data = self.raw(method, path, body, content_type)
        if status not in tuple(ok):
            raise ControlPlaneError(f"{method} {path}: HTTP {status}: {data[:500]!r}")
        return orjson.loads(data) if data else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def items(self, path: str) -> list[dict[str, Any]]:
        return self.get(path)["items"]

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        return self.call("POST", path, obj, ok=(201,))

    def delete(self, path: str, grace: int | None = None) -> None:
        body = None if grace is None else {"gracePeriodSeconds": grace}
        self.call("DELETE", path, body, ok=(200, 202, 404))

    def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return self.call("PATCH", path, patch, content_type="application/merge-patch+json")

    # -- objects --
    def create_setup(self, objects: list[dict[str, Any]]) -> None:
        """Cluster-scoped objects from `api_objects` (already there is fine)."""
        for obj in objects:
            self.call("POST", SETUP_PATHS[obj["kind"]], obj, ok=(201, 409))

    def create_namespace(self, name: str) -> None:
        self.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}}, ok=(201, 409))

    def pods(self, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
        if selector:
            path += "?labelSelector=" + quote(selector)
        return self.items(path)

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        status, data = self.raw("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        if status == 404:
            return None
        if status != 200:
            raise ControlPlaneError(f"GET pod {namespace}/{name}: HTTP {status}: {data[:300]!r}")
        return orjson.loads(data)

    def events(self, namespace: str, involved: str | None = None) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{namespace}/events"
        if involved:
            path += "?fieldSelector=" + quote(f"involvedObject.name={involved}")
        return self.items(path)

    def create_many(
        self, path_of: Callable[[dict[str, Any]], str], objects: list[dict], threads: int = 8
    ) -> None:
        """POST every object, `threads` at a time (each thread its own connection)."""

        def one(obj: dict[str, Any]) -> None:
            self.create(path_of(obj), obj)

        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(one, objects):
                pass


def pod_path(pod: dict[str, Any]) -> str:
    return f"/api/v1/namespaces/{pod['metadata'].get('namespace', 'default')}/pods"


def node_path(_node: dict[str, Any]) -> str:
    return "/api/v1/nodes"


def ready_node(node: dict[str, Any]) -> dict[str, Any]:
    """The Node as a kubelet would have registered it: status with a Ready
    condition (kept on create: nodes may set their status then)."""
    node = dict(node)
    status = dict(node.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady"})
    status["conditions"] = conditions
    node["status"] = status
    return node


def api_objects(
    items: list[dict[str, Any]], scheduler_name: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(setup, nodes, pods) to create through the API for a Kubernetes List such as
    bench/workload.py makes: the Namespaces and RuntimeClasses its pods need, the
    Nodes ready, and the Pods for `scheduler_name`, stripped of what a client may
    not set (uid, owner references to controllers that do not exist, the integer
    priority that admission resolves from priorityClassName)."""
    nodes, pods = [], []
    namespaces: set[str] = set()
    runtime_classes: dict[str, dict[str, Any]] = {}
    for item in items:
        meta = {k: v for k, v in item["metadata"].items() if k not in ("uid", "ownerReferences")}
        if item.get("kind") == "Node":
            nodes.append(ready_node({**item, "metadata": meta}))
            continue
        spec = {k: v for k, v in item["spec"].items() if k not in ("priority", "nodeName")}
        spec["schedulerName"] = scheduler_name
        namespaces.add(meta.get("namespace", "default"))
        if spec.get("runtimeClassName"):
            runtime_classes[spec["runtimeClassName"]] = spec.get("overhead") or {}
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    setup: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in sorted(namespaces - {"default"})
    ]
    for name, overhead in sorted(runtime_classes.items()):
        runtime_class: dict[str, Any] = {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": name},
            "handler": name,
        }
        if overhead:
            runtime_class["overhead"] = {"podFixed": overhead}
        setup.append(runtime_class)
    return setup, nodes, pods


SETUP_PATHS = {
    "Namespace": "/api/v1/namespaces",
    "RuntimeClass": "/apis/node.k8s.io/v1/runtimeclasses",
    "PriorityClass": "/apis/scheduling.k8s.io/v1/priorityclasses",
}


# ---- the control plane -------------------------------------------------------
class ControlPlane:
    """etcd and kube-apiserver on loopback, with a kubeconfig for clients;
    `scheduler()` starts kube-scheduler with a KubeSchedulerConfiguration."""

    def __init__(self, workdir: str | Path, bin_dir: Path = GO_BIN) -> None:
        missing = missing_binaries(bin_dir)
        if missing:
            raise ControlPlaneError(
                f"{', '.join(missing)} not built in {bin_dir}: run ./dev build-go "
                "(needs Go; README, 'The real control plane')"
            )
        self.bin = bin_dir
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pki = self.dir / "pki"
        self.pki.mkdir(exist_ok=True)
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.port = free_port()
        self.kubeconfig = self.dir / "kubeconfig"
        self.scheduler_kubeconfig = self.dir / "kubeconfig-scheduler"
        self.audit_log = self.dir / "audit.log"
        self.etcd: Process | None = None
        self.apiserver: Process | None = None
        self.schedulers: list[Process] = []
        self.api: KubeApi | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> ControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        _write_pki(self.pki)
        namespace, account = SCHEDULER_ACCOUNT
        (self.pki / "tokens.csv").write_text(
            f"{TOKEN},admin,admin,system:masters\n"
            f"{SCHEDULER_TOKEN},system:serviceaccount:{namespace}:{account},{account},"
            f'"system:serviceaccounts,system:serviceaccounts:{namespace}"\n'
        )
        (self.pki / "audit-policy.yaml").write_text(AUDIT_POLICY)
        self.write_kubeconfig(self.kubeconfig, TOKEN)
        self.write_kubeconfig(self.scheduler_kubeconfig, SCHEDULER_TOKEN)
        self.start_etcd()
        self.start_apiserver()
        self.api = KubeApi(self.port, self.pki / "ca.crt")
        self.api.create_namespace("podsift-system")
        return self

    def write_kubeconfig(self, path: Path, token: str = TOKEN, server: str | None = None) -> Path:
        """A kubeconfig for this cluster's CA and a token of tokens.csv, at `server`
        (this API server unless told: a proxy in front of it, say)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {
                        "server": server or self.server,
                        "certificate-authority": str(self.pki / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "user"}}],
            "current-context": "e2e",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def start_etcd(self) -> None:
        self.etcd = Process(
            "etcd",
            [
                str(self.bin / "etcd"),
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
            ],
            self.dir / "etcd.log",
        ).start()
        self._wait(self.etcd, lambda: _http_ok(self.etcd_port, "/health"), 60)

    def start_apiserver(self) -> None:
        self.apiserver = Process(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={self.dir / 'apiserver-certs'}",
                f"--tls-cert-file={self.pki / 'tls.crt'}",
                f"--tls-private-key-file={self.pki / 'tls.key'}",
                f"--client-ca-file={self.pki / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={self.pki / 'sa.pub'}",
                f"--service-account-signing-key-file={self.pki / 'sa.key'}",
                f"--token-auth-file={self.pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--audit-policy-file={self.pki / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--disable-admission-plugins={DISABLED_ADMISSION}",
                # a few hundred thousand objects in a benchmark: no need to throttle
                "--max-requests-inflight=3000",
                "--max-mutating-requests-inflight=1000",
                "--enable-priority-and-fairness=false",
                "--v=1",
            ],
            self.dir / "kube-apiserver.log",
        ).start()
        ca = self.pki / "ca.crt"
        self._wait(self.apiserver, lambda: _https_ok(self.port, "/readyz", ca), 120)

    def restart_apiserver(self, down_for: float = 0.0) -> None:
        """Stop kube-apiserver (SIGTERM), wait, start it again on the same port."""
        assert self.apiserver is not None
        self.apiserver.stop()
        time.sleep(down_for)
        self.start_apiserver()

    def scheduler(
        self,
        config: dict[str, Any],
        name: str = "kube-scheduler",
        kubeconfig: Path | None = None,
    ) -> Process:
        """Start kube-scheduler with this KubeSchedulerConfiguration (its
        clientConnection.kubeconfig pointed at this control plane: the admin's
        unless another is given)."""
        config = dict(config)
        connection = dict(config.get("clientConnection") or {})
        connection["kubeconfig"] = str(kubeconfig or self.kubeconfig)
        config["clientConnection"] = connection
        path = self.dir / f"{name}-config.yaml"
        path.write_text(yaml.safe_dump(config))
        process = Process(
            name,
            [str(self.bin / "kube-scheduler"), f"--config={path}", "--secure-port=0", "--v=2"],
            self.dir / f"{name}.log",
        ).start()
        self.schedulers.append(process)
        time.sleep(0.2)
        if not process.alive():
            raise ControlPlaneError(f"{name} exited at once:\n{process.log_tail()}")
        return process

    def bindings(self) -> list[dict[str, Any]]:
        """Every pods/binding created so far, from the audit log: pod, node-less
        (the audit level keeps no body), user, user agent, HTTP code."""
        found = []
        try:
            lines = self.audit_log.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            event = orjson.loads(line)
            ref = event.get("objectRef") or {}
            if ref.get("subresource") == "binding" and event.get("verb") == "create":
                found.append(
                    {
                        "pod": f"{ref.get('namespace')}/{ref.get('name')}",
                        "user": (event.get("user") or {}).get("username"),
                        "user_agent": event.get("userAgent", ""),
                        "code": (event.get("responseStatus") or {}).get("code"),
                    }
                )
        return found

    def stop(self) -> None:
        for process in [*self.schedulers, self.apiserver, self.etcd]:
            if process is not None:
                process.stop()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _wait(process: Process, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not process.alive():
                raise ControlPlaneError(
                    f"{process.name} exited during start:\n{process.log_tail()}"
                )
            if time.monotonic() > deadline:
                process.stop()
                raise ControlPlaneError(
                    f"{process.name} not ready after {timeout:.0f} s:\n{process.log_tail()}"
                )
            time.sleep(0.1)


def _http_ok(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def _https_ok(port: int, path: str, ca: Path) -> bool:
    try:
        context = ssl.create_default_context(cafile=str(ca))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


# ---- the kubelet's one job -----------------------------------------------------
class Kubelet:
    """Finishes the graceful deletion of pods (grace period 0), as the kubelet of
    their node would once their containers stopped. A background thread polls."""

    def __init__(self, api: KubeApi, interval: float = 0.2) -> None:
        self.api = api
        self.interval = interval
        self.finished: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    def __enter__(self) -> Kubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for pod in self.api.pods():
                    meta = pod["metadata"]
                    if meta.get("deletionTimestamp"):
                        self.api.delete(
                            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                            grace=0,
                        )
                        self.finished.append(f"{meta['namespace']}/{meta['name']}")
            except (OSError, ControlPlaneError, http.client.HTTPException):
                continue


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2
) -> Any:
    """Poll until `condition()` is truthy; its value, or ControlPlaneError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def scheduled(pods: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (p for p in pods if p["spec"].get("nodeName"))


def placements_in_bind_order(pods: Iterable[dict[str, Any]]) -> tuple[list[dict], dict[str, str]]:
    """The bound pods as the validator wants them: (each pod without its nodeName,
    {uid: node} in the order the Bindings were committed).

    The API server lists pods by name; commit order is the closest to the
    scheduler's decision order the objects tell (bench/validate.py's
    `order_known=False` says how spread constraints are then checked). A pod's
    resourceVersion is the etcd revision
    of its last write, which here is its Binding (no kubelet updates the pods
    afterwards), so sorting by it gives the commit order. resourceVersion is
    opaque to API clients in general; this harness owns the only etcd it reads."""
    bound = [p for p in pods if p["spec"].get("nodeName")]
    bound.sort(key=lambda p: int(p["metadata"]["resourceVersion"]))
    unbound, placed = [], {}
    for p in bound:
        placed[p["metadata"]["uid"]] = p["spec"]["nodeName"]
        copy = {**p, "kind": "Pod", "spec": {**p["spec"]}}
        del copy["spec"]["nodeName"]
        unbound.append(copy)
    return unbound, placed
