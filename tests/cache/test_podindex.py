"""The state's pods-by-node index stays equal to a scan of every pod, whatever happens.

A hypothesis state machine drives ClusterState through watch events, binds,
assumptions, node removals and re-adds (with pods waiting for their node) and
relists, and after every step compares `state.by_node` and every node's
counted usage with a brute-force scan of `state.pods`.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from extender.cache.nodetable import PODS
from extender.cache.state import ClusterState
from extender.model.errors import BindError
from extender.testing import make_pod
from tests.helpers import make_state, node, pod

NODES = ["n0", "n1", "n2"]
UIDS = [f"u{i}" for i in range(8)]


def placed(uid: str, node_name: str, cpu: int, port: int | None, phase: str = "Running") -> dict:
    p = pod(uid, cpu=f"{cpu}m", node_name=node_name, uid=uid)
    p["status"]["phase"] = phase
    if port:
        p["spec"]["containers"][0]["ports"] = [{"containerPort": port, "hostPort": port}]
    return p


def scan(state: ClusterState) -> dict[str, set[str]]:
    """{node name: uids} from every pod record, the slow way."""
    out: dict[str, set[str]] = {}
    for uid, rec in state.pods.items():
        out.setdefault(rec.node_name, set()).add(uid)
    return out


def check_consistent(state: ClusterState) -> None:
    expected = scan(state)
    indexed = {n: set(state.by_node.on(n)) for n in state.by_node.node_names()}
    assert indexed == expected
    for name, uids in expected.items():
        for uid in uids:
            assert state.by_node.on(name)[uid] is state.pods[uid]
    t = state.table
    for uid, rec in state.pods.items():
        assert rec.attached == (rec.node_name in t.id_of), uid
    cpu = t.resource_col["cpu"]
    for name, nid in t.id_of.items():
        on_node = [r for r in state.pods.values() if r.node_name == name]
        assert t.req[PODS][nid] == len(on_node)
        assert t.req[cpu][nid] == sum(a for r in on_node for c, a in r.vector if c == cpu)
        assert t.nonzero_cpu[nid] == sum(r.nonzero_cpu for r in on_node)
        ports = sorted(p.port for r in on_node for p in r.ports)
        counted = sorted(
            port
            for (_, port), by_node in t.ports.items()
            for ips in [by_node.get(nid)]
            if ips
            for _ in range(sum(ips.values()))
        )
        assert counted == ports, name


class StateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = ClusterState()

    @rule(name=st.sampled_from(NODES), cpu=st.integers(1, 4))
    def add_or_update_node(self, name, cpu):
        self.state.apply_node(node(name, cpu=str(cpu)))

    @rule(name=st.sampled_from(NODES))
    def remove_node(self, name):
        self.state.remove_node(name)

    @rule(
        uid=st.sampled_from(UIDS),
        node_name=st.sampled_from([*NODES, "elsewhere"]),
        cpu=st.integers(0, 1500),
        port=st.sampled_from([None, 80, 8080]),
        phase=st.sampled_from(["Running", "Running", "Succeeded"]),
    )
    def watch_pod(self, uid, node_name, cpu, port, phase):
        self.state.apply_pod(placed(uid, node_name, cpu, port, phase))

    @rule(uid=st.sampled_from(UIDS))
    def watch_pod_pending(self, uid):
        self.state.apply_pod(pod(uid, uid=uid))  # no node: dropped if it was placed

    @rule(uid=st.sampled_from(UIDS))
    def delete_pod(self, uid):
        self.state.remove_pod(uid)

    @rule(uid=st.sampled_from(UIDS), node_name=st.sampled_from(NODES), assume=st.booleans())
    def bind(self, uid, node_name, assume):
        self.state.remember(make_pod(pod(uid, cpu="100m", uid=uid)))
        try:
            self.state.bind(uid, node_name, assumed=assume)
        except BindError:
            pass

    @rule(uid=st.sampled_from(UIDS))
    def forget(self, uid):
        self.state.forget(uid)

    @rule(
        names=st.lists(st.sampled_from(NODES), unique=True),
        pods=st.lists(
            st.tuples(
                st.sampled_from(UIDS), st.sampled_from([*NODES, "elsewhere"]), st.integers(0, 900)
            ),
            unique_by=lambda t: t[0],
        ),
    )
    def relist(self, names, pods):
        self.state.replace_all(
            [node(n) for n in names], [placed(u, n, c, None) for u, n, c in pods]
        )

    @invariant()
    def index_matches_a_scan(self):
        check_consistent(self.state)


StateMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestPodsByNode = StateMachine.TestCase


def test_a_removed_node_keeps_its_pods_waiting_until_it_returns():
    state = make_state(
        [node("a", cpu="2")], [placed("u1", "a", 500, 80), placed("u2", "b", 1, None)]
    )
    assert set(state.by_node.on("a")) == {"u1"} and set(state.by_node.on("b")) == {"u2"}
    state.remove_node("a")
    assert not state.pods["u1"].attached and set(state.by_node.on("a")) == {"u1"}
    state.apply_node(node("a", cpu="2"))
    assert state.pods["u1"].attached
    check_consistent(state)
    assert state.table.req[state.table.resource_col["cpu"]][state.table.id_of["a"]] == 500
