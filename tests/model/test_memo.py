"""Memo, and every cache built on it: bounded in entries and in estimated bytes."""

from __future__ import annotations

import orjson
import pytest

from extender.model import pod as podinfo
from extender.model import resources, selectors
from extender.model.memo import Memo, memo_stats


def test_the_least_recently_used_entry_goes_first() -> None:
    memo = Memo("t", max_entries=2, max_bytes=1000)
    memo.put("a", 1, 10)
    memo.put("b", 2, 10)
    assert memo.get("a") == 1  # a is now the most recent
    memo.put("c", 3, 10)
    assert memo.get("b") is None and memo.get("a") == 1 and memo.get("c") == 3
    assert (len(memo), memo.bytes, memo.evictions) == (2, 20, 1)


def test_bytes_bound_evicts_and_too_big_entries_are_not_stored() -> None:
    memo = Memo("t", max_entries=100, max_bytes=100, max_entry_bytes=60)
    for i in range(10):
        memo.put(i, i, 30)
    assert memo.bytes <= 100 and len(memo) == 3
    assert memo.put("big", "x", 61) is False
    assert "big" not in memo and memo.refused == 1
    memo.put(9, "again", 50)  # replacing recharges
    assert memo.bytes == 80 and memo.get(9) == "again"
    assert memo.pop(9) == "again" and memo.bytes == 30


def test_none_values_are_cached() -> None:
    memo = Memo("t", 4, 100)
    memo.put("k", None, 1)
    assert memo.get("k", memo) is None and memo.get("other", memo) is memo


def test_stats_sum_live_tables_by_name() -> None:
    a, b = Memo("stats-test", 4, 100), Memo("stats-test", 4, 100)
    a.put(1, 1, 7)
    b.put(1, 1, 5)
    assert memo_stats()["stats-test"] == (2, 12)


def _pod(i: int, spec_extra: dict) -> dict:
    spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}], **spec_extra}
    return {"metadata": {"name": f"p{i}", "uid": f"u{i}"}, "spec": spec}


def test_spec_cache_is_bounded_in_bytes() -> None:
    podinfo.clear_cache()
    for i in range(300):  # 300 x 256 KiB of distinct unknown fields: 75 MiB of specs
        podinfo.parse_pod(_pod(i, {"x": "a" * 262_144 + str(i)}))
    cache = podinfo._spec_cache
    assert 0 < cache.bytes <= podinfo.SPEC_CACHE_BYTES
    assert len(cache) < 300
    big = _pod(0, {"x": "a" * (podinfo.MAX_SPEC_BYTES + 1)})
    before = cache.refused
    podinfo.parse_pod(big)
    assert cache.refused == before + 1
    podinfo.clear_cache()


def test_a_big_selector_is_compiled_but_not_interned() -> None:
    selectors.clear_cache()
    sel = {f"k{j}.example.com/x": "v" for j in range(20_000)}  # ~540 KB of JSON
    compiled = selectors.compile_label_map(sel)
    assert compiled is not None and len(compiled.terms[0].requirements) == 20_000
    assert compiled.footprint > selectors.MAX_SELECTOR_BYTES
    assert len(selectors._by_key) == 0 and len(selectors._by_raw) == 0
    assert selectors.compile_label_map(sel) is not compiled  # compiled again, not kept
    small = selectors.compile_label_map({"zone": "a"})
    assert selectors.compile_label_map({"zone": "a"}) is small


def test_selector_cache_stays_within_its_bytes() -> None:
    selectors.clear_cache()
    for i in range(60):  # each ~130 KB of JSON, charged ~3 MB: more than fit
        selectors.compile_label_map({f"k{j}-{i}.example.com/x": "v" for j in range(5_000)})
    assert selectors._by_key.bytes <= selectors.CACHE_BYTES
    assert selectors._by_raw.bytes <= selectors.CACHE_BYTES
    assert len(selectors._by_key) < 60
    selectors.clear_cache()


def test_pod_footprint_counts_what_the_pod_holds() -> None:
    podinfo.clear_cache()
    plain = podinfo.parse_pod(_pod(1, {}))
    tolerations = [{"key": f"k{i}", "operator": "Exists"} for i in range(1000)]
    tolerant = podinfo.parse_pod(_pod(2, {"tolerations": tolerations}))
    labelled = podinfo.parse_pod(
        {**_pod(3, {}), "metadata": {"uid": "u3", "labels": {"a" * 10_000: "b"}}}
    )
    assert plain.footprint < 1_000
    assert tolerant.footprint > 100_000
    assert labelled.footprint > 10_000


def test_metadata_maps_too_big_to_share_are_not_interned() -> None:
    podinfo.clear_cache()
    labels = {f"k{i}": "v" for i in range(5_000)}
    pod = podinfo.parse_pod({**_pod(1, {}), "metadata": {"uid": "u", "labels": labels}})
    assert dict(pod.labels) == labels
    assert len(podinfo._metadata_maps) == 0
    small = podinfo.parse_pod({**_pod(2, {}), "metadata": {"uid": "v", "labels": {"a": "b"}}})
    again = podinfo.parse_pod({**_pod(3, {}), "metadata": {"uid": "w", "labels": {"a": "b"}}})
    assert small.labels is again.labels


@pytest.mark.parametrize("length", [10, 400, 1 << 20])
def test_resource_names_past_any_valid_length_are_not_cached(length: int) -> None:
    resources._is_tracked_cached.cache_clear()
    name = "example.com/" + "a" * length
    assert resources.is_tracked_resource(name) == resources._is_tracked(name)
    cached = resources._is_tracked_cached.cache_info().currsize
    assert cached == (1 if length < 320 else 0)


def test_spec_key_json_is_what_is_charged() -> None:
    podinfo.clear_cache()
    obj = _pod(1, {"x": "y" * 1000})
    podinfo.parse_pod(obj)
    key_len = len(orjson.dumps(obj["spec"], option=orjson.OPT_SORT_KEYS))
    assert podinfo._spec_cache.bytes >= key_len
    podinfo.clear_cache()


def test_without_lru_the_oldest_stored_goes_first() -> None:
    memo = Memo("t", max_entries=2, max_bytes=1000, lru=False)
    memo.put("a", 1, 10)
    memo.put("b", 2, 10)
    assert memo.get("a") == 1
    memo.put("c", 3, 10)
    assert memo.get("a") is None and memo.get("b") == 2
