"""The cluster a plan starts from: a snapshot file or one listing of a live cluster.

Either way the objects go through `ClusterState.load_items`, as `podsift serve
--snapshot` loads them; a live cluster is listed once (read-only: a plan never
writes to the API server). The node names come back in the List's order, the
order in which ties go to the first node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from extender.cache.state import ClusterState, Loaded
from extender.engine.config import load_configuration
from extender.engine.engine import Engine
from extender.model.errors import InvalidInput
from extender.plan.workload import read_document

NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
PAGE = 500


@dataclass
class Cluster:
    """The state the plan changes (its own copy), the engine, and the node names in order."""

    state: ClusterState
    engine: Engine
    names: list[str]
    loaded: Loaded
    source: str
    config_warnings: tuple[str, ...]
    position: dict[str, int]  # node name -> its place in `names`
    items: list[Any]  # the objects loaded, as given

    def add_name(self, name: str) -> None:
        self.position[name] = len(self.names)
        self.names.append(name)

    def drop_last_name(self) -> None:
        del self.position[self.names.pop()]


def snapshot_items(path: str) -> list[Any]:
    doc = read_document(path, "--snapshot")
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise InvalidInput(f"--snapshot {path}: must be a Kubernetes List with an items array")
    return doc["items"]


def _list_all(api: Any, path: str) -> list[dict]:
    items: list[dict] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if token:
            params["continue"] = token
        page = api.list(path, params)
        for item in page.get("items") or ():
            item.setdefault("kind", "Node" if path == NODES_PATH else "Pod")
            meta = item.get("metadata")
            if isinstance(meta, dict):
                meta.pop("managedFields", None)  # the bulk of an object, never needed
            items.append(item)
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def live_items(api: Any) -> list[Any]:
    """Nodes and pods of a live cluster, listed once through the extender's API client."""
    return _list_all(api, NODES_PATH) + _list_all(api, PODS_PATH)


def build(items: list[Any], source: str, config: str | None, profile: str | None) -> Cluster:
    """The state and engine `podsift serve` would build from the same source and --config."""
    policy = load_configuration(config, profile)
    engine = Engine(policy)
    state = ClusterState()
    loaded = state.load_items(items)
    state.bind_ignores = (
        engine.fit_ignores()
    )  # as the Service sets it: bind refuses what filter does
    state.source = source
    state.set_ready(True)
    names = list(
        dict.fromkeys(
            i["metadata"]["name"] for i in items if isinstance(i, dict) and i.get("kind") == "Node"
        )
    )
    position = {n: i for i, n in enumerate(names)}
    return Cluster(state, engine, names, loaded, source, policy.warnings, position, items)
