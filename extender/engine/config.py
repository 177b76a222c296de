"""The policy configuration file (docs/CONTRACT.md §4) and the default profile.

`--config` takes either podsift's own PolicyConfiguration or a kube-scheduler
KubeSchedulerConfiguration (extender/engine/schedulerconfig.py), so an existing
profile moves to podsift as it is. Both end here as one PolicyConfiguration,
with kube-scheduler's rule that a plugin has one args block, shared by its
filter and its score.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from extender.model.documents import decode_json_or_yaml
from extender.model.errors import ConfigError

API_VERSION = "podsift/v1"
KIND = "PolicyConfiguration"
MAX_WEIGHT = 100

# The group/version of kube-scheduler's plugin args types (`NodeResourcesFitArgs`, ...).
ARGS_API_VERSION = "kubescheduler.config.k8s.io/v1"
# In-tree plugins whose args have a registered v1 type in kube-scheduler 1.34: their
# args may carry that type's apiVersion and kind, and no other.
V1_ARGS_PLUGINS = frozenset(
    {
        "NodeResourcesFit",
        "NodeResourcesBalancedAllocation",
        "NodeAffinity",
        "PodTopologySpread",
        "InterPodAffinity",
        "VolumeBinding",
        "DefaultPreemption",
        "DynamicResources",
    }
)

DEFAULT_FILTERS = (
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    # after the volume plugins in kube-scheduler's order, which podsift leaves to it
    "PodTopologySpread",
    "InterPodAffinity",
)
# kube-scheduler's default score plugins and weights
# (pkg/scheduler/apis/config/v1/default_plugins.go)
DEFAULT_SCORES = (
    ("NodeResourcesFit", 1),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("NodeAffinity", 2),
    ("TaintToleration", 3),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
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
    # What the operator should know at startup (plugins of a KubeSchedulerConfiguration
    # podsift leaves to kube-scheduler): logged once by `podsift serve`, not an error.
    warnings: tuple[str, ...] = field(default=(), compare=False)


def default_configuration() -> PolicyConfiguration:
    return PolicyConfiguration(
        filters=tuple(PolicyEntry(n) for n in DEFAULT_FILTERS),
        scores=tuple(PolicyEntry(n, w) for n, w in DEFAULT_SCORES),
    )


def plugin_args(name: str, args: dict[str, Any], where: str) -> dict[str, Any]:
    """`args` without their type tag (`apiVersion`, `kind`), checked against `name`.

    kube-scheduler decodes a plugin's args as the v1 type `<name>Args` and refuses
    another kind or version. For plugins without such a type (podsift's own and
    third-party plugins, which define their own groups) the tag is removed only
    when `kind` is `<name>Args`, whatever the apiVersion; otherwise the args reach
    the plugin as written."""
    if "apiVersion" not in args and "kind" not in args:
        return args
    expected = f"{name}Args"
    api_version, kind = args.get("apiVersion"), args.get("kind")
    if name in V1_ARGS_PLUGINS:
        if api_version not in (None, ARGS_API_VERSION) or kind not in (None, expected):
            got = ", ".join(
                f"{key} {value!r}"
                for key, value in (("apiVersion", api_version), ("kind", kind))
                if value is not None
            )
            raise ConfigError(
                f"{where}: args of {name} are {ARGS_API_VERSION} {expected}, got {got}"
            )
    elif kind != expected:
        return args
    return {k: v for k, v in args.items() if k not in ("apiVersion", "kind")}


def share_args(
    filters: tuple[PolicyEntry, ...],
    scores: tuple[PolicyEntry, ...],
    places: dict[tuple[str, str], str],
    source: str,
) -> tuple[tuple[PolicyEntry, ...], tuple[PolicyEntry, ...]]:
    """One args block per plugin, as kube-scheduler's `pluginConfig` has: args given
    on a plugin's filter entry or its score entry apply to both. The same args on
    both are fine; different ones are refused, naming both places
    (`places[(kind, name)]`, kind "filters" or "scores")."""
    by_name = {e.name: e for e in filters}
    shared: dict[str, dict[str, Any]] = {}
    for s in scores:
        f = by_name.get(s.name)
        if f is None:
            continue
        if f.args and s.args and f.args != s.args:
            raise ConfigError(
                f"{source}: {s.name} has different args in {places[('filters', s.name)]} and "
                f"{places[('scores', s.name)]}; a plugin has one args block, shared by its "
                "filter and its score: give it once, on either entry"
            )
        if f.args or s.args:
            shared[s.name] = f.args or s.args
    if not shared:
        return filters, scores

    def with_shared(entries: tuple[PolicyEntry, ...]) -> tuple[PolicyEntry, ...]:
        return tuple(replace(e, args=shared[e.name]) if e.name in shared else e for e in entries)

    return with_shared(filters), with_shared(scores)


def _entry(raw: Any, where: str) -> PolicyEntry:
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
    return PolicyEntry(name, weight, plugin_args(name, args, f"{where}.args"))


def is_kube_scheduler_configuration(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "KubeSchedulerConfiguration"


def parse_configuration(
    doc: Any, source: str = "config", profile: str | None = None
) -> PolicyConfiguration:
    """Validate a decoded configuration document: a podsift PolicyConfiguration, or
    a KubeSchedulerConfiguration whose `profile` (default: the first) is taken."""
    if is_kube_scheduler_configuration(doc):
        from extender.engine.schedulerconfig import from_scheduler_configuration

        return from_scheduler_configuration(doc, source, profile)
    if profile is not None:
        raise ConfigError(
            f"--profile {profile}: {source} is a podsift PolicyConfiguration, which has no "
            "profiles; --profile selects a profile of a KubeSchedulerConfiguration"
        )
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: must be a mapping with filters and scores")
    unknown = set(doc) - {"apiVersion", "kind", "filters", "scores"}
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        raise ConfigError(f"{source}: apiVersion must be {API_VERSION}, got {doc['apiVersion']!r}")
    if doc.get("kind", KIND) != KIND:
        raise ConfigError(
            f"{source}: kind must be {KIND} (or KubeSchedulerConfiguration), got {doc['kind']!r}"
        )
    default = default_configuration()
    parts: dict[str, tuple[PolicyEntry, ...]] = {}
    places: dict[tuple[str, str], str] = {}
    for kind in ("filters", "scores"):
        if kind not in doc:
            parts[kind] = getattr(default, kind)
            continue
        raw = doc[kind]
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ConfigError(f"{source}: {kind} must be a list")
        entries = tuple(_entry(r, f"{source}: {kind}[{i}]") for i, r in enumerate(raw))
        names = [e.name for e in entries]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"{source}: {kind} lists {', '.join(sorted(dup))} more than once")
        places.update(((kind, e.name), f"{kind}[{i}].args") for i, e in enumerate(entries))
        parts[kind] = entries
    filters, scores = share_args(parts["filters"], parts["scores"], places, source)
    return PolicyConfiguration(filters=filters, scores=scores)


def load_configuration(path: str | None, profile: str | None = None) -> PolicyConfiguration:
    """Read `--config FILE` (YAML or JSON); the default profile without one.

    `profile` names the KubeSchedulerConfiguration profile to take (`--profile`)."""
    if path is None:
        if profile is not None:
            raise ConfigError(
                f"--profile {profile}: selects a profile of a KubeSchedulerConfiguration "
                "given with --config, and no --config was given"
            )
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
    return parse_configuration(doc, path, profile)
