"""Raw HTTP plumbing to the Kubernetes API server: list, watch, bind.

The kubernetes package is used only to load a kubeconfig or the in-cluster
configuration (host, TLS files, bearer token with its refresh hook). Lists and
watches go through urllib3 and bodies are decoded with orjson into plain dicts:
the client's model objects cost ~1 ms and ~59 KiB per pod (docs/PERFORMANCE.md),
far too much for a watch stream carrying thousands of pod updates. Bindings,
one a pod, go through extender.live.httppost (a fraction of urllib3's CPU a
request), except through an HTTP proxy.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import urllib3

from extender.live.httppost import HttpPoster, PostError, client_context
from extender.model.errors import BindError, PodsiftError

log = logging.getLogger("podsift.api")

# Read size for watch streams; a chunk usually holds one event.
_READ_SIZE = 64 * 1024
# how long a bearer token read from the loaded configuration is reused (seconds)
TOKEN_REUSE_S = 1.0


class ApiError(PodsiftError):
    """A non-2xx answer from the API server, with the Status's reason and message."""

    def __init__(self, status: int, reason: str = "", message: str = "") -> None:
        self.status = status
        self.reason = reason
        self.message = message
        text = f"HTTP {status}" + (f" {reason}" if reason else "")
        super().__init__(text + (f": {message}" if message else ""))

    @property
    def gone(self) -> bool:
        """410 Gone / Expired: the resourceVersion or continue token is too old; relist."""
        return self.status == 410


def status_error(status: int, body: bytes) -> ApiError:
    """Build an ApiError from a response body that is (usually) a metav1.Status."""
    reason, message = "", ""
    try:
        doc = orjson.loads(body) if body else {}
        if isinstance(doc, dict):
            reason = str(doc.get("reason") or "")
            message = str(doc.get("message") or "")
    except orjson.JSONDecodeError:
        message = body[:200].decode("utf-8", "replace")
    return ApiError(status, reason, message)


class WatchStream:
    """One open watch response; iterate for decoded events, `close()` from any thread.

    Events are split on newlines across chunk boundaries; a trailing partial
    line (connection cut mid-event) is never decoded, so the caller resumes from
    the last complete event's resourceVersion.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._closed = False
        self.truncated = False  # the stream ended inside an event (partial line dropped)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        parts: list[bytes] = []
        for chunk in self._response.stream(_READ_SIZE, decode_content=True):
            newline = chunk.find(b"\n")
            if newline == len(chunk) - 1 > 0 and not parts:  # the usual case: one whole event
                yield loads(chunk)
                continue
            if newline < 0:
                parts.append(chunk)
                continue
            if parts:
                parts.append(chunk)
                chunk = b"".join(parts)
                parts = []
            lines = chunk.split(b"\n")
            tail = lines.pop()
            if tail:
                parts.append(tail)
            for line in lines:
                if line:
                    yield loads(line)
        self.truncated = bool(parts)

    def close(self) -> None:
        """Abort the stream; a thread blocked reading it wakes with an error or EOF."""
        if self._closed:
            return
        self._closed = True
        try:
            self._response.shutdown()
        except Exception:  # noqa: BLE001 - best effort from another thread
            pass
        try:
            self._response.release_conn()
        except Exception:  # noqa: BLE001
            pass


class KubeApi:
    """A minimal API-server client: paginated list pages, watch streams, Binding POSTs.

    Thread-safe: the pool is shared by the watch threads and request threads.
    """

    def __init__(
        self,
        host: str,
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        verify: bool = True,
        tls_server_name: str | None = None,
        proxy: str | None = None,
        token_source: Any = None,
        connect_timeout: float = 5.0,
        request_timeout: float = 60.0,
        bind_timeout: float = 4.0,
    ) -> None:
        """`token_source()` returns the Authorization header value (or None) per request."""
        self.host = host.rstrip("/")
        self._token_source = token_source
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._bind_timeout = bind_timeout
        pool_args: dict[str, Any] = {"maxsize": 8, "block": False, "retries": False}
        if self.host.startswith("https"):
            pool_args["cert_reqs"] = "CERT_REQUIRED" if verify else "CERT_NONE"
            if ca_file:
                pool_args["ca_certs"] = ca_file
            if cert_file:
                pool_args["cert_file"] = cert_file
            if key_file:
                pool_args["key_file"] = key_file
            if tls_server_name:
                pool_args["server_hostname"] = tls_server_name
            if not verify:
                pool_args["assert_hostname"] = False
                # said once here, not by urllib3 on every request (a warning per watch
                # event and per bind would bury every other line of the log)
                log.warning(
                    "the API server's certificate at %s is not verified "
                    "(insecure-skip-tls-verify in the kubeconfig)",
                    self.host,
                )
                insecure = urllib3.exceptions.InsecureRequestWarning
                warnings.filterwarnings("ignore", category=insecure)
        # Bindings: HttpPoster, with the same TLS settings in one SSLContext built on
        # the first connection. Through a proxy they stay on urllib3, which tunnels
        # https with CONNECT (and proxy authentication); HttpPoster only speaks to
        # the API server directly.
        self._poster: HttpPoster | None = None
        if proxy:
            self._pool: urllib3.PoolManager = urllib3.ProxyManager(proxy, **pool_args)
        else:
            self._pool = urllib3.PoolManager(**pool_args)
            try:
                self._poster = HttpPoster(
                    self.host,
                    headers={
                        "Accept": "application/json",
                        "User-Agent": "podsift",
                        "Content-Type": "application/json",
                    },
                    context_factory=lambda: client_context(ca_file, cert_file, key_file, verify),
                    tls_files=(ca_file, cert_file, key_file) if verify else (cert_file, key_file),
                    server_hostname=tls_server_name,
                    connect_timeout=connect_timeout,
                )
            except ValueError:
                pass  # no http(s) URL: the caller reports it (load_live_api), urllib3 fails
        self._token_lock = threading.Lock()

    # -- construction from the kubernetes package's loaders ---------------------------

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None) -> KubeApi:
        """Load FILE (or ~/.kube/config when None) with kubernetes.config's loader."""
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(
            config_file=path, context=context, client_configuration=cfg, persist_config=False
        )
        return cls.from_configuration(cfg)

    @classmethod
    def in_cluster(cls) -> KubeApi:
        """The pod's service-account configuration (token re-read as it rotates)."""
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return cls.from_configuration(cfg)

    @classmethod
    def from_configuration(cls, cfg: Any) -> KubeApi:
        """Take host, TLS and auth from a loaded kubernetes.client.Configuration."""

        cached: list[Any] = [None, -TOKEN_REUSE_S]  # value, when it was read

        def token() -> str | None:
            # The refresh hook load_kube_config installs builds a new Configuration
            # on every call, which reads every proxy variable of the environment:
            # about 0.2 ms, once per Binding. A token lives for minutes at the least.
            now = time.monotonic()
            if now - cached[1] >= TOKEN_REUSE_S:
                auth = cfg.auth_settings().get("BearerToken")  # runs the refresh hook
                cached[0], cached[1] = (auth["value"] if auth else None), now
            return cached[0]

        return cls(
            cfg.host,
            ca_file=cfg.ssl_ca_cert,
            cert_file=cfg.cert_file,
            key_file=cfg.key_file,
            verify=bool(cfg.verify_ssl),
            tls_server_name=getattr(cfg, "tls_server_name", None),
            proxy=getattr(cfg, "proxy", None),
            token_source=token,
        )

    # -- requests --------------------------------------------------------------------

    def _token(self) -> str | None:
        """The Authorization header's value, if any."""
        if self._token_source is None:
            return None
        with self._token_lock:
            return self._token_source()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "podsift"}
        value = self._token()
        if value:
            headers["Authorization"] = value
        if extra:
            headers.update(extra)
        return headers

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        return f"{self.host}{path}" + (f"?{urlencode(query)}" if query else "")

    def list(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET one list page (the caller paginates); raises ApiError on non-2xx."""
        try:
            resp = self._pool.request(
                "GET",
                self._url(path, params),
                headers=self._headers(),
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=self._request_timeout),
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, "ConnectionError", str(exc)) from exc
        if resp.status // 100 != 2:
            raise status_error(resp.status, resp.data)
        return orjson.loads(resp.data)

    def watch(
        self, path: str, params: dict[str, Any] | None = None, *, read_timeout: float = 90.0
    ) -> WatchStream:
        """Open a watch; `read_timeout` bounds each socket read (stall detection)."""
        query = dict(params or {})
        query["watch"] = "1"
        try:
            resp = self._pool.request(
                "GET",
                self._url(path, query),
                headers=self._headers(),
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=read_timeout),
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, "ConnectionError", str(exc)) from exc
        if resp.status // 100 != 2:
            body = resp.read()
            resp.release_conn()
            raise status_error(resp.status, body)
        return WatchStream(resp)

    def bind(self, namespace: str, name: str, uid: str, node: str) -> None:
        """POST the pod's Binding (as kube-scheduler's DefaultBinder does, with the UID
        as precondition); any failure raises BindError with the API's reason."""
        body = orjson.dumps(
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace, "uid": uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            }
        )
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}/binding"
        what = f"binding pod {namespace}/{name} to node {node}"
        if self._poster is not None:
            token = self._token()
            try:
                answer = self._poster.post(
                    path, body, self._bind_timeout, {"Authorization": token} if token else None
                )
            except PostError as exc:
                raise BindError(f"{what}: API server unreachable: {exc}") from exc
            if answer.status // 100 != 2:
                raise BindError(f"{what}: {status_error(answer.status, answer.body)}")
            return
        try:
            resp = self._pool.request(
                "POST",
                self._url(path, None),
                body=body,
                headers=self._headers({"Content-Type": "application/json"}),
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=self._bind_timeout),
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise BindError(f"{what}: API server unreachable: {exc}") from exc
        if resp.status // 100 != 2:
            err = status_error(resp.status, resp.data)
            raise BindError(f"{what}: {err}")

    def close(self) -> None:
        self._pool.clear()
        if self._poster is not None:
            self._poster.close()


def load_api(kubeconfig: str | None = None, context: str | None = None) -> KubeApi:
    """A KubeApi from FILE when given, else in-cluster config, else ~/.kube/config."""
    if kubeconfig:
        return KubeApi.from_kubeconfig(kubeconfig, context)
    from kubernetes import config

    try:
        return KubeApi.in_cluster()
    except config.ConfigException:
        return KubeApi.from_kubeconfig(None, context)
