"""The default spreading selector deduced from a pod's owners, as upstream's
helper.DefaultSelector: matching Services merged, then the controller's selector."""

from __future__ import annotations

import pytest

from extender.cache.owners import Owners
from extender.model.errors import InvalidInput


def service(name, selector, ns="default"):
    spec = {} if selector is None else {"selector": selector}
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def controller(kind, name, selector, ns="default"):
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": selector},
    }


def deduce(owners, labels, ref=None, ns="default"):
    return owners.default_selector(ns, labels, tuple(labels.items()), ref)


def test_matching_services_merge_and_others_do_not_count():
    owners = Owners()
    owners.apply(service("web", {"app": "web"}))
    owners.apply(service("tier", {"tier": "front"}))
    owners.apply(service("other", {"app": "db"}))
    owners.apply(service("headless", None))  # no selector: selects nothing
    owners.apply(service("elsewhere", {"app": "web"}, ns="prod"))
    selector = deduce(owners, {"app": "web", "tier": "front", "x": "1"})
    assert selector.matches({"app": "web", "tier": "front"})
    assert not selector.matches({"app": "web"})
    assert deduce(owners, {"app": "cache"}) is None  # nothing selects it: no constraint


def test_replicaset_and_statefulset_add_their_requirements():
    owners = Owners()
    owners.apply(service("web", {"app": "web"}))
    owners.apply(
        controller(
            "ReplicaSet",
            "web-1",
            {"matchExpressions": [{"key": "hash", "operator": "In", "values": ["1"]}]},
        )
    )
    owners.apply(controller("StatefulSet", "db", {"matchLabels": {"app": "db"}}))
    rs = ("apps/v1", "ReplicaSet", "web-1")
    selector = deduce(owners, {"app": "web", "hash": "1"}, rs)
    assert selector.matches({"app": "web", "hash": "1"})
    assert not selector.matches({"app": "web", "hash": "2"})
    # another apiVersion is not a controller DefaultSelector follows
    assert deduce(
        owners, {"app": "web", "hash": "1"}, ("extensions/v1beta1", "ReplicaSet", "web-1")
    ).matches({"app": "web", "hash": "2"})
    assert deduce(owners, {"app": "db"}, ("apps/v1", "StatefulSet", "db")).matches({"app": "db"})
    # a controller podsift does not know adds nothing
    assert deduce(owners, {"app": "x"}, ("apps/v1", "ReplicaSet", "gone")) is None


def test_replication_controller_merges_its_map_and_changes_are_seen():
    owners = Owners()
    owners.apply(controller("ReplicationController", "rc", {"app": "old"}))
    ref = ("v1", "ReplicationController", "rc")
    assert deduce(owners, {"app": "old"}, ref).matches({"app": "old"})
    owners.apply(controller("ReplicationController", "rc", {"app": "old", "v": "2"}))
    assert not deduce(owners, {"app": "old"}, ref).matches({"app": "old"})
    assert owners.remove("ReplicationController", "default", "rc")
    assert deduce(owners, {"app": "old"}, ref) is None


def test_malformed_owner_names_the_field():
    with pytest.raises(InvalidInput) as err:
        Owners().apply(service("s", {"app": 1}))
    assert err.value.field == "spec.selector.app"
    with pytest.raises(InvalidInput):
        Owners().apply({"kind": "Deployment", "metadata": {"name": "d"}})
