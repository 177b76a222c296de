"""protocol.RequestDecoder: a request's NodeNames taken from its bytes when seen before.

Whatever the body, the decoded arguments must be exactly what decoding the
whole body gives (NodeNames as a tuple), and invalid bodies must fail with the
same message; the same bytes must give the same tuple, which is what lets the
state recognize the list without comparing strings."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model.errors import InvalidInput
from extender.wire import protocol

TRICKY = st.sampled_from(
    ["a", "", ',"NodeNames":[', '"]}', "\\", 'x\\"', "]}", "\n", "é", "\u2028", 'node-0"']
)
TEXT = st.one_of(TRICKY, st.text(max_size=8))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
NAMES = st.lists(st.sampled_from(["a", "b", "node-1", "x\\y", '"q"', "]}"]), max_size=4)


def _plain(args):
    if isinstance(args, dict) and isinstance(args.get("NodeNames"), tuple):
        return {**args, "NodeNames": list(args["NodeNames"])}
    return args


def _outcome(decode, body):
    try:
        return "ok", _plain(decode(body))
    except InvalidInput as exc:
        return "error", str(exc)


CACHE = protocol.RequestDecoder(size=2)  # shared: hits, misses and evictions all exercised


@settings(max_examples=400)
@given(
    st.dictionaries(st.sampled_from(["Pod", "Nodes", "NodeNames", "x"]), JSON, max_size=3),
    st.one_of(NAMES, JSON),
    st.integers(0, 40),
    st.sampled_from(["keep", "cut", "flip"]),
)
def test_decoding_equals_decoding_the_whole_body(head, names, at, damage):
    body = orjson.dumps({**head, "NodeNames": names})
    if damage == "cut":
        body = body[: max(0, len(body) - at)]
    elif damage == "flip" and body:
        pos = at % len(body)
        body = body[:pos] + b"]" + body[pos + 1 :]
    assert _outcome(CACHE.decode, body) == _outcome(protocol.decode, body)


def test_the_same_bytes_give_the_same_tuple_and_other_bytes_another():
    cache = protocol.RequestDecoder()
    first = cache.decode(orjson.dumps({"Pod": {}, "Nodes": None, "NodeNames": ["a", "b"]}))
    again = cache.decode(orjson.dumps({"Pod": {"x": 1}, "Nodes": None, "NodeNames": ["a", "b"]}))
    other = cache.decode(orjson.dumps({"Pod": {}, "Nodes": None, "NodeNames": ["a", "c"]}))
    assert first["NodeNames"] == ("a", "b") and again["NodeNames"] is first["NodeNames"]
    assert again["Pod"] == {"x": 1}
    assert other["NodeNames"] == ("a", "c")


def test_a_member_named_alike_inside_a_string_is_not_taken_for_the_names():
    body = orjson.dumps({"Pod": {"note": ',"NodeNames":["evil"]}'}, "NodeNames": None})
    assert protocol.RequestDecoder().decode(body) == {
        "Pod": {"note": ',"NodeNames":["evil"]}'},
        "NodeNames": None,
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"Pod":{,"NodeNames":["a"]}',
        b'{"Pod":1,"NodeNames":["a",]}',
        b'{"Pod":{"q":1,"NodeNames":["a"]}',
    ],
)
def test_invalid_bodies_fail_with_the_whole_body_s_message(body):
    with pytest.raises(InvalidInput) as cached:
        protocol.RequestDecoder().decode(body)
    with pytest.raises(InvalidInput) as whole:
        protocol.decode(body)
    assert str(cached.value) == str(whole.value)


def _wsgi(app, path: str, body: bytes) -> bytes:
    import io

    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    return b"".join(app(environ, lambda status, headers: None))


def test_the_names_filter_answers_come_back_to_prioritize_resolved_and_scored_alike():
    """/filter's NodeNames answer is primed: kube-scheduler's /prioritize carrying those
    bytes gets the same tuple, resolved to the passed ids, and the same scores as a
    service that never saw the /filter."""
    from extender import testing
    from extender.inprocess import InProcessExtender
    from extender.wire.app import ExtenderApp

    nodes = [testing.node(f"n{i}", cpu="4" if i % 3 else "1") for i in range(9)]
    names = [n["metadata"]["name"] for n in nodes]
    primed, fresh = InProcessExtender(nodes), InProcessExtender(nodes)
    app = ExtenderApp(primed.service)
    for i in range(4):
        pod = testing.pod(f"p{i}", cpu="2")
        body = orjson.dumps({"Pod": pod, "Nodes": None, "NodeNames": names})
        answer = orjson.loads(_wsgi(app, "/filter", body))
        passed = answer["NodeNames"]
        assert passed == [n for k, n in enumerate(names) if k % 3], answer
        args = orjson.dumps({"Pod": pod, "Nodes": None, "NodeNames": passed})
        decoded = primed.service.decoder.decode(args)["NodeNames"]
        assert primed.service.decoder.decode(args)["NodeNames"] is decoded  # the primed tuple
        ids, known, unknown, _ = primed.state.resolve(decoded)
        assert primed.state.table.names_arr[ids].tolist() == passed and known is None
        # resolved to the very ids /filter recorded as passed: /prioritize reuses its verdicts
        assert primed.service._verdicts._by_uid[f"uid-p{i}"][5] is ids
        scores = orjson.loads(_wsgi(app, "/prioritize", args))
        assert scores == fresh.prioritize({"Pod": pod, "NodeNames": passed})
        best = max(scores, key=lambda h: h["Score"])["Host"]
        bind = {"PodName": f"p{i}", "PodNamespace": "default", "PodUID": f"uid-p{i}"}
        assert orjson.loads(_wsgi(app, "/bind", orjson.dumps({**bind, "Node": best}))) == {
            "Error": ""
        }
        fresh.filter({"Pod": pod, "NodeNames": names})
        assert fresh.bind({**bind, "Node": best}) == {"Error": ""}


def test_the_same_pod_bytes_give_the_same_pod_object_and_its_parse_is_kept_for_it_only():
    decoder = protocol.RequestDecoder()
    body = orjson.dumps({"Pod": {"metadata": {"name": "p"}}, "Nodes": None, "NodeNames": ["a"]})
    first, again = decoder.decode(body), decoder.decode(body)
    assert first is not again and first["Pod"] is again["Pod"]  # fresh args, one Pod
    assert decoder.parsed(first["Pod"]) is None
    decoder.keep_parsed(first["Pod"], "parse of p")
    assert decoder.parsed(again["Pod"]) == "parse of p"
    own = {"metadata": {"name": "p"}}  # a caller's equal dict: never taken for it
    decoder.keep_parsed(own, "parse of own")
    assert decoder.parsed(own) is None and decoder.parsed(first["Pod"]) == "parse of p"
    other = decoder.decode(body.replace(b'"p"', b'"q"'))
    assert other["Pod"] == {"metadata": {"name": "q"}}
    assert decoder.parsed(other["Pod"]) is None and decoder.parsed(first["Pod"]) is None


def test_a_pod_re_sent_to_prioritize_is_not_parsed_again(monkeypatch):
    from extender import testing
    from extender.inprocess import InProcessExtender
    from extender.wire import service as service_module
    from extender.wire.app import ExtenderApp

    ext = InProcessExtender([testing.node("a"), testing.node("b")])
    app = ExtenderApp(ext.service)
    parses = []
    real = service_module.parse_pod
    monkeypatch.setattr(service_module, "parse_pod", lambda raw: parses.append(1) or real(raw))
    body = orjson.dumps({"Pod": testing.pod("p", cpu="1"), "Nodes": None, "NodeNames": ["a", "b"]})
    assert orjson.loads(_wsgi(app, "/filter", body))["NodeNames"] == ["a", "b"]
    assert len(orjson.loads(_wsgi(app, "/prioritize", body))) == 2
    assert parses == [1]
    # an invalid Pod is never kept: each request says what is wrong
    bad = orjson.dumps({"Pod": {"spec": 1}, "Nodes": None, "NodeNames": ["a"]})
    for _ in range(2):
        assert "spec" in orjson.loads(_wsgi(app, "/filter", bad))["Error"]
