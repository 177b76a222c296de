"""/filter's failure maps: the spec cache's failures come encoded and are written as
they are; the answer's bytes equal those of the plain-dict answer, whatever happened."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extender import testing
from extender.inprocess import InProcessExtender
from extender.wire.app import ExtenderApp
from tests.wire.test_names_cache import _wsgi

_TAINT = [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]
_NODES = [
    testing.node(
        f"n{i}",
        cpu=["1", "2", "4"][i % 3],
        labels={"zone": "a" if i % 2 else "b"},
        taints=_TAINT if i % 5 == 0 else None,
        unschedulable=i == 7,
    )
    for i in range(12)
]
_NAMES = [n["metadata"]["name"] for n in _NODES]
_TOLERATION = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
# specs whose static filters fail some nodes (taints, a selector, the unschedulable
# flag) and whose room runs out as pods land (a dynamic failure)
_SPECS = [
    {"cpu": "1"},
    {"cpu": "1", "nodeSelector": {"zone": "a"}},
    {"cpu": "2", "tolerations": _TOLERATION},
    {"cpu": "500m", "nodeSelector": {"zone": "b"}, "tolerations": _TOLERATION},
]


def _pod(i: int, spec: int) -> dict:
    extra = dict(_SPECS[spec])
    cpu = extra.pop("cpu")
    return testing.pod(f"p{i}", cpu=cpu, labels={"spec": str(spec)}, **extra)


_STEPS = st.lists(
    st.tuples(
        st.integers(0, len(_SPECS) - 1),  # the pod's spec
        st.sampled_from(["all", "some", "unknown"]),  # the names it is sent with
        st.booleans(),  # bound afterwards to its first passed node
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(_STEPS)
def test_the_encoded_answer_is_the_plain_answer_byte_for_byte(steps) -> None:
    wire, plain = InProcessExtender(_NODES), InProcessExtender(_NODES)
    app = ExtenderApp(wire.service)
    for i, (spec, sent, bind) in enumerate(steps):
        names = {
            "all": _NAMES,
            "some": _NAMES[3:],
            "unknown": ["ghost", *_NAMES[::2], "n99"],
        }[sent]
        args = {"Pod": _pod(i, spec), "NodeNames": names}
        body = _wsgi(app, "/filter", orjson.dumps(args))
        expected = plain.filter(args)
        assert body == orjson.dumps(expected)
        if bind and expected["NodeNames"]:
            binding = {"PodName": f"p{i}", "PodNamespace": "default", "PodUID": f"uid-p{i}"}
            binding["Node"] = expected["NodeNames"][0]
            assert orjson.loads(_wsgi(app, "/bind", orjson.dumps(binding))) == {"Error": ""}
            assert plain.bind(binding) == {"Error": ""}


def test_the_spec_cache_failures_are_encoded_once_and_kept() -> None:
    """The second pod of a spec gets the first one's encoded static failures."""
    ext = InProcessExtender(_NODES)
    app = ExtenderApp(ext.service)
    answers = []
    for i in range(2):
        args = {"Pod": _pod(i, 1), "NodeNames": _NAMES}
        answers.append(orjson.loads(_wsgi(app, "/filter", orjson.dumps(args))))
    failed = answers[1]["FailedNodes"]
    # zone b fails the selector, n7 is unschedulable (before the selector in the
    # configured order only if it fails it too), the tainted ones fail their taint
    assert set(failed) | set(answers[1]["FailedAndUnresolvableNodes"]) == {
        n for k, n in enumerate(_NAMES) if k % 2 == 0 or k % 5 == 0 or k == 7
    }
    assert answers[0] == answers[1]
    entry = ext.engine.spec_cache._memo.get(ext.service.pod({"Pod": _pod(9, 1)}).spec_id)
    assert entry.last_encoded is not None
    kept_failed, kept_unresolvable = entry.last_encoded
    assert orjson.loads(b"{" + kept_failed + b"}") == failed
    assert orjson.loads(b"{" + kept_unresolvable + b"}") == answers[1]["FailedAndUnresolvableNodes"]
