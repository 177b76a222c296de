"""The registry: policies by name, found through the `podsift.policies` entry points.

The built-ins register there exactly as a third-party plugin does (podsift's
own pyproject.toml), and each plugin is imported only when a configuration
names it, so a broken third-party plugin fails only the configurations that
use it.

Trust: the engine checks what every policy returns (`checks`), except the
policies registered by podsift's own distribution, whose outputs its test
suite proves right; skipping the checks saves a few microseconds per policy
per request. Trust comes from that registration, not from a module name: a
plugin named `policies.anything` in another distribution is checked.
Two distributions registering one name is a configuration error, not a race
decided by the order of sys.path.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from importlib.metadata import Distribution, EntryPoint, entry_points
from typing import Any

from extender.model.errors import ConfigError

ENTRY_POINT_GROUP = "podsift.policies"
OWN_DISTRIBUTION = "podsift"


@dataclass(frozen=True)
class Registration:
    cls: type
    trusted: bool
    origin: str  # where it came from, for messages


_registry: dict[str, Registration] = {}
_entry_points: dict[str, list[EntryPoint]] = {}
_scanned = False
# id of a Distribution -> it and its name (`_distribution`)
_dist_names: dict[int, tuple[Distribution, str]] = {}


def register(name: str, cls: type, *, trusted: bool = False) -> None:
    """Register a policy class by name (tests and code embedding podsift).

    Replaces any earlier registration of `name`, entry points included."""
    _registry[name] = Registration(cls, trusted, f"{cls.__module__}.{cls.__qualname__}")


def unregister(name: str) -> None:
    """Forget a registration made with `register` (entry points are found again)."""
    _registry.pop(name, None)


def _distribution(ep: EntryPoint) -> str:
    """The name of the distribution that registers `ep`, found once per distribution.

    `Distribution.name` parses the whole metadata file on every call, and podsift's
    holds its README (128 KB): asked for each of the ten built-ins, that was 2 % of
    a `podsift plan fit`'s instructions. The name is a header, so only the header
    block is parsed (as `Distribution.metadata` parses it, by the email parser)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?"
    found = _dist_names.get(id(dist))
    if found is None or found[0] is not dist:
        found = _dist_names[id(dist)] = (dist, _name_of(dist))
    return found[1]


def _name_of(dist: Distribution) -> str:
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if text is None:
        return dist.name or "?"
    headers = text.replace("\r\n", "\n").partition("\n\n")[0]
    return email.message_from_string(headers).get("Name") or "?"


def _scan_entry_points() -> None:
    """Find the plugins once (importing none of them)."""
    global _scanned
    if _scanned:
        return
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found = _entry_points.setdefault(ep.name, [])
        # One distribution can be seen twice (an editable install's metadata beside
        # its dist-info): the same registration, not a conflict.
        if all(_distribution(e) != _distribution(ep) for e in found):
            found.append(ep)
    _scanned = True


def available() -> list[str]:
    """Names of every registered policy."""
    _scan_entry_points()
    return sorted(set(_registry) | set(_entry_points))


def lookup(name: str) -> Registration:
    """The registration of `name`, loading its plugin on first use; ConfigError if none."""
    found = _registry.get(name)
    if found is not None:
        return found
    _scan_entry_points()
    eps = _entry_points.get(name)
    if not eps:
        raise ConfigError(f"unknown policy {name!r}; known policies: {', '.join(available())}")
    if len(eps) > 1:
        owners = ", ".join(f"{_distribution(ep)} ({ep.value})" for ep in eps)
        raise ConfigError(f"policy {name!r} is registered by more than one package: {owners}")
    ep = eps[0]
    try:
        cls = ep.load()
    except Exception as exc:
        raise ConfigError(f"policy {name!r} ({ep.value}) failed to load: {exc}") from exc
    if not isinstance(cls, type):
        raise ConfigError(f"policy {name!r} ({ep.value}) is not a class")
    found = Registration(cls, _distribution(ep) == OWN_DISTRIBUTION, ep.value)
    _registry[name] = found
    return found


def create(name: str, args: dict[str, Any] | None, kind: str) -> Any:
    """Build policy `name` from its args for use as `kind` ("filter" or "score")."""
    cls = lookup(name).cls
    method = "filter" if kind == "filter" else "score"
    if not callable(getattr(cls, method, None)):
        raise ConfigError(f"policy {name!r} has no {method}(); it cannot be used in {kind}s")
    if kind == "filter" and not callable(getattr(cls, "reasons", None)):
        raise ConfigError(f"policy {name!r} has filter() but no reasons()")
    try:
        policy = cls(args or {})
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"policy {name!r}: invalid args: {exc}") from exc
    policy.name = name
    return policy


def is_trusted(name: str) -> bool:
    """Whether podsift's own distribution registered `name` (its outputs go unchecked)."""
    return lookup(name).trusted
