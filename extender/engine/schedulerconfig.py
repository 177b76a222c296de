"""A kube-scheduler KubeSchedulerConfiguration read as podsift's policy configuration.

So that an existing profile moves to podsift as it is (docs/CONTRACT.md §4):
the profile's effective filter and score plugins are computed the way
kube-scheduler 1.34 computes them, then mapped onto podsift's policies:

1. the v1 defaults (every default plugin is a `multiPoint` entry) merged with
   the profile's `plugins`, extension point by extension point: a `disabled`
   name (or `"*"`) removes default entries, an `enabled` entry naming a
   default replaces it in place (its weight too), other `enabled` entries are
   appended (upstream `mergePluginSet`);
2. the framework's multiPoint expansion, for the filter and the score points:
   each multiPoint plugin joins every point it implements unless that point
   disables it or `"*"`; a plugin also listed in the point's own `enabled`
   keeps that entry and moves first; then the multiPoint plugins; then the
   point's other `enabled` plugins;
3. score weights from the first `score.enabled` entry of a plugin, else its
   multiPoint entry; a missing or 0 weight is 1;
4. args from the profile's `pluginConfig`, one block per plugin for both its
   filter and its score.

Plugins podsift does not implement (volumes, DRA, and the in-tree plugins
podsift has no policy for yet) stay kube-scheduler's job: they are dropped and
named in one warning. Fields that configure kube-scheduler itself (extenders,
leader election, percentageOfNodesToScore, other extension points...) are
ignored; unknown fields are refused, as kube-scheduler's strict decoding does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from extender.engine.config import MAX_WEIGHT, PolicyConfiguration, PolicyEntry, plugin_args
from extender.framework import registry
from extender.model.errors import ConfigError

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
POINTS = ("filter", "score")

# kube-scheduler 1.34's default plugins, all multiPoint, in order, with their
# weights (pkg/scheduler/apis/config/v1/default_plugins.go; DynamicResources is
# on by default since its feature gate went GA in 1.34).
DEFAULT_MULTI_POINT: tuple[tuple[str, int | None], ...] = (
    ("SchedulingGates", None),
    ("PrioritySort", None),
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", None),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", None),
    ("NodeVolumeLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DynamicResources", None),
    ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", None),
)

# The filter and score points each in-tree plugin of kube-scheduler 1.34
# implements (its other points are not podsift's business).
IN_TREE_POINTS: dict[str, tuple[str, ...]] = {
    "SchedulingGates": (),
    "PrioritySort": (),
    "NodeUnschedulable": ("filter",),
    "NodeName": ("filter",),
    "TaintToleration": ("filter", "score"),
    "NodeAffinity": ("filter", "score"),
    "NodePorts": ("filter",),
    "NodeResourcesFit": ("filter", "score"),
    "VolumeRestrictions": ("filter",),
    "NodeVolumeLimits": ("filter",),
    "VolumeBinding": ("filter", "score"),
    "VolumeZone": ("filter",),
    "PodTopologySpread": ("filter", "score"),
    "InterPodAffinity": ("filter", "score"),
    "DynamicResources": ("filter",),
    "DefaultPreemption": (),
    "NodeResourcesBalancedAllocation": ("score",),
    "ImageLocality": ("score",),
    "DefaultBinder": (),
}

# Field names of the v1 types (k8s.io/kube-scheduler/config/v1), for strict decoding.
CONFIG_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "parallelism",
        "leaderElection",
        "clientConnection",
        "enableProfiling",
        "enableContentionProfiling",
        "percentageOfNodesToScore",
        "percentageOfPlacementsToScore",
        "podInitialBackoffSeconds",
        "podMaxBackoffSeconds",
        "profiles",
        "extenders",
        "delayCacheUntilActive",
    }
)
PROFILE_FIELDS = frozenset(
    {
        "schedulerName",
        "percentageOfNodesToScore",
        "percentageOfPlacementsToScore",
        "plugins",
        "pluginConfig",
    }
)
EXTENSION_POINTS = frozenset(
    {
        "preEnqueue",
        "queueSort",
        "preFilter",
        "filter",
        "postFilter",
        "preScore",
        "score",
        "reserve",
        "permit",
        "preBind",
        "bind",
        "postBind",
        "multiPoint",
        "placementGenerate",
        "placementScore",
        "placementFeasible",
        "podGroupPostFilter",
    }
)


@dataclass(frozen=True)
class Plugin:
    name: str
    weight: int | None = None


@dataclass(frozen=True)
class PluginSet:
    enabled: tuple[Plugin, ...] = ()
    disabled: frozenset[str] = frozenset()


def _mapping(raw: Any, where: str, fields: frozenset[str] | set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: must be a list, got {type(raw).__name__}")
    return raw


def _name(raw: dict[str, Any], where: str) -> str:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: must be a non-empty string, got {name!r}")
    return name


def _plugin(raw: Any, where: str) -> Plugin:
    entry = _mapping(raw, where, {"name", "weight"})
    weight = entry.get("weight")
    if weight is not None and (
        not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT
    ):
        raise ConfigError(
            f"{where}.weight: podsift takes score weights in 0..{MAX_WEIGHT} (0 means 1), "
            f"got {weight!r}"
        )
    return Plugin(_name(entry, where), weight)


def _plugin_set(raw: Any, where: str) -> PluginSet:
    pset = _mapping(raw, where, {"enabled", "disabled"})
    enabled = tuple(
        _plugin(p, f"{where}.enabled[{i}]")
        for i, p in enumerate(_list(pset.get("enabled"), f"{where}.enabled"))
    )
    disabled = frozenset(
        _plugin(p, f"{where}.disabled[{i}]").name
        for i, p in enumerate(_list(pset.get("disabled"), f"{where}.disabled"))
    )
    return PluginSet(enabled, disabled)


def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """The profile's set over the default one, as upstream's mergePluginSet."""
    custom_by_name = {p.name: i for i, p in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[Plugin] = []
    disabled = custom.disabled | default.disabled
    if "*" not in disabled:
        for plugin in default.enabled:
            if plugin.name in disabled:
                continue
            index = custom_by_name.get(plugin.name)
            if index is not None:  # re-configured: the custom entry, in the default's place
                plugin = custom.enabled[index]
                replaced.add(index)
            enabled.append(plugin)
    enabled += [p for i, p in enumerate(custom.enabled) if i not in replaced]
    return PluginSet(tuple(enabled), disabled)


def _implements(name: str, point: str, known: frozenset[str]) -> bool | None:
    """Whether plugin `name` implements `point` ("filter" or "score"): podsift's
    policy of that name if there is one (`known`: podsift's policy names), else
    the in-tree plugin; None if neither podsift nor kube-scheduler 1.34 knows it."""
    if name in known:
        return callable(getattr(registry.lookup(name).cls, point, None))
    if name in IN_TREE_POINTS:
        return point in IN_TREE_POINTS[name]
    return None


def expand(
    point: str, own: PluginSet, multi_point: PluginSet, known: frozenset[str], where: str
) -> list[str]:
    """The plugins that run at `point`, in order, as the framework expands them."""
    names: list[str] = []
    for i, plugin in enumerate(own.enabled):
        if plugin.name in names:
            raise ConfigError(f"{where}.{point}.enabled[{i}]: {plugin.name} is listed twice")
        if _implements(plugin.name, point, known) is False:
            raise ConfigError(
                f"{where}.{point}.enabled[{i}]: {plugin.name} is not a {point} plugin"
            )
        names.append(plugin.name)
    if "*" in own.disabled:
        return names
    overridden: list[str] = []
    from_multi_point: list[str] = []
    for plugin in multi_point.enabled:
        if plugin.name in own.disabled or not _implements(plugin.name, point, known):
            continue
        if plugin.name in names:
            overridden.append(plugin.name)
        elif plugin.name in from_multi_point:
            raise ConfigError(
                f"{where}.multiPoint.enabled: {plugin.name} is listed twice (as a {point} plugin)"
            )
        else:
            from_multi_point.append(plugin.name)
    first = [n for n in names if n in overridden]
    return first + from_multi_point + [n for n in names if n not in overridden]


def _weights(score: PluginSet, multi_point: PluginSet) -> dict[str, int]:
    """Score weights: a plugin's first entry in score.enabled, then multiPoint."""
    weights: dict[str, int] = {}
    for plugin in (*score.enabled, *multi_point.enabled):
        weights.setdefault(plugin.name, plugin.weight or 1)
    return weights


def _select_profile(doc: dict[str, Any], source: str, wanted: str | None) -> tuple[str, Any]:
    profiles = _list(doc.get("profiles"), f"{source}: profiles") or [{}]
    names: list[str] = []
    for i, raw in enumerate(profiles):
        profile = _mapping(raw, f"{source}: profiles[{i}]", PROFILE_FIELDS)
        name = profile.get("schedulerName")
        if name is None and len(profiles) == 1:
            name = DEFAULT_SCHEDULER_NAME
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{source}: profiles[{i}].schedulerName: every profile of several needs a "
                f"non-empty name, got {name!r}"
            )
        if name in names:
            raise ConfigError(f"{source}: profiles[{i}]: schedulerName {name!r} is used twice")
        names.append(name)
    if wanted is None:
        return names[0], profiles[0] or {}
    if wanted not in names:
        raise ConfigError(
            f"--profile {wanted}: no such profile in {source}; its profiles "
            f"(schedulerName): {', '.join(names)}"
        )
    return wanted, profiles[names.index(wanted)] or {}


def from_scheduler_configuration(
    doc: dict[str, Any], source: str, profile_name: str | None = None
) -> PolicyConfiguration:
    """podsift's policies for one profile of a KubeSchedulerConfiguration (the first
    without `profile_name`), with one warning naming what podsift leaves out."""
    _mapping(doc, source, CONFIG_FIELDS)
    if doc.get("apiVersion") != API_VERSION:
        raise ConfigError(
            f"{source}: a {KIND} must be apiVersion {API_VERSION} (the one kube-scheduler "
            f"1.34 reads), got {doc.get('apiVersion')!r}"
        )
    name, profile = _select_profile(doc, source, profile_name)
    where = f"{source}: profile {name!r}"
    plugins = _mapping(profile.get("plugins"), f"{where}: plugins", EXTENSION_POINTS)
    sets = {
        point: _plugin_set(plugins.get(point), f"{where}: plugins.{point}")
        for point in ("multiPoint", *POINTS)
    }
    default = PluginSet(tuple(Plugin(n, w) for n, w in DEFAULT_MULTI_POINT))
    multi_point = merge_plugin_set(default, sets["multiPoint"])
    known = frozenset(registry.available())
    chosen = {p: expand(p, sets[p], multi_point, known, f"{where}: plugins") for p in POINTS}

    args: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(_list(profile.get("pluginConfig"), f"{where}: pluginConfig")):
        at = f"{where}: pluginConfig[{i}]"
        entry = _mapping(raw, at, {"name", "args"})
        plugin = _name(entry, at)
        if plugin in args:
            raise ConfigError(f"{at}: repeated config for plugin {plugin}")
        value = entry.get("args") or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{at}.args: must be a mapping, got {type(value).__name__}")
        args[plugin] = plugin_args(plugin, value, f"{at}.args")

    weights = _weights(sets["score"], multi_point)
    dropped: dict[str, list[str]] = {}
    for point in POINTS:
        for plugin in chosen[point]:
            if plugin not in known:
                dropped.setdefault(plugin, []).append(point)
    # multiPoint names neither podsift nor kube-scheduler knows: their points are unknown.
    for plugin in multi_point.enabled:
        if _implements(plugin.name, "filter", known) is None:
            places = dropped.setdefault(plugin.name, [])
            if "multiPoint" not in places:
                places.append("multiPoint")
    filters = tuple(PolicyEntry(n, 1, args.get(n, {})) for n in chosen["filter"] if n in known)
    scores = tuple(
        PolicyEntry(n, weights[n], args.get(n, {})) for n in chosen["score"] if n in known
    )
    warning = _warning(where, dropped, filters, scores)
    return PolicyConfiguration(filters, scores, (warning,) if warning else ())


def _warning(
    where: str,
    dropped: dict[str, list[str]],
    filters: tuple[PolicyEntry, ...],
    scores: tuple[PolicyEntry, ...],
) -> str:
    parts = []
    in_tree = [n for n in dropped if n in IN_TREE_POINTS]
    unknown = [n for n in dropped if n not in IN_TREE_POINTS]
    if in_tree:
        listed = ", ".join(f"{n} ({'+'.join(dropped[n])})" for n in in_tree)
        parts.append(f"not implemented by podsift, left to kube-scheduler: {listed}")
    if unknown:
        listed = ", ".join(f"{n} ({'+'.join(dropped[n])})" for n in unknown)
        parts.append(f"ignored, unknown to podsift and to kube-scheduler 1.34: {listed}")
    if not filters and not scores:
        parts.append("no podsift policy remains: every node passes and scores 0")
    elif not filters:
        parts.append("no filter remains: every node passes")
    elif not scores:
        parts.append("no score remains: every node scores 0")
    return f"{where}: " + "; ".join(parts) if parts else ""
