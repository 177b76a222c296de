"""`podsift serve`: the app under gunicorn, one worker process owning the state.

Why one worker: the cluster state (node table, pod index, assumed binds) lives
in the worker's memory. A second worker would hold a second copy that sees only
the binds routed to it, and the two would diverge; kube-scheduler would then be
told different things on every other request. Concurrency comes from threads
inside the one worker (gthread): /healthz and /metrics keep answering while a
verb computes. The state is built in the worker after the fork (gunicorn's
`load()`), never in the master.
"""

from __future__ import annotations

import cProfile
import logging
import os
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from extender import logs
from extender.cache.gcpolicy import freeze_long_lived
from extender.cache.state import ClusterState
from extender.engine.config import load_configuration
from extender.engine.engine import Engine
from extender.model import selectors
from extender.model.errors import ConfigError
from extender.wire import metrics
from extender.wire.app import DEFAULT_MAX_BODY, ExtenderApp
from extender.wire.service import Service, SnapshotBinder

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
    log_level: str = "info"
    log_format: str = "text"
    profile: str | None = None  # the KubeSchedulerConfiguration profile to serve
    cpu_profile: str | None = None  # write a cProfile of request handling here
    # Items of a cluster `List` to serve when no source file is given: the CLI
    # fills it with a synthetic cluster (bench.workload), so serving never imports bench.
    items: list[dict] | None = None
    keepalive: int = 75


def build_app(opts: ServeOptions) -> tuple[ExtenderApp, Any]:
    """Build state, engine and app; returns (app, the live watcher or None)."""
    engine = Engine(load_configuration(opts.config, opts.profile))
    state = ClusterState()
    binder = SnapshotBinder(state)
    watcher = None
    if opts.snapshot:
        n, p = state.load_file(opts.snapshot)
        state.source = f"snapshot {opts.snapshot}"
        state.set_ready(True)
        log.info("loaded snapshot %s: %d nodes, %d pods", opts.snapshot, n, p)
    elif opts.kubeconfig or opts.in_cluster:
        from extender.live.binder import ApiBinder
        from extender.live.client import KubeApi, load_api
        from extender.live.watcher import ClusterWatcher

        api = KubeApi.in_cluster() if opts.in_cluster else load_api(opts.kubeconfig)
        watcher = ClusterWatcher(state, api)
        binder = ApiBinder(state, api)
        state.source = f"kubeconfig {opts.kubeconfig}" if opts.kubeconfig else "in-cluster"
        metrics.register_source("watch", watcher.stats)
        watcher.start()
        binder.start()
        metrics.register_source("binder", binder.stats)
        log.info("watching the API server (%s)", state.source)
    elif opts.items is not None:
        n, p = state.load_items(opts.items)
        state.source = "synthetic"
        state.set_ready(True)
        log.warning(
            "no --snapshot or --kubeconfig given: serving a synthetic cluster of %d nodes "
            "(podsift synth's generator); bind changes only this in-memory copy",
            n,
        )
    else:
        raise ConfigError(NO_SOURCE)
    metrics.register_source("cache", state.stats)
    metrics.register_source("selectors", selectors.cache_stats)
    # The long-lived state is made once; freezing it keeps full GC passes from
    # walking it on every collection (a pause the extender timeout cannot afford).
    freeze_long_lived()
    app = ExtenderApp(
        Service(state, engine, binder), path_prefix=opts.path_prefix, max_body=opts.max_body
    )
    return app, watcher


class ProfiledApp:
    """Profiles every request into one cProfile (requests serialized while profiling)."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.path = path
        self.profile = cProfile.Profile()
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
    def __init__(self, opts: ServeOptions) -> None:
        self.opts = opts
        self.application: Any = None
        super().__init__()

    def load_config(self) -> None:
        o = self.opts
        settings: dict[str, Any] = {
            "bind": [o.listen],
            "workers": 1,
            "worker_class": "gthread",
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
        app, _ = build_app(self.opts)
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
    PodsiftServer(opts).run()
    return 0
