"""Prometheus metrics for podsift, on a registry of its own.

Two kinds of metric live here:

- push-style, bumped on the request path: per-verb latency histograms, request
  counts by verb and outcome, binds by outcome. The labelled children are
  resolved once per label set and kept in plain dicts, so a call costs one dict
  lookup plus prometheus-client's own locked increments (about a microsecond).
- pull-style, read at scrape time: the cache, the watcher and the selector
  cache only bump plain ints and register a `source`, a callable returning a
  dict of numbers; a custom collector maps the known keys to metric families
  when /metrics is scraped. Unknown keys are ignored, so a source may carry
  more than it exports.

Labels are only `verb`, `outcome` and `result`, each with a handful of values:
never a node or pod name.

Why the numbers are right under gunicorn: podsift runs exactly one gunicorn
worker process (threads inside it) because that process owns the cluster
state. The same process serves /metrics, so every scrape reads the only copy
of every counter; the gunicorn master serves no request and its copy of this
module (if the app was preloaded) never moves. prometheus-client's
multiprocess mode, which merges per-process files, is therefore not needed. A
worker restart resets the counters, which Prometheus' rate() treats as the
counter reset it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from extender.model.memo import memo_stats

log = logging.getLogger(__name__)

# The `_created` series double every counter and histogram without telling a
# dashboard anything podsift's uptime does not; this process exports only podsift's.
disable_created_metrics()

#: Latency buckets in seconds, from 0.1 ms (a cached NodeNames filter) to 5 s
#: (kube-scheduler's default extender timeout).
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

SourceFn = Callable[[], dict[str, float]]

# How a key of a pull-style source becomes a sample:
# key -> (family name, kind, help text, label name or "", label value).
# Counter family names are given without "_total"; prometheus-client adds it.
#: the bounded tables of extender.model.memo.Memo, by name
MEMO_NAMES = (
    "pod_spec",
    "pod_spec_on_node",
    "pod_metadata",
    "selector",
    "selector_raw",
    "label_masks",
    "node_name_lists",
    "node_objects",
    "derived_columns",
    "spec_verdicts",
)


def _memo_key(name: str, what: str) -> tuple[str, str, str, str, str]:
    if what == "entries":
        doc = "Entries held by each bounded cache of podsift."
    else:
        doc = "Estimated bytes held by each bounded cache of podsift (README: Memory)."
    return (f"podsift_cache_{what}", "gauge", doc, "cache", name)


def memo_source() -> dict[str, float]:
    """Entries and estimated bytes of every bounded cache, for `register_source`."""
    out: dict[str, float] = {}
    for name, (entries, size) in memo_stats().items():
        out[f"memo_{name}_entries"] = entries
        out[f"memo_{name}_bytes"] = size
    return out


SOURCE_KEYS: dict[str, tuple[str, str, str, str, str]] = {
    "nodes": ("podsift_cache_nodes", "gauge", "Nodes in podsift's cluster cache.", "", ""),
    "pods": (
        "podsift_cache_pods",
        "gauge",
        "Pods assigned to nodes in podsift's cluster cache.",
        "",
        "",
    ),
    "pending": (
        "podsift_cache_pending_pods",
        "gauge",
        "Pending pods (no node yet) whose specs podsift keeps for /bind.",
        "",
        "",
    ),
    "events_applied": (
        "podsift_watch_events",
        "counter",
        "Watch events received, by whether they changed the cache.",
        "outcome",
        "applied",
    ),
    "events_skipped": (
        "podsift_watch_events",
        "counter",
        "Watch events received, by whether they changed the cache.",
        "outcome",
        "skipped",
    ),
    "relists": (
        "podsift_watch_relists",
        "counter",
        "Full relists of the cluster (at start, after an expired resource version).",
        "",
        "",
    ),
    "relist_failures": (
        "podsift_watch_relist_failures",
        "counter",
        "Relists that failed (the watcher retries with backoff).",
        "",
        "",
    ),
    "reconnects": (
        "podsift_watch_reconnects",
        "counter",
        "Watch streams reopened from the last resource version without a relist.",
        "",
        "",
    ),
    "remembered": _memo_key("remembered_pods", "entries"),
    "remembered_bytes": _memo_key("remembered_pods", "bytes"),
    "pending_bytes": _memo_key("pending_pods", "bytes"),
    "pending_refused": (
        "podsift_pending_pods_refused",
        "counter",
        "Pending pods from the watch not kept: past the bound on pending pods.",
        "",
        "",
    ),
    **{
        f"memo_{name}_{what}": _memo_key(name, what)
        for name in MEMO_NAMES
        for what in ("entries", "bytes")
    },
    "hits": (
        "podsift_selector_cache_requests",
        "counter",
        "Lookups of compiled node selectors, by cache result.",
        "result",
        "hit",
    ),
    "misses": (
        "podsift_selector_cache_requests",
        "counter",
        "Lookups of compiled node selectors, by cache result.",
        "result",
        "miss",
    ),
    "spec_cache_hits": (
        "podsift_spec_cache_requests",
        "counter",
        "Requests whose static filter verdicts came from the spec cache (hit) or judged "
        "nodes not judged before for that spec (miss).",
        "result",
        "hit",
    ),
    "spec_cache_misses": (
        "podsift_spec_cache_requests",
        "counter",
        "Requests whose static filter verdicts came from the spec cache (hit) or judged "
        "nodes not judged before for that spec (miss).",
        "result",
        "miss",
    ),
    "spec_cache_score_hits": (
        "podsift_spec_cache_score_requests",
        "counter",
        "Scorings that reused a spec's static score columns (hit) or computed them (miss).",
        "result",
        "hit",
    ),
    "spec_cache_score_misses": (
        "podsift_spec_cache_score_requests",
        "counter",
        "Scorings that reused a spec's static score columns (hit) or computed them (miss).",
        "result",
        "miss",
    ),
    "worker_restarts": (
        "podsift_worker_restarts",
        "counter",
        "Workers the gunicorn master forked after the first (the one before died).",
        "",
        "",
    ),
    "binds_lost": (
        "podsift_binds_lost",
        "counter",
        "Binds held only in memory (snapshot mode) that died with a worker.",
        "",
        "",
    ),
}


class SourceCollector(Collector):
    """Turns the registered pull-style sources into metric families at scrape time.

    Values of the same key from several sources are added up. A source that
    raises is logged and skipped: a broken source must not break the scrape.
    """

    def __init__(self) -> None:
        self._sources: dict[str, SourceFn] = {}
        self._lock = threading.Lock()

    def register(self, name: str, fn: SourceFn) -> None:
        with self._lock:
            self._sources[name] = fn

    def unregister(self, name: str) -> None:
        with self._lock:
            self._sources.pop(name, None)

    def _totals(self) -> dict[str, float]:
        with self._lock:
            sources = list(self._sources.items())
        totals: dict[str, float] = {}
        for name, fn in sources:
            try:
                values = fn()
            except Exception:
                log.exception("metrics source %r failed; its values are left out", name)
                continue
            for key, value in values.items():
                if key in SOURCE_KEYS:
                    totals[key] = totals.get(key, 0) + value
        return totals

    def collect(self) -> Iterable[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for key, value in self._totals().items():
            family_name, kind, doc, label, label_value = SOURCE_KEYS[key]
            family = families.get(family_name)
            if family is None:
                family_type = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
                family = family_type(family_name, doc, labels=[label] if label else None)
                families[family_name] = family
            family.add_metric([label_value] if label else [], value)
        return list(families.values())

    def describe(self) -> Iterable[Metric]:
        # Families depend on what the sources return; describing none keeps
        # registration from calling the sources.
        return []


class Metrics:
    """One set of podsift metrics on its own registry (tests build fresh ones)."""

    def __init__(self, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.request_seconds = Histogram(
            "podsift_request_duration_seconds",
            "Time to answer an extender or explain request, by verb.",
            ["verb"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "podsift_requests",
            "Requests answered, by verb and outcome (ok, error, bad_request, ...).",
            ["verb", "outcome"],
            registry=self.registry,
        )
        self.binds = Counter(
            "podsift_binds",
            "Bind requests, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.sources = SourceCollector()
        self.registry.register(self.sources)
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        # Resolved children, so the hot path skips .labels() (which validates and locks).
        self._latency_children: dict[str, object] = {}
        self._request_children: dict[tuple[str, str], object] = {}
        self._bind_children: dict[str, object] = {}

    def observe_request(self, verb: str, outcome: str, seconds: float) -> None:
        """Count one answered request and record its latency."""
        try:
            latency = self._latency_children[verb]
        except KeyError:
            latency = self._latency_children.setdefault(
                verb, self.request_seconds.labels(verb=verb)
            )
        latency.observe(seconds)
        key = (verb, outcome)
        try:
            count = self._request_children[key]
        except KeyError:
            count = self._request_children.setdefault(
                key, self.requests.labels(verb=verb, outcome=outcome)
            )
        count.inc()

    def observe_bind(self, outcome: str) -> None:
        """Count one bind by outcome (ok, error, ...)."""
        try:
            count = self._bind_children[outcome]
        except KeyError:
            count = self._bind_children.setdefault(outcome, self.binds.labels(outcome=outcome))
        count.inc()

    def register_source(self, name: str, fn: SourceFn) -> None:
        """Read `fn()` at every scrape; registering a name again replaces the old source."""
        self.sources.register(name, fn)

    def render(self) -> tuple[bytes, str]:
        """The exposition-format body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


#: The process-wide metrics the app uses.
default = Metrics()

observe_request = default.observe_request
observe_bind = default.observe_bind
register_source = default.register_source
render = default.render
