"""Name syntax, resource classes and host-port conflicts: the rules kept in one place.

The name checks are compared with a reference written here character by
character (no regular expression), on generated strings that sit on every
edge: lengths 62-64 and 252-254, separators at the ends, uppercase in prefixes.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model.hostports import HostPort, ip_conflicts, ports_conflict, sanitize
from extender.model.names import (
    is_dns1123_subdomain,
    is_label_value,
    is_name_part,
    is_qualified_name,
)
from extender.model.resources import is_extended_resource, is_scalar_resource, is_tracked_resource

ALNUM = set(string.ascii_letters + string.digits)
LOWER_ALNUM = set(string.ascii_lowercase + string.digits)


def ref_name_part(s: str) -> bool:
    return (
        0 < len(s) <= 63
        and s[0] in ALNUM
        and s[-1] in ALNUM
        and all(c in ALNUM or c in "-_." for c in s)
    )


def ref_dns_label(s: str) -> bool:
    return (
        bool(s)
        and s[0] in LOWER_ALNUM
        and s[-1] in LOWER_ALNUM
        and all(c in LOWER_ALNUM or c == "-" for c in s)
    )


def ref_subdomain(s: str) -> bool:
    return 0 < len(s) <= 253 and all(ref_dns_label(p) for p in s.split("."))


def ref_qualified(s: str) -> bool:
    parts = s.split("/")
    if len(parts) == 1:
        return ref_name_part(s)
    if len(parts) == 2:
        return ref_subdomain(parts[0]) and ref_name_part(parts[1])
    return False


CHARS = st.sampled_from(list("aZ09-_./") + ["é", " "])
pieces = st.one_of(
    st.text(CHARS, max_size=8),
    st.integers(60, 66).map(lambda n: "a" * n),
    st.integers(250, 256).map(lambda n: "a." * (n // 2) + "a"),
)
names = st.lists(pieces, min_size=1, max_size=4).map("".join)


@settings(max_examples=600, deadline=None)
@given(names)
def test_name_checks_agree_with_the_reference(value):
    assert is_name_part(value) == ref_name_part(value)
    assert is_dns1123_subdomain(value) == ref_subdomain(value)
    assert is_qualified_name(value) == ref_qualified(value)
    assert is_label_value(value) == (value == "" or ref_name_part(value))


@pytest.mark.parametrize(
    "name, extended",
    [
        # upstream v1helper.IsExtendedResourceName cases
        ("example.com/dongle", True),
        ("foo.bar/baz", True),
        ("nvidia.com/gpu", True),
        ("kubernetes.io/something", False),  # native namespace
        ("node.kubernetes.io/x", False),
        ("cpu", False),  # no domain
        ("requests.example.com/x", False),
        ("Example.com/x", False),  # the prefix must be lowercase
        ("example.com/" + "x" * 64, False),
        ("example.com/a/b", False),
    ],
)
def test_extended_resources(name, extended):
    assert is_extended_resource(name) is extended


@pytest.mark.parametrize(
    "name, tracked, scalar",
    [
        ("cpu", True, False),
        ("memory", True, False),
        ("ephemeral-storage", True, False),
        ("hugepages-2Mi", True, True),
        ("attachable-volumes-aws-ebs", True, True),
        ("example.com/gpu", True, True),
        ("kubernetes.io/batch-slots", True, True),
        ("pods", False, False),
        ("storage", False, False),
    ],
)
def test_which_resources_the_scheduler_counts(name, tracked, scalar):
    assert is_tracked_resource(name) is tracked
    assert is_scalar_resource(name) is scalar


def test_host_ports_sanitize_empty_ip_and_protocol():
    assert sanitize(HostPort("", "", 80)) == ("0.0.0.0", "TCP", 80)
    assert sanitize(HostPort("10.0.0.1", "UDP", 53)) == ("10.0.0.1", "UDP", 53)


@pytest.mark.parametrize(
    "ip, in_use, conflict",
    [
        ("10.0.0.1", {"10.0.0.1"}, True),
        ("10.0.0.1", {"10.0.0.2"}, False),
        ("0.0.0.0", {"10.0.0.2"}, True),  # the wanted port binds every address
        ("10.0.0.1", {"0.0.0.0"}, True),  # the port in use binds every address
        ("0.0.0.0", set(), False),
    ],
)
def test_ip_conflicts(ip, in_use, conflict):
    assert ip_conflicts(ip, in_use) is conflict


def test_ports_conflict_only_on_the_same_protocol_and_port():
    used = [HostPort("", "TCP", 80), HostPort("10.0.0.1", "UDP", 53)]
    assert ports_conflict([HostPort("10.0.0.9", "", 80)], used)
    assert not ports_conflict([HostPort("", "UDP", 80)], used)
    assert ports_conflict([HostPort("", "UDP", 53)], used)
    assert not ports_conflict([HostPort("10.0.0.2", "UDP", 53)], used)
    assert not ports_conflict([HostPort("", "TCP", 0)], [HostPort("", "TCP", 0)])
