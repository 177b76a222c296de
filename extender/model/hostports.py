"""Host ports and the one rule for when two of them conflict.

kube-scheduler's `HostPortInfo` stores a port as (ip, protocol, port) after
sanitizing an empty IP to 0.0.0.0 and an empty protocol to TCP. Two ports of the
same protocol and number conflict when their IPs are equal or either is 0.0.0.0
(bound to every address). Host port 0 means "none" and never conflicts; parsing
drops it. The node table's port index and the preemption what-if view both
apply `ip_conflicts`, so the rule lives only here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

WILDCARD_IP = "0.0.0.0"
DEFAULT_PROTOCOL = "TCP"


@dataclass(frozen=True)
class HostPort:
    """One host port a pod's container (or sidecar) binds on its node."""

    ip: str  # "" or "0.0.0.0" means every address
    protocol: str  # "TCP", "UDP", "SCTP"
    port: int


def sanitize(port: HostPort) -> tuple[str, str, int]:
    """(ip, protocol, port) as HostPortInfo stores it."""
    return port.ip or WILDCARD_IP, port.protocol or DEFAULT_PROTOCOL, port.port


def ip_conflicts(ip: str, ips_in_use: Collection[str]) -> bool:
    """Whether sanitized `ip` conflicts with the sanitized IPs already using the same
    protocol and port on a node."""
    return bool(ips_in_use) and (ip == WILDCARD_IP or WILDCARD_IP in ips_in_use or ip in ips_in_use)


def wanted_by_key(wanted: Iterable[HostPort]) -> dict[tuple[str, int], frozenset[str]]:
    """A pod's host ports grouped by (protocol, port): the sanitized IPs it wants on each.

    Checking a group against one node's IPs in use is one set operation, so a pod
    with 10,000 host ports costs one lookup per distinct (protocol, port) and per
    node that uses it, never ports x nodes."""
    grouped: dict[tuple[str, int], set[str]] = {}
    for port in wanted:
        if port.port > 0:
            ip, protocol, number = sanitize(port)
            grouped.setdefault((protocol, number), set()).add(ip)
    return {key: frozenset(ips) for key, ips in grouped.items()}


def group_conflicts(wanted_ips: frozenset[str], ips_in_use: Collection[str]) -> bool:
    """`ip_conflicts` for every wanted IP of one (protocol, port) at once."""
    if not ips_in_use:
        return False
    if WILDCARD_IP in wanted_ips or WILDCARD_IP in ips_in_use:
        return True
    return not wanted_ips.isdisjoint(ips_in_use)


def ports_conflict(wanted: Iterable[HostPort], used: Iterable[HostPort]) -> bool:
    """Whether any wanted host port conflicts with the ports already used on one node."""
    in_use: dict[tuple[str, int], set[str]] = {}
    for port in used:
        if port.port > 0:
            ip, protocol, number = sanitize(port)
            in_use.setdefault((protocol, number), set()).add(ip)
    for port in wanted:
        if port.port > 0:
            ip, protocol, number = sanitize(port)
            if ip_conflicts(ip, in_use.get((protocol, number), ())):
                return True
    return False
