"""NodePorts: cases from upstream nodeports/node_ports_test.go (TestNodePorts).

Each case runs through the policy over the real cache (the pods already on the
node fill its host-port index) and through the reference `ports_conflict`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model.errors import ConfigError
from extender.model.hostports import HostPort, ports_conflict
from policies.node_ports import NodePorts
from tests.helpers import make_pod, make_view

REASON = "node(s) didn't have free ports for the requested pod ports"
_uids = itertools.count()


def node(name: str = "m1") -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"}},
    }


def pod(*ports: str, node_name: str | None = None) -> dict:
    """ports as upstream's newPod spells them: "PROTOCOL/HOSTIP/HOSTPORT"."""
    container_ports = []
    for spec in ports:
        protocol, host_ip, host_port = spec.split("/")
        container_ports.append(
            {
                "containerPort": 80,
                "hostIP": host_ip,
                "hostPort": int(host_port),
                "protocol": protocol,
            }
        )
    uid = f"uid-{next(_uids)}"
    body: dict = {"containers": [{"name": "c", "ports": container_ports}]}
    if node_name:
        body["nodeName"] = node_name
    return {
        "kind": "Pod",
        "metadata": {"name": uid, "namespace": "default", "uid": uid},
        "spec": body,
    }


def host_ports(*ports: str) -> list[HostPort]:
    out = []
    for spec in ports:
        protocol, host_ip, host_port = spec.split("/")
        out.append(HostPort(ip=host_ip, protocol=protocol, port=int(host_port)))
    return out


# (name, wanted ports, ports used on the node, expected to pass)
CASES = [
    ("skip filter: the pod wants no host port", [], ["TCP/127.0.0.1/8080"], True),
    ("other port", ["UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/9090"], True),
    ("same udp port", ["UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/8080"], False),
    ("same tcp port", ["TCP/127.0.0.1/8080"], ["TCP/127.0.0.1/8080"], False),
    ("different host ip", ["TCP/127.0.0.1/8080"], ["TCP/127.0.0.2/8080"], True),
    ("different protocol", ["UDP/127.0.0.1/8080"], ["TCP/127.0.0.1/8080"], True),
    (
        "second udp port conflict",
        ["UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"],
        ["UDP/127.0.0.1/8080"],
        False,
    ),
    (
        "first tcp port conflict",
        ["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"],
        ["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"],
        False,
    ),
    (
        "first tcp port conflict due to 0.0.0.0 hostIP",
        ["TCP/0.0.0.0/8001"],
        ["TCP/127.0.0.1/8001"],
        False,
    ),
    (
        "TCP hostPort conflict due to 0.0.0.0 hostIP",
        ["TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"],
        ["TCP/127.0.0.1/8001"],
        False,
    ),
    (
        "second tcp port conflict to 0.0.0.0 hostIP",
        ["TCP/127.0.0.1/8001"],
        ["TCP/0.0.0.0/8001"],
        False,
    ),
    ("second different protocol", ["UDP/127.0.0.1/8001"], ["TCP/0.0.0.0/8001"], True),
    (
        "UDP hostPort conflict due to 0.0.0.0 hostIP",
        ["UDP/127.0.0.1/8001"],
        ["TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"],
        False,
    ),
    # Beyond the upstream table: sanitizing (empty IP = 0.0.0.0, empty protocol = TCP).
    ("empty hostIP means every address", ["TCP//8001"], ["TCP/10.1.1.1/8001"], False),
    ("a used port with empty hostIP blocks any IP", ["TCP/10.1.1.1/8001"], ["TCP//8001"], False),
    ("empty protocol means TCP", ["/127.0.0.1/8001"], ["TCP/127.0.0.1/8001"], False),
    ("empty protocol is not UDP", ["/127.0.0.1/8001"], ["UDP/127.0.0.1/8001"], True),
]


@pytest.mark.parametrize("wanted, used, passes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_upstream_cases(wanted, used, passes):
    existing = [pod(*used, node_name="m1")] if used else []
    view = make_view([node("m1")], existing)
    the_pod = make_pod(pod(*wanted))
    policy = NodePorts({})
    assert policy.filter(the_pod, view).tolist() == [passes]
    if not passes:
        assert policy.reasons(the_pod, view, np.array([0])) == [REASON]
    assert policy.unresolvable is False
    assert ports_conflict(host_ports(*wanted), host_ports(*used)) is (not passes)


def test_ports_of_several_pods_add_up_per_node():
    nodes = [node("a"), node("b"), node("c")]
    pods = [
        pod("TCP/0.0.0.0/80", node_name="a"),
        pod("UDP/0.0.0.0/53", node_name="b"),
        pod("TCP/10.0.0.1/53", node_name="b"),
    ]
    view = make_view(nodes, pods, names=["c", "b", "a"])
    policy = NodePorts({})
    assert policy.filter(make_pod(pod("TCP/10.0.0.1/53")), view).tolist() == [True, False, True]
    assert policy.filter(make_pod(pod("TCP/10.0.0.2/53")), view).tolist() == [True, True, True]
    assert policy.filter(make_pod(pod("TCP/1.2.3.4/80")), view).tolist() == [True, True, False]


def test_port_zero_never_conflicts():
    assert not ports_conflict([HostPort("", "TCP", 0)], [HostPort("", "TCP", 0)])


def test_unknown_args_are_a_config_error():
    with pytest.raises(ConfigError, match="takes no args"):
        NodePorts({"x": 1})


# ---- property: the node table's port index agrees with the reference ----

IPS = ["", "0.0.0.0", "127.0.0.1", "10.0.0.1"]
PORT = st.builds(
    HostPort, st.sampled_from(IPS), st.sampled_from(["TCP", "UDP"]), st.sampled_from([53, 80])
)


def _spell(p: HostPort) -> str:
    return f"{p.protocol}/{p.ip}/{p.port}"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.lists(PORT, max_size=2), max_size=3), min_size=1, max_size=4),
    st.lists(PORT, min_size=1, max_size=3),
)
def test_port_index_equals_reference(pods_per_node, wanted):
    nodes = [node(f"n{i}") for i in range(len(pods_per_node))]
    pods = [
        pod(*map(_spell, ports), node_name=f"n{i}")
        for i, node_pods in enumerate(pods_per_node)
        for ports in node_pods
        if ports
    ]
    view = make_view(nodes, pods)
    passed = NodePorts({}).filter(make_pod(pod(*map(_spell, wanted))), view)
    expected = [
        not ports_conflict(wanted, [p for ports in node_pods for p in ports])
        for node_pods in pods_per_node
    ]
    assert passed.tolist() == expected


def test_ipv6_any_address_is_not_a_wildcard_upstream():
    view = make_view([node("m1")], [pod("TCP/::/8001", node_name="m1")])
    the_pod = make_pod(pod("TCP/10.0.0.1/8001"))
    assert ports_conflict(host_ports("TCP/10.0.0.1/8001"), [HostPort("::", "TCP", 8001)]) is False
    assert NodePorts({}).filter(the_pod, view).tolist() == [True]
