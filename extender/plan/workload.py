"""The workload a plan places: Pods and the pod templates of controllers.

A file holds one object or a `List`. Each Pod, Deployment, ReplicaSet,
StatefulSet or Job is a Template: the pod it makes and how many (a Pod 1, the
controllers `spec.replicas`, a Job `spec.parallelism`, each defaulting to 1).
Copy i of workload X is the pod `X-i` in X's namespace (docs/CONTRACT.md §6);
the copies share one parsed spec, as the pods of one ReplicaSet do.
"""

from __future__ import annotations

import copy
import dataclasses
import mmap
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from extender.model.documents import decode_json_or_yaml
from extender.model.errors import InvalidInput
from extender.model.pod import PodInfo, parse_pod, same_spec

# a private read-only mapping, its pages mapped in one call where Linux offers it
_MAP_FLAGS = mmap.MAP_PRIVATE | getattr(mmap, "MAP_POPULATE", 0)
CONTROLLERS = ("Deployment", "ReplicaSet", "StatefulSet", "Job")
KINDS = ("Pod",) + CONTROLLERS


@dataclass(frozen=True)
class Template:
    kind: str
    namespace: str
    name: str
    replicas: int
    pod: dict[str, Any]  # the Pod object copies are made from (its name is the workload's)
    info: PodInfo  # its parse; the copies differ only in name and uid
    source: str  # FILE or FILE items[i], for messages
    run: str = ""  # this plan's own mark in the copies' UIDs

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def copy_name(self, i: int) -> str:
        return f"{self.name}-{i}"

    def copy_uid(self, i: int) -> str:
        # unique per plan: a snapshot a plan wrote holds the copies of that plan
        return f"podsift-plan-{self.run}/{self.namespace}/{self.name}-{i}"

    def copy_info(self, i: int) -> PodInfo:
        """The parsed copy i: the template's fields with its own name and uid, copied
        as the parser copies a cached spec (dataclasses.replace costs 20x more)."""
        if not hasattr(self.info, "__dict__"):  # a PodInfo with slots: the slow way
            return dataclasses.replace(self.info, name=self.copy_name(i), uid=self.copy_uid(i))
        pod = object.__new__(PodInfo)
        fields = pod.__dict__
        fields.update(self.info.__dict__)
        fields["name"] = self.copy_name(i)
        fields["uid"] = self.copy_uid(i)
        return pod

    def copy_object(self, i: int) -> dict[str, Any]:
        """Copy i as a Pod object (what a replay sends over the wire)."""
        obj = copy.deepcopy(self.pod)
        meta = obj["metadata"]
        meta["name"] = self.copy_name(i)
        meta["uid"] = self.copy_uid(i)
        return obj


def read_document(path: str, what: str) -> Any:
    """A JSON or YAML file's document; InvalidInput naming the file otherwise.

    A regular file is mapped rather than read: orjson decodes the page cache's own
    pages, so a 50 MB snapshot is neither copied nor given 13,000 fresh zeroed pages
    to fault in (0.05 s of a 1 s fit, docs/PERFORMANCE.md "Capacity planning")."""
    try:
        with open(path, "rb") as f:
            try:
                mapped = mmap.mmap(f.fileno(), 0, flags=_MAP_FLAGS, prot=mmap.PROT_READ)
            except (OSError, ValueError):  # empty, a pipe, a FIFO: read as it comes
                raw = f.read()
            else:
                with mapped:
                    view = memoryview(mapped)
                    try:
                        return orjson.loads(view)
                    except orjson.JSONDecodeError:
                        raw = bytes(view)  # YAML, or neither: the message says which
                    finally:
                        view.release()
    except OSError as exc:
        raise InvalidInput(f"{what} {path}: cannot read: {exc.strerror}") from None
    try:
        return decode_json_or_yaml(raw, f"{what} {path}")
    except ValueError as exc:
        raise InvalidInput(" ".join(str(exc).split())) from None


def _yaml_documents(path: str) -> list[Any] | None:
    """The documents of a multi-document YAML file; None if it is not one."""
    import yaml

    from extender.model.documents import yaml_loader

    try:
        with open(path, "rb") as f:
            found = [d for d in yaml.load_all(f.read(), Loader=yaml_loader()) if d is not None]
    except (OSError, yaml.YAMLError):
        return None
    return found if len(found) > 1 else None


def read_workload(path: str, flag: str = "--workload") -> list[tuple[Any, str]]:
    """The objects of a workload file with where each is: one object, a List, or
    several YAML documents (`---`), as `kubectl apply -f` takes them; errors name
    the file as the flag that gave it (`--workload W`, `--pod P`)."""
    try:
        docs = [(read_document(path, flag), path)]
    except InvalidInput as first:
        several = _yaml_documents(path)
        if several is None:
            raise first from None
        docs = [(d, f"{path} document {i}") for i, d in enumerate(several)]
    out: list[tuple[Any, str]] = []
    for doc, where in docs:
        if isinstance(doc, dict) and (
            doc.get("kind") == "List" or ("items" in doc and "kind" not in doc)
        ):
            items = doc.get("items")
            if not isinstance(items, list):
                raise InvalidInput(f"{flag} {where}: a List needs an items array")
            out.extend((item, f"{where} items[{i}]") for i, item in enumerate(items))
        else:
            out.append((doc, where))
    return out


def _count(value: Any, field: str) -> int:
    if value is None:
        return 1
    if type(value) is not int or value < 0:
        raise InvalidInput(f"must be a non-negative integer, got {value!r}", field)
    return value


def _alike_key(pod: dict[str, Any]) -> bytes | None:
    """What parse_pod reads of a Pod `_template` built, but its name: the spec, and of
    the metadata the namespace, labels, annotations, owner references and whether it
    is terminating (its uid is dropped, it has no status). Two pods with one key parse
    to the same PodInfo but for the name; as JSON text, so true, 1 and 1.0 are told
    apart. None for what orjson cannot encode (parsed on its own, which says why)."""
    meta = pod["metadata"]
    try:
        return orjson.dumps(
            (
                pod["spec"],
                meta["namespace"],
                meta.get("labels"),
                meta.get("annotations"),
                meta.get("ownerReferences"),
                meta.get("deletionTimestamp") is not None,
            )
        )
    except (TypeError, orjson.JSONEncodeError):
        return None


def _renamed(info: PodInfo, name: str) -> PodInfo:
    """`info` as the parse of a pod alike but for its name (as `Template.copy_info`)."""
    if not hasattr(info, "__dict__"):  # a PodInfo with slots: the slow way
        return dataclasses.replace(info, name=name)
    pod = object.__new__(PodInfo)
    fields = pod.__dict__
    fields.update(info.__dict__)
    fields["name"] = name
    return pod


def _template(
    obj: Any, where: str, run: str = "", alike: dict[bytes, PodInfo] | None = None
) -> Template:
    """The workload object `obj` as a Template. `alike` (key -> parse) lets the Pods of
    a listing that differ only in name share one parse: 30,000 Pods of 47 specs
    parse 47 times (each parse ~3x the key's cost)."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: must be an object, got {type(obj).__name__}")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise InvalidInput(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}: {kind} needs a metadata.name")
    namespace = meta.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise InvalidInput(f"{where}: metadata.namespace must be a string")
    if kind == "Pod":
        replicas = 1
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec = dict(spec)
            spec.pop("nodeName", None)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**meta, "namespace": namespace},
            "spec": spec,
        }
        spec_field = "spec"
    else:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise InvalidInput(f"{where}: {kind} {name}: spec must be an object")
        field = "spec.parallelism" if kind == "Job" else "spec.replicas"
        try:
            replicas = _count(spec.get(field.split(".")[1]), field)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {kind} {name}: {exc}") from None
        tmpl = spec.get("template")
        if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict):
            raise InvalidInput(f"{where}: {kind} {name}: spec.template.spec must be an object")
        tmeta = tmpl.get("metadata") if isinstance(tmpl.get("metadata"), dict) else {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": tmeta.get("labels") or {},
                "annotations": tmeta.get("annotations") or {},
            },
            "spec": tmpl["spec"],
        }
        spec_field = "spec.template.spec"
    pod["metadata"].pop("uid", None)
    pod["metadata"].pop("resourceVersion", None)
    key = None if alike is None else _alike_key(pod)
    proto = None if key is None else alike.get(key)  # type: ignore[union-attr]
    if proto is not None:
        return Template(kind, namespace, name, replicas, pod, _renamed(proto, name), where, run)
    try:
        info = parse_pod(pod)
    except InvalidInput as exc:
        text = str(exc)
        if text.startswith("spec"):
            text = spec_field + text[4:]
        raise InvalidInput(f"{where}: {kind} {namespace}/{name}: {text}") from None
    if key is not None:
        alike[key] = info  # type: ignore[index]
    return Template(kind, namespace, name, replicas, pod, info, where, run)


def load_templates(
    paths: list[str], flag: str = "--workload", kept: list[object] | None = None
) -> list[Template]:
    """Every workload object of the files, in order; InvalidInput for a file that
    cannot be read, an object of another kind, or two workloads with one name.

    `kept`, when given, holds the decoded files until the process ends: a plan of
    30,000 Pods would otherwise free their objects one by one on the way out of
    here (a tenth of loading them), only to end with `os._exit` anyway."""
    run = uuid.uuid4().hex[:12]
    out = []
    alike: dict[bytes, PodInfo] = {}
    for path in paths:
        objects = read_workload(path, flag)
        if kept is not None:
            kept.append(objects)
        out.extend(_template(obj, where, run, alike) for obj, where in objects)
    seen: dict[str, str] = {}
    for t in out:
        if t.key in seen:
            raise InvalidInput(
                f"{t.source}: workload {t.key} is also at {seen[t.key]}; the copies "
                "are named after it, so each workload needs its own name"
            )
        seen[t.key] = t.source
    if not out:
        raise InvalidInput(f"no workload in {flag} {', '.join(paths)}")
    return out


def spec_groups(templates: list[Template]) -> list[int]:
    """Per template, the first template whose copies are scheduled alike (same spec,
    namespace, labels and annotations): a plan filters such templates once."""
    buckets: dict[tuple, list[int]] = {}
    out = []
    for k, t in enumerate(templates):
        info = t.info
        key = (
            t.namespace,
            tuple(sorted(info.labels.items())),
            tuple(sorted(info.annotations.items())),
        )
        bucket = buckets.setdefault(key, [])
        for j in bucket:
            if same_spec(templates[j].info, info):
                out.append(j)
                break
        else:
            bucket.append(k)
            out.append(k)
    return out
