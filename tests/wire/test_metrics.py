"""The metrics module: names, labels, values, pull-style sources, thread safety."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from extender.wire import metrics
from extender.wire.metrics import LATENCY_BUCKETS, Metrics

ALLOWED_LABELS = {"verb", "outcome", "result", "le"}


def scrape(m: Metrics) -> dict[str, dict[tuple, float]]:
    """Sample name -> {sorted label items: value}, parsed back from the text format."""
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def families(m: Metrics):
    return list(text_string_to_metric_families(m.render()[0].decode()))


def test_request_counts_and_latency_buckets():
    m = Metrics(process_metrics=False)
    m.observe_request("filter", "ok", 0.0003)
    m.observe_request("filter", "ok", 0.002)
    m.observe_request("filter", "bad_request", 0.00005)
    m.observe_request("prioritize", "error", 7.0)
    s = scrape(m)
    assert s["podsift_requests_total"][(("outcome", "ok"), ("verb", "filter"))] == 2
    assert s["podsift_requests_total"][(("outcome", "bad_request"), ("verb", "filter"))] == 1
    assert s["podsift_requests_total"][(("outcome", "error"), ("verb", "prioritize"))] == 1
    buckets = s["podsift_request_duration_seconds_bucket"]
    assert buckets[(("le", "0.0001"), ("verb", "filter"))] == 1
    assert buckets[(("le", "0.00025"), ("verb", "filter"))] == 1
    assert buckets[(("le", "0.0005"), ("verb", "filter"))] == 2
    assert buckets[(("le", "0.0025"), ("verb", "filter"))] == 3
    assert buckets[(("le", "5.0"), ("verb", "prioritize"))] == 0
    assert buckets[(("le", "+Inf"), ("verb", "prioritize"))] == 1
    assert s["podsift_request_duration_seconds_count"][(("verb", "filter"),)] == 3
    assert s["podsift_request_duration_seconds_sum"][(("verb", "filter"),)] == pytest.approx(
        0.00235
    )


def test_buckets_span_a_tenth_of_a_millisecond_to_the_extender_timeout():
    assert LATENCY_BUCKETS[0] == 0.0001
    assert LATENCY_BUCKETS[-1] == 5.0
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))


def test_binds_by_outcome():
    m = Metrics(process_metrics=False)
    m.observe_bind("ok")
    m.observe_bind("ok")
    m.observe_bind("error")
    s = scrape(m)
    assert s["podsift_binds_total"] == {(("outcome", "ok"),): 2, (("outcome", "error"),): 1}


def test_sources_map_known_keys_and_ignore_the_rest():
    m = Metrics(process_metrics=False)
    m.register_source("state", lambda: {"nodes": 1000, "pods": 30000, "version": 17})
    m.register_source(
        "watch",
        lambda: {
            "events_applied": 40,
            "events_skipped": 2,
            "relists": 3,
            "relist_failures": 1,
            "reconnects": 5,
            "connected": 1,
        },
    )
    m.register_source("selectors", lambda: {"hits": 90, "misses": 10})
    s = scrape(m)
    assert s["podsift_cache_nodes"] == {(): 1000}
    assert s["podsift_cache_pods"] == {(): 30000}
    assert s["podsift_watch_events_total"] == {
        (("outcome", "applied"),): 40,
        (("outcome", "skipped"),): 2,
    }
    assert s["podsift_watch_relists_total"] == {(): 3}
    assert s["podsift_watch_relist_failures_total"] == {(): 1}
    assert s["podsift_watch_reconnects_total"] == {(): 5}
    assert s["podsift_selector_cache_requests_total"] == {
        (("result", "hit"),): 90,
        (("result", "miss"),): 10,
    }
    assert not any("version" in name or "connected" in name for name in s)


def test_sources_are_read_at_scrape_time_and_replaced_by_name():
    m = Metrics(process_metrics=False)
    state = {"nodes": 1}
    m.register_source("state", lambda: dict(state))
    assert scrape(m)["podsift_cache_nodes"] == {(): 1}
    state["nodes"] = 5
    assert scrape(m)["podsift_cache_nodes"] == {(): 5}
    m.register_source("state", lambda: {"nodes": 9})
    assert scrape(m)["podsift_cache_nodes"] == {(): 9}


def test_same_key_from_two_sources_is_summed():
    m = Metrics(process_metrics=False)
    m.register_source("a", lambda: {"hits": 2})
    m.register_source("b", lambda: {"hits": 3})
    assert scrape(m)["podsift_selector_cache_requests_total"] == {(("result", "hit"),): 5}


def test_a_failing_source_does_not_break_the_scrape(caplog):
    m = Metrics(process_metrics=False)

    def broken() -> dict[str, float]:
        raise RuntimeError("boom")

    m.register_source("broken", broken)
    m.register_source("state", lambda: {"nodes": 4})
    assert scrape(m)["podsift_cache_nodes"] == {(): 4}
    assert "broken" in caplog.text


def test_names_and_labels_follow_prometheus_conventions():
    m = Metrics(process_metrics=True)
    m.observe_request("filter", "ok", 0.001)
    m.observe_bind("ok")
    m.register_source(
        "all",
        lambda: {
            "nodes": 1,
            "pods": 1,
            "pending": 1,
            "events_applied": 1,
            "events_skipped": 1,
            "relists": 1,
            "relist_failures": 1,
            "reconnects": 1,
            "hits": 1,
            "misses": 1,
        },
    )
    seen = set()
    for family in families(m):
        if family.name.startswith(("process_", "python_")):
            continue
        assert family.name.startswith("podsift_"), family.name
        seen.add(family.name)
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            if family.type == "counter":
                assert sample.name.endswith("_total"), sample.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
    assert seen == {
        "podsift_request_duration_seconds",
        "podsift_requests",
        "podsift_binds",
        "podsift_cache_nodes",
        "podsift_cache_pods",
        "podsift_cache_pending_pods",
        "podsift_watch_events",
        "podsift_watch_relists",
        "podsift_watch_relist_failures",
        "podsift_watch_reconnects",
        "podsift_selector_cache_requests",
    }


def test_process_metrics_are_exported():
    names = {f.name for f in families(Metrics(process_metrics=True))}
    assert "process_resident_memory_bytes" in names


def test_concurrent_observations_are_not_lost():
    m = Metrics(process_metrics=False)
    threads, per_thread = 8, 2000

    def work() -> None:
        for _ in range(per_thread):
            m.observe_request("filter", "ok", 0.001)
            m.observe_bind("ok")

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    s = scrape(m)
    assert s["podsift_requests_total"][(("outcome", "ok"), ("verb", "filter"))] == 16000
    assert s["podsift_binds_total"][(("outcome", "ok"),)] == 16000


VERBS = st.sampled_from(["filter", "prioritize", "bind", "preempt", "explain"])
OUTCOMES = st.sampled_from(["ok", "error", "bad_request"])
SECONDS = st.floats(min_value=0, max_value=10, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(VERBS, OUTCOMES, SECONDS), max_size=40))
def test_counts_and_bucket_totals_match_the_observations(observations):
    m = Metrics(process_metrics=False)
    for verb, outcome, seconds in observations:
        m.observe_request(verb, outcome, seconds)
    s = scrape(m)
    expected = Counter((verb, outcome) for verb, outcome, _ in observations)
    got = {
        (dict(k)["verb"], dict(k)["outcome"]): v
        for k, v in s.get("podsift_requests_total", {}).items()
    }
    assert got == expected
    per_verb = Counter(verb for verb, _, _ in observations)
    for verb, n in per_verb.items():
        assert s["podsift_request_duration_seconds_count"][(("verb", verb),)] == n
        for bound in LATENCY_BUCKETS:
            below = sum(1 for v, _, sec in observations if v == verb and sec <= bound)
            key = (("le", str(bound)), ("verb", verb))
            assert s["podsift_request_duration_seconds_bucket"][key] == below


def test_module_level_functions_use_the_default_metrics():
    before = scrape(metrics.default).get("podsift_binds_total", {})
    metrics.observe_bind("test_outcome")
    body, content_type = metrics.render()
    assert b'podsift_binds_total{outcome="test_outcome"}' in body
    assert (
        before.get((("outcome", "test_outcome"),), 0) + 1
        == scrape(metrics.default)["podsift_binds_total"][(("outcome", "test_outcome"),)]
    )
    assert "text/plain" in content_type


def test_the_spec_cache_reports_hits_and_misses():
    from extender.engine.config import default_configuration
    from extender.engine.engine import Engine
    from tests.helpers import make_pod, make_state, node, pod

    engine = Engine(default_configuration())
    state = make_state([node("n0"), node("n1")])
    for uid in ("a", "b", "c"):
        view, _, _ = state.view(["n0", "n1"])
        engine.prioritize(make_pod(pod(uid, cpu="100m")), view)
    m = Metrics(process_metrics=False)
    m.register_source("spec_cache", engine.spec_cache.stats)
    s = scrape(m)
    assert s["podsift_spec_cache_requests_total"] == {
        (("result", "hit"),): 2,
        (("result", "miss"),): 1,
    }
    assert s["podsift_spec_cache_score_requests_total"] == {
        (("result", "hit"),): 2,
        (("result", "miss"),): 1,
    }
