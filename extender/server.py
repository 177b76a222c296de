"""`podsift serve`: the app under gunicorn, one worker process owning the state.

Why one worker: the cluster state (node table, pod index, assumed binds) lives
in the worker's memory. A second worker would hold a second copy that sees only
the binds routed to it, and the two would diverge; kube-scheduler would then be
told different things on every other request. Concurrency comes from threads
inside the one worker (gthread): /healthz and /metrics keep answering while a
verb computes.

Everything that can be wrong with the command line is checked in the master,
before gunicorn forks the worker, and ends in one line and exit code 2 (a
failure inside the worker would end in gunicorn's traceback and "Worker failed
to boot"): the policy configuration, the kubeconfig or in-cluster
configuration (loaded, not contacted: an unreachable API server is a runtime
condition, /readyz 503 while the watcher retries), and a snapshot, which is
loaded into the cluster state right there. The worker inherits that state
through the fork instead of loading the file a second time; it is frozen out
of the cyclic GC before the fork, so the collector does not write to its pages
and they stay shared with the idle master (copy-on-write) until the worker
changes them. Threads (the watch, the bind sweeper) start only in the worker.
"""

from __future__ import annotations

import cProfile
import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from gunicorn.app.base import BaseApplication

from extender import logs
from extender.cache.gcpolicy import freeze_long_lived
from extender.cache.state import ClusterState
from extender.engine.config import load_configuration
from extender.engine.engine import Engine
from extender.model import selectors
from extender.model.documents import decode_json_or_yaml
from extender.model.errors import ConfigError
from extender.wire import metrics
from extender.wire.access import ClientAllowList
from extender.wire.app import DEFAULT_MAX_BODY, ExtenderApp
from extender.wire.restarts import WorkerRestarts
from extender.wire.service import Service, SnapshotBinder
from extender.wire.worker import worker_class

log = logging.getLogger("podsift.server")

DEFAULT_LISTEN = "127.0.0.1:8888"
NO_SOURCE = "no cluster to serve: give --snapshot, --kubeconfig or --in-cluster"


@dataclass
class ServeOptions:
    listen: str = DEFAULT_LISTEN
    config: str | None = None
    snapshot: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool = False
    path_prefix: str = ""
    threads: int = 4
    max_body: int = DEFAULT_MAX_BODY
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # client identities (subject CN, DNS or URI SAN) that may call the verbs; empty: any
    tls_client_allow: tuple[str, ...] = ()
    log_level: str = "info"
    log_format: str = "text"
    profile: str | None = None  # the KubeSchedulerConfiguration profile to serve
    cpu_profile: str | None = None  # write a cProfile of request handling here
    # Items of a cluster `List` to serve when no source file is given: the CLI
    # fills it with a synthetic cluster (bench.workload), so serving never imports bench.
    items: list[dict] | None = None
    keepalive: int = 75
    read_timeout: int = 10  # seconds for a TLS handshake, or a request's headers and body


@dataclass
class Prepared:
    """What the master checks and builds before the fork; the worker inherits it."""

    state: ClusterState | None = None  # snapshot or synthetic cluster, loaded and ready
    api: Any = None  # live mode: the loaded API client (no connection opened yet)
    # The policy configuration the master checked: a restarted worker uses it rather
    # than reading a file that may have changed or gone since (it would fail to boot,
    # and gunicorn would then stop the whole server).
    config: Any = None


def prepare(opts: ServeOptions) -> Prepared:
    """Load the cluster source, or raise a PodsiftError whose one line names the
    file, the object and the field (the CLI prints it and exits 2)."""
    if opts.snapshot:
        state = ClusterState()
        loaded = state.load_file(opts.snapshot)
        state.source = f"snapshot {opts.snapshot}"
        state.set_ready(True)
        log.info("loaded snapshot %s: %s", opts.snapshot, loaded.describe())
        return Prepared(state=state)
    if opts.kubeconfig or opts.in_cluster:
        return Prepared(api=load_live_api(opts))
    if opts.items is not None:
        state = ClusterState()
        loaded = state.load_items(opts.items)
        state.source = "synthetic"
        state.set_ready(True)
        log.warning(
            "no --snapshot or --kubeconfig given: serving a synthetic cluster of %d nodes "
            "(podsift synth's generator); bind changes only this in-memory copy",
            loaded.nodes,
        )
        return Prepared(state=state)
    raise ConfigError(NO_SOURCE)


def load_live_api(opts: ServeOptions) -> Any:
    """The API client from the kubeconfig or the pod's service account; a ConfigError
    in one line when that configuration cannot be loaded (nothing is contacted)."""
    from extender.live.client import KubeApi, load_api

    if opts.in_cluster:
        try:
            return KubeApi.in_cluster()
        except Exception as exc:  # the kubernetes loader raises several types
            raise ConfigError(
                f"--in-cluster: cannot load the pod's service-account configuration: {exc}"
            ) from None
    path = opts.kubeconfig or ""
    try:
        with open(path, "rb") as f:
            doc = decode_json_or_yaml(f.read(), f"--kubeconfig {path}")
    except OSError as exc:
        raise ConfigError(f"--kubeconfig {path}: {exc.strerror}") from None
    except ValueError as exc:  # names the file; YAML errors span several lines
        raise ConfigError(" ".join(str(exc).split())) from None
    if not isinstance(doc, dict):
        raise ConfigError(
            f"--kubeconfig {path}: not a kubeconfig (a mapping with clusters, users and contexts)"
        )
    try:
        api = load_api(path)
    except Exception as exc:  # a YAML error, ConfigException, or a TypeError on a wrong shape
        message = " ".join(str(exc).split())  # the YAML errors span several lines
        raise ConfigError(
            f"--kubeconfig {path}: cannot load: {type(exc).__name__}: {message}"
        ) from None
    if not api.host.startswith(("http://", "https://")):
        raise ConfigError(f"--kubeconfig {path}: the current context's cluster has no server URL")
    return api


def build_app(
    opts: ServeOptions, prepared: Prepared | None = None, restarts: WorkerRestarts | None = None
) -> tuple[ExtenderApp, Any]:
    """Build engine and app around the prepared source (prepared here when None; the
    threads of live mode start here, in the worker); returns (app, watcher or None).
    `restarts` counts binds held only in memory and adds its notes to /readyz."""
    if prepared is not None and prepared.config is not None:
        engine = Engine(prepared.config)
    else:
        engine = Engine(load_configuration(opts.config, opts.profile))
    if prepared is None:
        prepared = prepare(opts)
    watcher = None
    if prepared.state is not None:
        state = prepared.state
        binder: Any = SnapshotBinder(state, restarts.bind_applied if restarts else None)
    else:
        from extender.live.binder import ApiBinder
        from extender.live.watcher import ClusterWatcher

        state = ClusterState()
        watcher = ClusterWatcher(state, prepared.api, owners=engine.needs_owners())
        binder = ApiBinder(state, prepared.api)
        state.source = f"kubeconfig {opts.kubeconfig}" if opts.kubeconfig else "in-cluster"
        metrics.register_source("watch", watcher.stats)
        watcher.start()
        binder.start()
        metrics.register_source("binder", binder.stats)
        log.info("watching the API server (%s)", state.source)
    metrics.register_source("cache", state.stats)
    metrics.register_source("selectors", selectors.cache_stats)
    metrics.register_source("memo", metrics.memo_source)
    if engine.spec_cache is not None:
        metrics.register_source("spec_cache", engine.spec_cache.stats)
    if restarts is not None:
        metrics.register_source("worker", restarts.stats)
    # The long-lived state is made once; freezing it keeps full GC passes from
    # walking it on every collection (a pause the extender timeout cannot afford).
    freeze_long_lived()
    app = ExtenderApp(
        Service(state, engine, binder),
        path_prefix=opts.path_prefix,
        max_body=opts.max_body,
        readiness_notes=restarts.readiness_notes if restarts else None,
    )
    return app, watcher


class ProfiledApp:
    """Profiles every request into one cProfile (requests serialized while profiling),
    timed in the thread's CPU time: a wall-clock profile charged a request with the
    waits for the GIL held by the poller, the watch threads and the other requests,
    and with the Binding's round trip to the API server."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.path = path
        self.profile = cProfile.Profile(time.thread_time)  # CPU, not waits
        self.waits_on_io = getattr(app, "waits_on_io", frozenset())  # for the worker
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        with self.lock:
            self.profile.enable()
            try:
                return self.app(environ, start_response)
            finally:
                self.profile.disable()

    def dump(self) -> None:
        with self.lock:
            self.profile.dump_stats(self.path)
        log.info("wrote CPU profile of the server to %s", self.path)


class PodsiftServer(BaseApplication):
    def __init__(
        self,
        opts: ServeOptions,
        prepared: Prepared | None = None,
        restarts: WorkerRestarts | None = None,
    ) -> None:
        self.opts = opts
        self.prepared = prepared
        self.restarts = restarts  # made in the master, shared by every worker it forks
        self.application: Any = None
        super().__init__()

    def load_config(self) -> None:
        o = self.opts
        settings: dict[str, Any] = {
            "bind": [o.listen],
            "workers": 1,
            # gthread's thread pool; the poller waits for whole requests (wire/worker.py)
            "worker_class": worker_class(o.max_body, o.read_timeout),
            "threads": o.threads,
            "keepalive": o.keepalive,
            "timeout": 120,
            "graceful_timeout": 10,
            "accesslog": None,
            "logconfig_dict": logs.gunicorn_logconfig(o.log_level, o.log_format),
            "proc_name": "podsift",
            "worker_exit": self._worker_exit,
        }
        if o.tls_cert or o.tls_key:
            if not (o.tls_cert and o.tls_key):
                raise ConfigError("--tls-cert and --tls-key must be given together")
            settings["certfile"] = o.tls_cert
            settings["keyfile"] = o.tls_key
        if o.tls_client_ca:
            if not o.tls_cert:
                raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
            settings["ca_certs"] = o.tls_client_ca
            settings["cert_reqs"] = ssl.CERT_REQUIRED
        known = self.cfg.settings
        if "control_socket_disable" in known:
            # gunicorn >= 24's control socket lives at one fixed path per user; two
            # podsift servers on one host (a test run, two profiles) would fight over it.
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        if self.restarts is not None:
            self.restarts.worker_started()
            for note in self.restarts.readiness_notes():
                log.error("%s", note)
        app: Any
        app, _ = build_app(self.opts, self.prepared, self.restarts)
        if self.opts.tls_client_allow:
            app = ClientAllowList(app, self.opts.tls_client_allow)
        if self.opts.cpu_profile:
            app = ProfiledApp(app, self.opts.cpu_profile)
        self.application = app
        return app

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if isinstance(self.application, ProfiledApp):
            self.application.dump()


def serve(opts: ServeOptions) -> int:
    logs.configure(opts.log_level, opts.log_format)
    # Fail fast in the master on a bad configuration or unreadable file, with a clear
    # message, instead of a worker that dies at boot and is restarted forever.
    config = load_configuration(opts.config, opts.profile)
    Engine(config)  # unknown policies and bad args fail here
    for warning in config.warnings:  # logged here, once, not again by the worker
        log.warning("%s", warning)
    if not (opts.snapshot or opts.kubeconfig or opts.in_cluster or opts.items is not None):
        raise ConfigError(NO_SOURCE)
    for path in (opts.snapshot, opts.kubeconfig, opts.tls_cert, opts.tls_key, opts.tls_client_ca):
        if path and not os.path.isfile(path):
            raise ConfigError(f"file not found: {path}")
    if opts.tls_client_allow:
        if not opts.tls_client_ca:
            raise ConfigError("--tls-client-allow needs --tls-client-ca (mutual TLS)")
        if not all(name.strip() for name in opts.tls_client_allow):
            raise ConfigError("--tls-client-allow: an identity must not be empty")
    prepared = prepare(opts)  # a bad snapshot or kubeconfig fails here, in one line
    prepared.config = config
    restarts = WorkerRestarts(opts.snapshot, binds_are_state=prepared.state is not None)
    if prepared.state is not None:
        freeze_long_lived()  # before the fork: the worker's GC then leaves these pages shared
    # the synthetic items are in the state now; neither process needs the raw dicts
    PodsiftServer(replace(opts, items=None), prepared, restarts).run()
    return 0
