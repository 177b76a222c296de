"""Verbs with full Node objects (nodeCacheCapable: false) reuse what they parsed, and
answer exactly as if every object were parsed afresh (issue 9)."""

from __future__ import annotations

import copy
import sys
from unittest import mock

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache import state as state_module
from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.wire.service import Service
from tests.helpers import make_state, node, pod

KNOWN = [f"n{i}" for i in range(5)]
PODS_ON_NODES = [
    pod("r0", cpu="1", memory="1Gi", node_name="n0"),
    pod("r1", cpu="2500m", node_name="n1"),
    pod("r2", cpu="500m", memory="6Gi", node_name="n3"),
]
IMAGES = [{"names": ["registry/app:1"], "sizeBytes": 300_000_000}]


def service(nodes) -> Service:
    return Service(make_state(nodes, PODS_ON_NODES), Engine(default_configuration()))


def count_parses(monkeypatch) -> list[str]:
    """Counts Node parses wherever a full-Nodes request parses them."""
    calls: list[str] = []
    real = state_module.parse_node

    def counting(obj, field="node"):
        calls.append(field)
        return real(obj, field)

    for module in (state_module, sys.modules.get("extender.cache.nodeobjects")):
        if module is not None:
            monkeypatch.setattr(module, "parse_node", counting, raising=False)
    return calls


def versioned(name: str, rv: str | None, **kw) -> dict:
    obj = node(name, **kw)
    obj["metadata"]["uid"] = f"uid-{name}"
    if rv is not None:
        obj["metadata"]["resourceVersion"] = rv
    return obj


def test_a_second_request_with_the_same_nodes_parses_none(monkeypatch):
    svc = service([node(n) for n in KNOWN])
    sent = [versioned(n, "41", labels={"zone": "a"}) for n in KNOWN]
    parses = count_parses(monkeypatch)
    first = svc.filter({"Pod": pod("p", cpu="1"), "Nodes": {"items": sent}})
    assert len(parses) == len(KNOWN)
    again = copy.deepcopy(sent)  # a new request body: equal objects, new dicts
    second = svc.filter({"Pod": pod("p", cpu="1"), "Nodes": {"items": again}})
    svc.prioritize_encoded({"Pod": pod("p", cpu="1"), "Nodes": {"items": again}})
    svc.explain({"Pod": pod("p", cpu="1"), "Nodes": {"items": again}})
    assert len(parses) == len(KNOWN)
    assert orjson.dumps(first) == orjson.dumps(second)
    again[2] = versioned("n2", "42", labels={"zone": "b"}, unschedulable=True)
    third = svc.filter({"Pod": pod("p", cpu="1"), "Nodes": {"items": again}})
    assert len(parses) == len(KNOWN) + 1
    assert "n2" in third["FailedAndUnresolvableNodes"]


def test_the_answer_is_the_objects_sent_unchanged():
    svc = service([node(n) for n in KNOWN])
    sent = [versioned(n, None, cpu="2" if n == "n1" else "4", images=IMAGES) for n in KNOWN]
    sent[3]["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:x": {}}}]
    sent[3]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    before = orjson.dumps(sent)
    for _ in range(2):  # cold, then from the cache
        answer = orjson.loads(
            orjson.dumps(svc.filter({"Pod": pod("p", cpu="2"), "Nodes": {"items": sent}}))
        )
        assert answer["Nodes"]["items"] == [o for o in sent if o["metadata"]["name"] != "n1"]
        assert orjson.dumps(answer["Nodes"]["items"][2]) == orjson.dumps(sent[3])
    assert orjson.dumps(sent) == before  # nothing written into the request


# ---- the cache against the uncached path, on random request sequences -------------

_node_versions = st.fixed_dictionaries(
    {
        "name": st.sampled_from([*KNOWN, "stranger"]),
        "zone": st.sampled_from(["a", "b", None]),
        "cpu": st.sampled_from(["1", "2", "4"]),
        "tainted": st.booleans(),
        "unschedulable": st.booleans(),
        "note": st.sampled_from(["", "x", "y"]),
        "gpus": st.sampled_from([None, "1", "2"]),
        "versioned": st.booleans(),
    }
)


def _gpu_pod() -> dict:
    obj = pod("gpu", cpu="1")
    obj["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "2"
    return obj


PODS = [
    pod("plain", cpu="1"),
    _gpu_pod(),
    pod(
        "zoned",
        cpu="500m",
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "zone", "operator": "In", "values": ["a", "b"]}
                            ]
                        }
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 5,
                        "preference": {
                            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]
                        },
                    }
                ],
            }
        },
    ),
    pod(
        "tolerant",
        cpu="2",
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
        ],
    ),
]


def _object(v: dict) -> dict:
    """A Node object from a version; its resourceVersion (when it has one) is derived
    from its content, as the API server guarantees: same version, same content."""
    labels = {"zone": v["zone"]} if v["zone"] else {}
    taints = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}] if v["tainted"] else []
    obj = node(
        v["name"],
        cpu=v["cpu"],
        labels=labels,
        taints=taints,
        unschedulable=v["unschedulable"],
        annotations={"note": v["note"]} if v["note"] else None,
        images=IMAGES,
        extra={"example.com/gpu": v["gpus"]} if v["gpus"] else None,
    )
    if v["versioned"]:
        obj["metadata"]["resourceVersion"] = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).hex()
    return obj


def _requests():
    one = st.tuples(
        st.lists(_node_versions, min_size=1, max_size=7, unique_by=lambda v: v["name"]),
        st.integers(0, len(PODS) - 1),
    )
    return st.lists(one, min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(_requests())
def test_cached_answers_equal_uncached_and_node_names_answers(requests):
    base = [node(n, images=IMAGES) for n in KNOWN]
    cached = service(base)
    # a bound of 3 rows: rows are evicted and reused, and the store renewed, all the time
    with (
        mock.patch.object(state_module, "OBJECT_ROWS_MIN", 3, create=True),
        mock.patch.object(state_module, "OBJECT_ROWS_PER_NODE", 0, create=True),
    ):
        for versions, which in requests:
            objects = [_object(v) for v in versions]
            args = {"Pod": PODS[which], "Nodes": {"items": objects}}
            cold = service(base)  # a new store: every object parsed for this request
            for verb in ("filter", "prioritize_encoded", "explain"):
                got = getattr(cached, verb)(copy.deepcopy(args))
                assert got == getattr(cold, verb)(copy.deepcopy(args)), verb
            # the objects are authoritative: as if the cache held exactly them
            known = [o for o in objects if o["metadata"]["name"] in KNOWN]
            names = [o["metadata"]["name"] for o in known]
            oracle = service(known)
            by_name = {"Pod": PODS[which], "NodeNames": names}
            full = cached.filter(copy.deepcopy({"Pod": PODS[which], "Nodes": {"items": known}}))
            expected = oracle.filter(by_name)
            assert [o["metadata"]["name"] for o in full["Nodes"]["items"]] == expected["NodeNames"]
            assert full["FailedNodes"] == expected["FailedNodes"]
            assert full["FailedAndUnresolvableNodes"] == expected["FailedAndUnresolvableNodes"]
            scores = cached.prioritize(
                copy.deepcopy({"Pod": PODS[which], "Nodes": {"items": known}})
            )
            oracle_scores = oracle.prioritize(by_name)
            assert scores[0] == oracle_scores[0]
            assert scores[1].tolist() == oracle_scores[1].tolist()
