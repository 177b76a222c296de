"""The deployment manifests, checked against real schemas rather than by eye.

- Kubernetes objects: every key must be a field of the kubernetes client's
  model for that kind (recursively, with the model's types), and the model
  must deserialize it (required fields present).
- The KubeSchedulerConfiguration: every key and type against a field table
  transcribed from k8s.io/kube-scheduler/config/v1 (types.go) and
  k8s.io/component-base/config/v1alpha1, plus the rules of kube-scheduler's
  own validation that apply to these files.
- kustomize: every referenced file exists, and, where kubectl is installed,
  each variant builds and its rendered output passes the same checks.
- Consistency: the extender's URL, verbs and TLS files agree with podsift's
  defaults, its command line, the Service and the mounted Secrets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
VARIANTS = ("sidecar", "standalone")
YAML_FILES = sorted(p for p in MANIFESTS.rglob("*.yaml"))

# Kinds the manifests may use, with the apiVersion each must carry.
K8S_KINDS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

# podsift's defaults (docs/CONTRACT.md §1 and §5).
PODSIFT_VERBS = {"filterVerb": "filter", "prioritizeVerb": "prioritize", "bindVerb": "bind"}
DEFAULT_LISTEN = "127.0.0.1:8888"


# --------------------------------------------------------------------------------------
# Kubernetes objects against the client's models


def model_errors(data: Any, type_name: str, path: str) -> list[str]:
    """Unknown keys and wrong types in `data` for the client type `type_name`.

    Understands both spellings the client has used for containers:
    `list[T]`/`dict(str, T)` and `List[T]`/`Dict[str, T]`/`Optional[T]`.
    """
    optional = re.fullmatch(r"Optional\[(.+)\]", type_name)
    if optional:
        return model_errors(data, optional.group(1), path)
    as_list = re.fullmatch(r"[Ll]ist\[(.+)\]", type_name)
    if as_list:
        if not isinstance(data, list):
            return [f"{path}: expected a list, got {type(data).__name__}"]
        inner = as_list.group(1)
        return [e for i, item in enumerate(data) for e in model_errors(item, inner, f"{path}[{i}]")]
    as_dict = re.fullmatch(r"(?:dict\(|Dict\[)str, (.+)[)\]]", type_name)
    if as_dict:
        if not isinstance(data, dict):
            return [f"{path}: expected a mapping, got {type(data).__name__}"]
        inner = as_dict.group(1)
        return [e for k, v in data.items() for e in model_errors(v, inner, f"{path}.{k}")]
    primitive = {"str": str, "bool": bool, "int": int, "float": (int, float), "datetime": str}
    if type_name in primitive:
        ok = isinstance(data, primitive[type_name]) and not (
            type_name in ("int", "float") and isinstance(data, bool)
        )
        return [] if ok else [f"{path}: expected {type_name}, got {data!r}"]
    if type_name == "object":  # IntOrString and free-form fields
        return []
    model = getattr(client.models, type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected a {type_name} mapping, got {type(data).__name__}"]
    by_json_name = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, value in data.items():
        if key not in by_json_name:
            errors.append(f"{path}.{key}: not a field of {type_name}")
            continue
        if value is None:
            continue
        attr_type = model.openapi_types[by_json_name[key]]
        errors.extend(model_errors(value, attr_type, f"{path}.{key}"))
    return errors


def check_k8s_object(obj: dict[str, Any], where: str) -> None:
    kind = obj.get("kind")
    assert kind in K8S_KINDS, f"{where}: kind {kind!r} is not one the tests validate"
    assert obj["apiVersion"] == K8S_KINDS[kind], f"{where}: {kind} apiVersion"
    type_name = f"V1{kind}"
    errors = model_errors(obj, type_name, f"{where}:{kind}/{obj['metadata']['name']}")
    assert not errors, "\n".join(errors)
    # The client's constructors reject missing required fields.
    client.ApiClient()._ApiClient__deserialize(obj, type_name)
    if kind in CLUSTER_SCOPED:
        assert "namespace" not in obj["metadata"], f"{where}: {kind} is cluster-scoped"
    else:
        assert obj["metadata"].get("namespace"), f"{where}: {kind} must name its namespace"


def test_model_checker_catches_unknown_keys_and_bad_types():
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"ports": [{"port": "8443", "targetPortt": 1}], "sessionAffinity": "ClientIP"},
    }
    errors = model_errors(bad, "V1Service", "bad")
    assert any("targetPortt" in e for e in errors)
    assert any("port: expected int" in e for e in errors)
    with pytest.raises(ValueError):
        client.ApiClient()._ApiClient__deserialize(
            {"spec": {"containers": [{"image": "x"}]}}, "V1Pod"
        )


# --------------------------------------------------------------------------------------
# KubeSchedulerConfiguration against a table transcribed from upstream types.go

# Field types: a scalar name, a struct name from the table, ("list", T), or "any".
SCHED_TYPES: dict[str, dict[str, Any]] = {
    "KubeSchedulerConfiguration": {
        "apiVersion": "string",
        "kind": "string",
        "parallelism": "int32",
        "leaderElection": "LeaderElectionConfiguration",
        "clientConnection": "ClientConnectionConfiguration",
        # componentbaseconfigv1alpha1.DebuggingConfiguration, inlined
        "enableProfiling": "bool",
        "enableContentionProfiling": "bool",
        "percentageOfNodesToScore": "int32",
        "percentageOfPlacementsToScore": "int32",
        "podInitialBackoffSeconds": "int64",
        "podMaxBackoffSeconds": "int64",
        "profiles": ("list", "KubeSchedulerProfile"),
        "extenders": ("list", "Extender"),
        "delayCacheUntilActive": "bool",
    },
    "KubeSchedulerProfile": {
        "schedulerName": "string",
        "percentageOfNodesToScore": "int32",
        "percentageOfPlacementsToScore": "int32",
        "plugins": "Plugins",
        "pluginConfig": ("list", "PluginConfig"),
    },
    "Plugins": {
        name: "PluginSet"
        for name in (
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
        )
    },
    "PluginSet": {"enabled": ("list", "Plugin"), "disabled": ("list", "Plugin")},
    "Plugin": {"name": "string", "weight": "int32"},
    "PluginConfig": {"name": "string", "args": "any"},
    "Extender": {
        "urlPrefix": "string",
        "filterVerb": "string",
        "preemptVerb": "string",
        "prioritizeVerb": "string",
        "weight": "int64",
        "bindVerb": "string",
        "enableHTTPS": "bool",
        "tlsConfig": "ExtenderTLSConfig",
        "httpTimeout": "duration",
        "nodeCacheCapable": "bool",
        "managedResources": ("list", "ExtenderManagedResource"),
        "ignorable": "bool",
    },
    "ExtenderManagedResource": {"name": "string", "ignoredByScheduler": "bool"},
    "ExtenderTLSConfig": {
        "insecure": "bool",
        "serverName": "string",
        "certFile": "string",
        "keyFile": "string",
        "caFile": "string",
        "certData": "bytes",
        "keyData": "bytes",
        "caData": "bytes",
    },
    "LeaderElectionConfiguration": {
        "leaderElect": "bool",
        "leaseDuration": "duration",
        "renewDeadline": "duration",
        "retryPeriod": "duration",
        "resourceLock": "string",
        "resourceName": "string",
        "resourceNamespace": "string",
    },
    "ClientConnectionConfiguration": {
        "kubeconfig": "string",
        "acceptContentTypes": "string",
        "contentType": "string",
        "qps": "float32",
        "burst": "int32",
    },
}
# Fields without omitempty whose zero value would be invalid.
SCHED_REQUIRED = {
    "Extender": {"urlPrefix"},
    "Plugin": {"name"},
    "PluginConfig": {"name"},
    "ExtenderManagedResource": {"name"},
}
GO_DURATION = re.compile(r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$")
BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def sched_errors(data: Any, type_spec: Any, path: str) -> list[str]:
    if isinstance(type_spec, tuple):
        if not isinstance(data, list):
            return [f"{path}: expected a list"]
        return [
            e for i, x in enumerate(data) for e in sched_errors(x, type_spec[1], f"{path}[{i}]")
        ]
    if type_spec == "any":
        return []
    if type_spec in SCHED_TYPES:
        if not isinstance(data, dict):
            return [f"{path}: expected a {type_spec} mapping"]
        fields = SCHED_TYPES[type_spec]
        errors = [f"{path}.{k}: not a field of {type_spec}" for k in data if k not in fields]
        errors += [
            f"{path}.{k}: required in {type_spec}"
            for k in SCHED_REQUIRED.get(type_spec, ())
            if not data.get(k)
        ]
        for key, value in data.items():
            if key in fields:
                errors += sched_errors(value, fields[key], f"{path}.{key}")
        return errors
    ok = {
        "string": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int32": lambda v: type(v) is int and -(2**31) <= v < 2**31,
        "int64": lambda v: type(v) is int and -(2**63) <= v < 2**63,
        "float32": lambda v: type(v) in (int, float),
        "duration": lambda v: isinstance(v, str) and bool(GO_DURATION.match(v)),
        "bytes": lambda v: isinstance(v, str) and bool(BASE64.match(v)),
    }[type_spec](data)
    return [] if ok else [f"{path}: {data!r} is not a {type_spec}"]


def scheduler_rule_errors(cfg: dict[str, Any]) -> list[str]:
    """The checks of kube-scheduler's ValidateKubeSchedulerConfiguration these files can hit."""
    errors = []
    le = cfg.get("leaderElection", {})
    if le.get("leaderElect", True) and le.get("resourceLock", "leases") != "leases":
        errors.append('leaderElection.resourceLock must be "leases"')
    if cfg.get("parallelism", 16) <= 0:
        errors.append("parallelism must be > 0")
    profiles = cfg.get("profiles") or [{"schedulerName": "default-scheduler"}]
    names = [p.get("schedulerName", "default-scheduler") for p in profiles]
    if len(set(names)) != len(names) or not all(names):
        errors.append("profiles need unique, non-empty schedulerNames")
    for where in [cfg, *profiles]:
        pct = where.get("percentageOfNodesToScore")
        if pct is not None and not 0 <= pct <= 100:
            errors.append("percentageOfNodesToScore not in [0-100]")
    if cfg.get("podInitialBackoffSeconds", 1) <= 0:
        errors.append("podInitialBackoffSeconds must be > 0")
    if cfg.get("podMaxBackoffSeconds", 10) < cfg.get("podInitialBackoffSeconds", 1):
        errors.append("podMaxBackoffSeconds < podInitialBackoffSeconds")
    extenders = cfg.get("extenders", [])
    if sum(1 for e in extenders if e.get("bindVerb")) > 1:
        errors.append("only one extender can implement bind")
    seen = set()
    for e in extenders:
        if e.get("prioritizeVerb") and e.get("weight", 0) <= 0:
            errors.append("an extender with prioritizeVerb must have a positive weight")
        for r in e.get("managedResources", []):
            # an extended resource: a qualified name with a domain, not kubernetes.io/
            if "/" not in r["name"] or r["name"].startswith("kubernetes.io/"):
                errors.append(f"{r['name']} is not an extended resource name")
            if r["name"] in seen:
                errors.append(f"duplicate managed resource {r['name']}")
            seen.add(r["name"])
    return errors


def check_scheduler_config(cfg: dict[str, Any], where: str) -> None:
    assert cfg["apiVersion"] == "kubescheduler.config.k8s.io/v1", where
    assert cfg["kind"] == "KubeSchedulerConfiguration", where
    errors = sched_errors(cfg, "KubeSchedulerConfiguration", where)
    errors += scheduler_rule_errors(cfg)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"extenders": [{"urlPrefix": "x", "nodeCachecapable": True}]}, "not a field"),
        ({"extenders": [{"urlPrefix": "x", "httpTimeout": 5}]}, "not a duration"),
        ({"extenders": [{"urlPrefix": "x", "weight": "1"}]}, "not a int64"),
        ({"extenders": [{"urlPrefix": "x", "prioritizeVerb": "p"}]}, "positive weight"),
        ({"extenders": [{"filterVerb": "f"}]}, "required"),
        ({"extenders": [{"urlPrefix": "x", "tlsConfig": {"caFIle": "/x"}}]}, "not a field"),
        ({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]}, "unique"),
        ({"leaderElection": {"leaderElect": True, "resourceLock": "endpoints"}}, "leases"),
    ],
)
def test_scheduler_config_checker_catches_mistakes(patch, message):
    cfg = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}
    cfg.update(patch)
    with pytest.raises(AssertionError, match=message):
        check_scheduler_config(cfg, "example")


# --------------------------------------------------------------------------------------
# The files as written

KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "labels",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "images",
    "patches",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "components",
}


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_there_are_manifests_for_both_variants():
    for variant in ("base", *VARIANTS):
        assert (MANIFESTS / variant / "kustomization.yaml").is_file()
    assert len(YAML_FILES) >= 10


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_every_yaml_document_is_valid_for_its_schema(path):
    docs = load_docs(path)
    assert docs, f"{path} is empty"
    for i, doc in enumerate(docs):
        where = f"{path.relative_to(MANIFESTS)}#{i}"
        kind = doc.get("kind")
        if kind == "Kustomization":
            assert doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
            assert set(doc) <= KUSTOMIZATION_KEYS, where
        elif kind == "KubeSchedulerConfiguration":
            check_scheduler_config(doc, where)
        elif kind == "PolicyConfiguration":
            from extender.engine.config import parse_configuration

            parse_configuration(doc, str(path))
        else:
            check_k8s_object(doc, where)


@pytest.mark.parametrize("variant", ("base", *VARIANTS))
def test_kustomization_references_exist(variant):
    directory = MANIFESTS / variant
    (kustomization,) = load_docs(directory / "kustomization.yaml")
    for ref in kustomization.get("resources", []):
        target = (directory / ref).resolve()
        if target.is_dir():
            assert (target / "kustomization.yaml").is_file(), ref
        else:
            assert target.is_file(), ref
    for gen in kustomization.get("configMapGenerator", []):
        assert gen.get("namespace") == "podsift-system", gen["name"]
        for f in gen.get("files", []):
            assert (directory / f.split("=")[-1]).is_file(), f


def test_no_kustomization_forces_a_namespace():
    # A kustomize `namespace:` would move the RoleBinding that must live in kube-system.
    for variant in ("base", *VARIANTS):
        (kustomization,) = load_docs(MANIFESTS / variant / "kustomization.yaml")
        assert "namespace" not in kustomization


def test_podsift_clusterrole_is_minimal():
    (role,) = load_docs(MANIFESTS / "base" / "podsift-clusterrole.yaml")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("", "nodes", "get"),
        ("", "nodes", "list"),
        ("", "nodes", "watch"),
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "pods/binding", "create"),
        # PodTopologySpread's default constraints: the owners' selectors
        ("", "services", "list"),
        ("", "services", "watch"),
        ("", "replicationcontrollers", "list"),
        ("", "replicationcontrollers", "watch"),
        ("apps", "replicasets", "list"),
        ("apps", "replicasets", "watch"),
        ("apps", "statefulsets", "list"),
        ("apps", "statefulsets", "watch"),
    }


def test_second_scheduler_gets_the_roles_the_multiple_schedulers_task_names():
    docs = load_docs(MANIFESTS / "base" / "scheduler-rbac.yaml")
    refs = {(d["kind"], d["roleRef"]["name"]) for d in docs if "roleRef" in d}
    assert ("ClusterRoleBinding", "system:kube-scheduler") in refs
    assert ("ClusterRoleBinding", "system:volume-scheduler") in refs
    assert ("RoleBinding", "extension-apiserver-authentication-reader") in refs
    (reader,) = [d for d in docs if "authentication-reader" in d.get("roleRef", {}).get("name", "")]
    assert reader["metadata"]["namespace"] == "kube-system"
    for doc in docs:
        for subject in doc.get("subjects", []):
            assert subject == {
                "kind": "ServiceAccount",
                "name": "podsift-scheduler",
                "namespace": "podsift-system",
            }


# --------------------------------------------------------------------------------------
# The variants as kustomize renders them


def render(variant: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run(
            [kubectl, "kustomize", str(MANIFESTS / variant)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    return render_without_kustomize(variant)


def render_without_kustomize(variant: str) -> list[dict[str, Any]]:
    """Enough of kustomize for these files: resources, configMapGenerator, no hashing."""
    directory = MANIFESTS / variant
    (k,) = load_docs(directory / "kustomization.yaml")
    objects: list[dict[str, Any]] = []
    for ref in k.get("resources", []):
        target = directory / ref
        if target.is_dir():
            objects += render_without_kustomize(str(target.relative_to(MANIFESTS)))
        else:
            objects += load_docs(target)
    for gen in k.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in gen.get("files", [])}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": gen["name"], "namespace": gen["namespace"]},
                "data": data,
            }
        )
    return objects


def find(objects, kind, name):
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def configmap(objects, prefix):
    """A generated ConfigMap by its generator name (kustomize appends a content hash)."""
    matches = [
        o
        for o in objects
        if o["kind"] == "ConfigMap"
        and re.fullmatch(rf"{prefix}(-[a-z0-9]{{10}})?", o["metadata"]["name"])
    ]
    assert len(matches) == 1, prefix
    return matches[0]


def container(deployment, name):
    (c,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return c


def flag(c, name):
    """The value of --name=value in a container's args, or None."""
    for arg in c.get("args", []):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def mount_of(deployment, c, path):
    """The volume mounted at the directory holding `path`."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for m in c["volumeMounts"]:
        if path.startswith(m["mountPath"].rstrip("/") + "/"):
            return volumes[m["name"]], path[len(m["mountPath"].rstrip("/")) + 1 :]
    raise AssertionError(f"{path} is not under any volume mount of {c['name']}")


@pytest.fixture(scope="module", params=VARIANTS)
def rendered(request):
    return request.param, render(request.param)


def test_rendered_objects_are_valid_and_in_the_right_namespaces(rendered):
    variant, objects = rendered
    for obj in objects:
        check_k8s_object(obj, f"{variant} (rendered)")
    reader = find(
        objects, "RoleBinding", "podsift-scheduler-extension-apiserver-authentication-reader"
    )
    assert reader["metadata"]["namespace"] == "kube-system"
    names = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), "duplicate objects"


def test_rendered_scheduler_config_is_valid_and_mounted(rendered):
    variant, objects = rendered
    cm = configmap(objects, "podsift-scheduler-config")
    cfg = yaml.safe_load(cm["data"]["scheduler-config.yaml"])
    check_scheduler_config(cfg, f"{variant} scheduler-config")
    scheduler = find(objects, "Deployment", "podsift-scheduler")
    ks = container(scheduler, "kube-scheduler")
    config_arg = next(a for a in ks["command"] if a.startswith("--config="))
    volume, file_name = mount_of(scheduler, ks, config_arg.split("=", 1)[1])
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    assert file_name in cm["data"]
    assert scheduler["spec"]["template"]["spec"]["serviceAccountName"] == "podsift-scheduler"
    # The lease the scheduler elects on is the one its Role lets it update.
    le = cfg["leaderElection"]
    role = find(objects, "Role", "podsift-scheduler-leader-election")
    assert le["resourceNamespace"] == role["metadata"]["namespace"]
    assert any(le["resourceName"] in r.get("resourceNames", []) for r in role["rules"])
    assert [p["schedulerName"] for p in cfg["profiles"]] == ["podsift"]


def test_extender_entry_matches_podsift(rendered):
    variant, objects = rendered
    cfg = yaml.safe_load(
        configmap(objects, "podsift-scheduler-config")["data"]["scheduler-config.yaml"]
    )
    (ext,) = cfg["extenders"]
    for key, verb in PODSIFT_VERBS.items():
        assert ext[key] == verb
    assert ext["nodeCacheCapable"] is True
    assert ext["weight"] >= 1
    assert ext["ignorable"] is False
    url = urlsplit(ext["urlPrefix"])
    assert url.path in ("", "/"), "podsift serves the verbs at the root (no --path-prefix)"
    name = "podsift-scheduler" if variant == "sidecar" else "podsift"
    podsift = container(find(objects, "Deployment", name), "podsift")
    assert flag(podsift, "path-prefix") is None
    listen = flag(podsift, "listen")
    if variant == "sidecar":
        assert url.scheme == "http" and ext.get("enableHTTPS", False) is False
        assert f"{url.hostname}:{url.port}" == listen == DEFAULT_LISTEN
    else:
        assert url.scheme == "https" and ext["enableHTTPS"] is True
        service = find(objects, "Service", "podsift")
        assert url.hostname == f"podsift.{service['metadata']['namespace']}.svc"
        (port,) = service["spec"]["ports"]
        assert port["port"] == url.port
        (cport,) = podsift["ports"]
        assert port["targetPort"] == cport["name"]
        assert listen == f"0.0.0.0:{cport['containerPort']}"
        # the replicas are interchangeable (tests/e2e/test_replicas.py): no pinning
        assert service["spec"].get("sessionAffinity", "None") == "None"
        labels = find(objects, "Deployment", "podsift")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


# kube-scheduler 1.34's in-tree score plugins and default weights
# (pkg/scheduler/apis/config/v1/default_plugins.go; VolumeBinding scores only
# behind the alpha StorageCapacityScoring gate), and those with a PreScore.
IN_TREE_SCORES = {
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "NodeResourcesFit": 1,
    "PodTopologySpread": 2,
    "InterPodAffinity": 2,
    "NodeResourcesBalancedAllocation": 1,
    "ImageLocality": 1,
}
HAS_PRE_SCORE = set(IN_TREE_SCORES) - {"ImageLocality"}


def scheduler_score_rule_errors(cfg: dict[str, Any], policy: dict[str, Any]) -> list[str]:
    """The podsift profile turns off exactly the in-tree scores podsift computes, and
    weighs the extender as the sum of podsift's score weights (README, "The
    kube-scheduler configuration")."""
    errors = []
    podsift_scores = {e["name"]: e.get("weight", 1) for e in policy["scores"]}
    replaced = set(podsift_scores) & set(IN_TREE_SCORES)
    for profile in cfg["profiles"]:
        plugins = profile.get("plugins") or {}
        disabled = {
            point: {p["name"] for p in (plugins.get(point) or {}).get("disabled") or []}
            for point in ("multiPoint", "preScore", "score")
        }
        if any("*" in names for names in disabled.values()):
            errors.append("disabling every plugin (*) also drops the scores podsift lacks")
        if disabled["multiPoint"]:
            errors.append("multiPoint disables filters too: disable at preScore/score only")
        if disabled["score"] != replaced:
            errors.append(f"score.disabled is {sorted(disabled['score'])}, not {sorted(replaced)}")
        if disabled["preScore"] != replaced & HAS_PRE_SCORE:
            errors.append(f"preScore.disabled is {sorted(disabled['preScore'])}")
        for kept in ("PodTopologySpread", "InterPodAffinity"):
            if kept in disabled["score"] or kept in disabled["preScore"]:
                errors.append(f"{kept} must keep scoring (podsift does not compute it)")
    for ext in cfg["extenders"]:
        if ext.get("weight") != sum(podsift_scores.values()):
            errors.append("extender weight must be the sum of podsift's score weights")
    return errors


def test_profile_keeps_the_in_tree_scores_podsift_lacks(rendered):
    variant, objects = rendered
    cfg = yaml.safe_load(
        configmap(objects, "podsift-scheduler-config")["data"]["scheduler-config.yaml"]
    )
    policy = yaml.safe_load(configmap(objects, "podsift-policy")["data"]["policy.yaml"])
    assert not scheduler_score_rule_errors(cfg, policy), variant
    # the podsift policies replaced are the built-ins of kube-scheduler's default profile
    assert {e["name"]: e["weight"] for e in policy["scores"]} == {
        k: v
        for k, v in IN_TREE_SCORES.items()
        if k not in ("PodTopologySpread", "InterPodAffinity")
    }


OLD_PLUGINS = {"preScore": {"disabled": [{"name": "*"}]}, "score": {"disabled": [{"name": "*"}]}}


@pytest.mark.parametrize(
    "plugins, weight, message",
    [
        (OLD_PLUGINS, 8, "disabling every plugin"),
        ({"score": {"disabled": [{"name": "NodeResourcesFit"}]}}, 8, "score.disabled is"),
        ({"multiPoint": {"disabled": [{"name": "TaintToleration"}]}}, 8, "multiPoint"),
        (None, 1, "sum of podsift's score weights"),
    ],
)
def test_score_rules_catch_mistakes(plugins, weight, message):
    cfg = yaml.safe_load((MANIFESTS / "sidecar" / "scheduler-config.yaml").read_text())
    policy = yaml.safe_load((MANIFESTS / "base" / "policy.yaml").read_text())
    if plugins is not None:
        cfg["profiles"][0]["plugins"] = plugins
    cfg["extenders"][0]["weight"] = weight
    assert any(message in e for e in scheduler_score_rule_errors(cfg, policy))


def test_mtls_files_come_from_the_documented_secrets():
    objects = render("standalone")
    cfg = yaml.safe_load(
        configmap(objects, "podsift-scheduler-config")["data"]["scheduler-config.yaml"]
    )
    tls = cfg["extenders"][0]["tlsConfig"]
    assert not tls.get("insecure", False)
    scheduler = find(objects, "Deployment", "podsift-scheduler")
    ks = container(scheduler, "kube-scheduler")
    for key, file_name in (("certFile", "tls.crt"), ("keyFile", "tls.key"), ("caFile", "ca.crt")):
        volume, inside = mount_of(scheduler, ks, tls[key])
        assert volume["secret"]["secretName"] == "podsift-scheduler-client-tls"
        assert inside == file_name
    podsift_deployment = find(objects, "Deployment", "podsift")
    podsift = container(podsift_deployment, "podsift")
    for name, file_name in (
        ("tls-cert", "tls.crt"),
        ("tls-key", "tls.key"),
        ("tls-client-ca", "ca.crt"),
    ):
        volume, inside = mount_of(podsift_deployment, podsift, flag(podsift, name))
        assert volume["secret"]["secretName"] == "podsift-server-tls"
        assert inside == file_name


def test_only_the_scheduler_pods_reach_podsifts_port():
    """Standalone: podsift's Service is reachable from any pod unless a NetworkPolicy
    says otherwise; only the second kube-scheduler's pods may connect."""
    objects = render("standalone")
    podsift = find(objects, "Deployment", "podsift")
    scheduler = find(objects, "Deployment", "podsift-scheduler")
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["namespace"] == podsift["metadata"]["namespace"]
    spec = policy["spec"]
    podsift_labels = podsift["spec"]["template"]["metadata"]["labels"]
    scheduler_labels = scheduler["spec"]["template"]["metadata"]["labels"]
    selects = spec["podSelector"]["matchLabels"]
    assert selects.items() <= podsift_labels.items()
    assert not selects.items() <= scheduler_labels.items()
    assert spec["policyTypes"] == ["Ingress"]  # egress open: the API server
    (rule,) = spec["ingress"]
    (source,) = rule["from"]
    assert set(source) == {"podSelector"}  # this namespace only, no ipBlock
    allowed = source["podSelector"]["matchLabels"]
    assert allowed.items() <= scheduler_labels.items()
    assert not allowed.items() <= podsift_labels.items()
    (port,) = rule["ports"]
    (container_port,) = container(podsift, "podsift")["ports"]
    assert port["protocol"] == "TCP"
    assert port["port"] in (container_port["containerPort"], container_port["name"])
    listen = flag(container(podsift, "podsift"), "listen")
    assert listen.endswith(f":{container_port['containerPort']}")


def test_standalone_allows_the_scheduler_certificate_the_readme_issues():
    podsift = container(find(render("standalone"), "Deployment", "podsift"), "podsift")
    allowed = [a.split("=", 1)[1] for a in podsift["args"] if a.startswith("--tls-client-allow=")]
    readme = (ROOT / "README.md").read_text()
    client_cn = re.search(r'-subj "/CN=([^"]+)" -keyout client\.key', readme).group(1)
    assert allowed == [client_cn]


def test_podsift_containers_are_hardened_and_probed(rendered):
    variant, objects = rendered
    name = "podsift-scheduler" if variant == "sidecar" else "podsift"
    deployment = find(objects, "Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    if variant == "standalone":
        assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    for c in pod["containers"]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), (c["name"], kind)
        assert c.get("livenessProbe") and c.get("readinessProbe"), c["name"]
    podsift = container(deployment, "podsift")
    assert podsift["image"] == "ghcr.io/podsift/podsift:0.1.0"
    assert podsift["args"][0] == "serve"
    # gunicorn needs a writable /tmp on a read-only root filesystem.
    volume, _ = mount_of(deployment, podsift, "/tmp/heartbeat")
    assert "emptyDir" in volume
    policy = configmap(objects, "podsift-policy")
    volume, file_name = mount_of(deployment, podsift, flag(podsift, "config"))
    assert volume["configMap"]["name"] == policy["metadata"]["name"]
    assert file_name in policy["data"]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        command = podsift[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"]
        compile(command[2], f"{probe}", "exec")  # valid Python
        assert path in " ".join(command[2:])


def test_podsift_args_are_accepted_by_the_cli():
    if not (ROOT / "extender" / "cli.py").is_file():
        pytest.skip("extender/cli.py not written yet")
    result = subprocess.run(
        [sys.executable, "-m", "extender", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for variant in VARIANTS:
        objects = render(variant)
        name = "podsift-scheduler" if variant == "sidecar" else "podsift"
        for arg in container(find(objects, "Deployment", name), "podsift")["args"][1:]:
            option = arg.split("=", 1)[0]
            assert option in result.stdout, f"{variant}: {option} not in podsift serve --help"


@pytest.mark.parametrize("variant", VARIANTS)
def test_fallback_renderer_matches_kustomize(variant):
    """Without kubectl the tests render themselves; that must yield the same objects."""
    if not shutil.which("kubectl"):
        pytest.skip("kubectl not installed")

    def identities(objects):
        return sorted(
            (
                o["kind"],
                o["metadata"].get("namespace", ""),
                re.sub(r"-[a-z0-9]{10}$", "", o["metadata"]["name"])
                if o["kind"] == "ConfigMap"
                else o["metadata"]["name"],
            )
            for o in objects
        )

    assert identities(render(variant)) == identities(render_without_kustomize(variant))


def test_the_image_leaves_the_benchmark_extras_out():
    """matplotlib and tqdm serve only `podsift bench`: they are the `bench` extra,
    and the image installs podsift without extras."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    assert "matplotlib" not in runtime and "tqdm" not in runtime
    bench = " ".join(project["optional-dependencies"]["bench"])
    assert "matplotlib" in bench and "tqdm" in bench
    installs = re.findall(r"pip install [^\n&]*", (ROOT / "Dockerfile").read_text())
    assert installs and all("[" not in line for line in installs), installs


def test_the_manifests_run_the_kube_scheduler_the_end_to_end_tests_build():
    """go/go.mod's k8s.io/kubernetes is the kube-scheduler tests/e2e runs; the
    manifests must deploy the same release."""
    gomod = (ROOT / "go" / "go.mod").read_text()
    (version,) = re.findall(r"^\s*k8s\.io/kubernetes (v\S+)$", gomod, re.M)
    minor = version.rsplit(".", 1)[0].replace("v1.", "v0.")
    staging = re.findall(r"=> (k8s\.io/\S+) (v\S+)$", gomod, re.M)
    assert len(staging) >= 30 and {v.rsplit(".", 1)[0] for _, v in staging} == {minor}
    pattern = re.compile(r"image: registry\.k8s\.io/kube-scheduler:(\S+)")
    images = set()
    for path in ROOT.glob("manifests/*/*.yaml"):
        images |= set(pattern.findall(path.read_text()))
    assert images == {version}
