"""The policy configuration file (docs/CONTRACT.md §4) and the default profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extender.model.documents import decode_json_or_yaml
from extender.model.errors import ConfigError

API_VERSION = "podsift/v1"
KIND = "PolicyConfiguration"
MAX_WEIGHT = 100

DEFAULT_FILTERS = (
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
)
# kube-scheduler's default score plugins and weights
# (pkg/scheduler/apis/config/v1/default_plugins.go)
DEFAULT_SCORES = (
    ("NodeResourcesFit", 1),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("NodeAffinity", 2),
    ("TaintToleration", 3),
)


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    weight: int = 1
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyConfiguration:
    filters: tuple[PolicyEntry, ...]
    scores: tuple[PolicyEntry, ...]


def default_configuration() -> PolicyConfiguration:
    return PolicyConfiguration(
        filters=tuple(PolicyEntry(n) for n in DEFAULT_FILTERS),
        scores=tuple(PolicyEntry(n, w) for n, w in DEFAULT_SCORES),
    )


def _entry(raw: Any, where: str, kind: str) -> PolicyEntry:
    if isinstance(raw, str):
        if not raw:
            raise ConfigError(f"{where}: policy name must not be empty")
        return PolicyEntry(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a policy name or {{name, weight, args}}")
    unknown = set(raw) - {"name", "weight", "args"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: must be a non-empty string")
    weight = raw.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= MAX_WEIGHT:
        raise ConfigError(f"{where}.weight: must be an integer in 1..{MAX_WEIGHT}, got {weight!r}")
    args = raw.get("args") or {}
    if not isinstance(args, dict):
        raise ConfigError(f"{where}.args: must be a mapping")
    return PolicyEntry(name, weight, args)


def parse_configuration(doc: Any, source: str = "config") -> PolicyConfiguration:
    """Validate a decoded configuration document."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: must be a mapping with filters and scores")
    unknown = set(doc) - {"apiVersion", "kind", "filters", "scores"}
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        raise ConfigError(f"{source}: apiVersion must be {API_VERSION}, got {doc['apiVersion']!r}")
    if doc.get("kind", KIND) != KIND:
        raise ConfigError(f"{source}: kind must be {KIND}, got {doc['kind']!r}")
    default = default_configuration()
    parts: dict[str, tuple[PolicyEntry, ...]] = {}
    for kind in ("filters", "scores"):
        if kind not in doc:
            parts[kind] = getattr(default, kind)
            continue
        raw = doc[kind]
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ConfigError(f"{source}: {kind} must be a list")
        entries = tuple(_entry(r, f"{source}: {kind}[{i}]", kind) for i, r in enumerate(raw))
        names = [e.name for e in entries]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"{source}: {kind} lists {', '.join(sorted(dup))} more than once")
        parts[kind] = entries
    return PolicyConfiguration(filters=parts["filters"], scores=parts["scores"])


def load_configuration(path: str | None) -> PolicyConfiguration:
    """Read `--config FILE` (YAML or JSON); the default profile without one."""
    if path is None:
        return default_configuration()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read policy configuration {path}: {exc.strerror}") from None
    try:
        doc = decode_json_or_yaml(raw, path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return parse_configuration(doc, path)
