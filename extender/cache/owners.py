"""The selectors of Services, ReplicationControllers, ReplicaSets and StatefulSets.

PodTopologySpread's default constraints (args `defaultConstraints`, or the
System defaults) apply to a pod with none of its own, with a selector deduced
from what the pod belongs to, as kube-scheduler's `helper.DefaultSelector`
does: the selectors of every Service of the pod's namespace that selects the
pod, merged; then, if the pod's controller ownerReference names a
ReplicationController (`v1`), its selector merged in too, or a ReplicaSet or
StatefulSet (`apps/v1`), its selector's requirements added. podsift keeps only
those selectors, from snapshots and, live, from watches; the deduced selector
is cached per (namespace, label set, controller) until an owner changes.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from extender.model.errors import InvalidInput
from extender.model.fields import object_field, string_field, string_map
from extender.model.memo import Memo
from extender.model.podselector import (
    PodSelector,
    compile_pod_selector,
    intern_selector,
    selector_from_map,
)

SERVICE = "Service"
REPLICATION_CONTROLLER = "ReplicationController"
REPLICA_SET = "ReplicaSet"
STATEFUL_SET = "StatefulSet"
OWNER_KINDS = (SERVICE, REPLICATION_CONTROLLER, REPLICA_SET, STATEFUL_SET)
# the controller kinds DefaultSelector follows, by (apiVersion, kind)
_CONTROLLERS = {
    ("v1", REPLICATION_CONTROLLER),
    ("apps/v1", REPLICA_SET),
    ("apps/v1", STATEFUL_SET),
}


def parse_owner(obj: Any) -> tuple[str, str, str, Any]:
    """(kind, namespace, name, selector) of an owner object; InvalidInput names the
    field. The selector: a label map for Services and ReplicationControllers (None
    when absent: a Service without one selects nothing), a PodSelector (None when
    it does not parse: upstream's lookup then adds nothing) for the apps kinds."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"must be an object, got {type(obj).__name__}", "object")
    kind = string_field(obj.get("kind"), "kind")
    meta = object_field(obj.get("metadata"), "metadata")
    name = string_field(meta.get("name"), "metadata.name")
    if not name:
        raise InvalidInput("is required", "metadata.name")
    namespace = string_field(meta.get("namespace"), "metadata.namespace", "default")
    spec = object_field(obj.get("spec"), "spec")
    raw = spec.get("selector")
    selector: Any
    if kind in (SERVICE, REPLICATION_CONTROLLER):
        selector = None if raw is None else dict(string_map(raw, "spec.selector"))
    elif kind in (REPLICA_SET, STATEFUL_SET):
        selector, errors = compile_pod_selector(raw, "spec.selector")
        if errors:
            selector = None
    else:
        raise InvalidInput(f"must be one of {', '.join(OWNER_KINDS)}, got {kind!r}", "kind")
    return kind, namespace, name, selector


class Owners:
    def __init__(self) -> None:
        # namespace -> service name -> its selector map (only services with one)
        self._services: dict[str, dict[str, dict[str, str]]] = {}
        # (namespace, kind, name) -> label map (RC) or PodSelector (RS, SS)
        self._controllers: dict[tuple[str, str, str], Any] = {}
        self.version = 0
        self._deduced = Memo("spread_default_selectors", 16384, 16 * 1024 * 1024)
        self._deduced_version = 0

    def __len__(self) -> int:
        return sum(map(len, self._services.values())) + len(self._controllers)

    def apply(self, obj: Any) -> bool:
        """Add or update one owner object; False when its selector did not change."""
        return self.apply_parsed(*parse_owner(obj))

    def apply_parsed(self, kind: str, namespace: str, name: str, selector: Any) -> bool:
        """`apply` of what `parse_owner` returned (parsed before taking a lock)."""
        if kind == SERVICE:
            services = self._services.setdefault(namespace, {})
            if selector is None:
                changed = services.pop(name, None) is not None
            else:
                changed = services.get(name) != selector
                services[name] = selector
            if not services:
                del self._services[namespace]
        else:
            key = (namespace, kind, name)
            changed = key not in self._controllers or self._controllers[key] != selector
            self._controllers[key] = selector
        if changed:
            self.version += 1
        return changed

    def remove(self, kind: str, namespace: str, name: str) -> bool:
        if kind == SERVICE:
            services = self._services.get(namespace, {})
            found = services.pop(name, None) is not None
            if not services:
                self._services.pop(namespace, None)
        else:
            found = self._controllers.pop((namespace, kind, name), _MISSING) is not _MISSING
        if found:
            self.version += 1
        return found

    def replace_kind(self, kind: str, fresh: Owners) -> None:
        """Every owner of `kind` from `fresh` in place of those held (a relist)."""
        if kind == SERVICE:
            self._services = fresh._services
        else:
            kept = {k: v for k, v in self._controllers.items() if k[1] != kind}
            kept.update((k, v) for k, v in fresh._controllers.items() if k[1] == kind)
            self._controllers = kept
        self.version += 1

    def default_selector(
        self,
        namespace: str,
        labels: Mapping[str, str],
        label_key: Hashable,
        controller: tuple[str, str, str] | None,
    ) -> PodSelector | None:
        """The selector DefaultSelector deduces for a pod, or None when it is empty."""
        if namespace not in self._services and (
            controller is None or (namespace, controller[1], controller[2]) not in self._controllers
        ):
            return None  # no owner of its namespace can select it: nothing to look up
        if self._deduced_version != self.version:
            self._deduced.clear()
            self._deduced_version = self.version
        key = (namespace, label_key, controller)
        found = self._deduced.get(key, _MISSING)
        if found is _MISSING:
            found = self._deduce(namespace, labels, controller)
            self._deduced.put(key, found, 256)
        return found

    def _deduce(
        self, namespace: str, labels: Mapping[str, str], controller: tuple[str, str, str] | None
    ) -> PodSelector | None:
        merged: dict[str, str] = {}
        for selector in self._services.get(namespace, {}).values():
            if all(labels.get(k) == v for k, v in selector.items()):
                merged.update(selector)
        result = selector_from_map(merged)
        if controller is not None and (controller[0], controller[1]) in _CONTROLLERS:
            owner = self._controllers.get((namespace, controller[1], controller[2]))
            if owner is not None:
                if controller[1] == REPLICATION_CONTROLLER:
                    merged.update(owner)
                    result = selector_from_map(merged)
                elif not owner.nothing:
                    result = intern_selector(PodSelector(result.requirements + owner.requirements))
        return result if result.requirements else None


_MISSING = object()
