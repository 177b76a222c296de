"""The container image, checked without a container runtime.

- The build context: .dockerignore's rules (Docker's own matching, reimplemented
  below) applied to the repository as it lies on disk, and to a tree planted with
  everything that must never ship, leave out .git, virtualenvs, keys, caches and
  bench results; every path the Dockerfile COPYs is in the context.
- The Dockerfile: every FROM is pinned (version tag and digest), the final stage
  takes only the finished virtualenv from the build stage, and runs as non-root.
- requirements.lock: every runtime dependency of pyproject.toml pinned, with
  hashes, at a version pyproject allows, resolved for the image's Python.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


# -- .dockerignore, as Docker reads and matches it --------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern (Go's filepath.Match plus `**`) as a regular expression:
    `*` and `?` stay inside one path segment, `**` spans any number of them."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*" and pattern[i + 1 : i + 2] == "*":
            i += 2
            if pattern[i : i + 1] == "/":
                i += 1
            out += ".*" if i == len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(f"^{out}$")


def read_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(exclusion?, regex) per rule, in order: comments and blanks skipped, each
    pattern cleaned like a path, a leading `/` dropped, `!` an exception."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        rules.append((exception, _pattern_regex(line)))
    return rules


def excluded(rules: list[tuple[bool, re.Pattern[str]]], path: str) -> bool:
    """Whether Docker leaves `path` (relative, `/`-separated) out of the context:
    the last rule matching the path or one of its parent directories decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    out = False
    for exception, regex in rules:
        if any(regex.match(p) for p in prefixes):
            out = not exception
    return out


def context_files(root: Path) -> list[str]:
    """Every file the build context of `root` would hold (symlinks count as files)."""
    rules = read_dockerignore((root / ".dockerignore").read_text())
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if not excluded(rules, rel):
                files.append(rel)
    return sorted(files)


NEVER = re.compile(
    r"(^|/)(\.git|\.venv|venv|\.env|bench-results|__pycache__|\.pytest_cache|\.ruff_cache"
    r"|\.hypothesis|\.mypy_cache|[^/]*\.egg-info|build|dist)(/|$)"
    r"|\.(pem|key|crt|p12|pfx|pyc|pyo|prof)$"
)


def test_the_matcher_follows_dockers_rules():
    """The reimplementation agrees with Docker's documented examples."""
    rules = read_dockerignore("*/temp*\n*/*/temp*\ntemp?\n**/*.go\n!keep.go\n")
    assert excluded(rules, "somedir/temporary.txt")
    assert excluded(rules, "somedir/temp")  # and everything under it
    assert excluded(rules, "somedir/temp/x")
    assert excluded(rules, "a/b/temp.txt") and not excluded(rules, "a/b/c/temp.txt")
    assert excluded(rules, "tempa") and not excluded(rules, "tempab")
    assert excluded(rules, "x.go") and excluded(rules, "a/b/x.go")
    assert not excluded(rules, "keep.go")
    # the last matching rule wins; a parent directory's match covers its files
    rules = read_dockerignore("*\n!src/\n**/*.key\n")
    assert excluded(rules, "top.txt") and excluded(rules, ".git/config")
    assert not excluded(rules, "src/a.py") and excluded(rules, "src/deep/a.key")
    assert excluded(rules, "srcx/a.py")


def test_the_build_context_of_this_checkout_holds_nothing_that_must_not_ship():
    """What this working tree (its .venv, .git, caches included) would send."""
    files = context_files(ROOT)
    assert "pyproject.toml" in files and "requirements.lock" in files
    assert any(f.startswith("extender/") for f in files)
    leaked = [f for f in files if NEVER.search(f)]
    assert leaked == []
    assert not any(f.startswith(("tests/", "manifests/", "docs/", ".ci/")) for f in files)


PLANTED = [
    ".git/config",
    ".git/objects/ab/cdef",
    ".venv/bin/python",
    "venv/lib/x.py",
    ".env",
    "id_ed25519.pem",
    "tls.key",
    "extender/wire/dev.key",
    "examples/podsift-example-plugin/client.pem",
    "bench-results/results.json",
    "bench/bench-results/results.json",
    "extender/__pycache__/app.cpython-311.pyc",
    "policies/x.pyc",
    ".pytest_cache/v/cache",
    ".ruff_cache/0.5/x",
    ".hypothesis/examples/x",
    "podsift.egg-info/PKG-INFO",
    "build/lib/extender/app.py",
    "server.prof",
    "notes-with-a-token.txt",
    "tests/test_x.py",
]


def test_a_tree_planted_with_secrets_and_caches_sends_none_of_them(tmp_path):
    """The allow-list holds for files nobody thought of when writing it."""
    (tmp_path / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    for rel in [*PLANTED, "pyproject.toml", "extender/wire/app.py", "bench/cli.py"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    files = context_files(tmp_path)
    assert [f for f in PLANTED if f in files] == []
    assert {"pyproject.toml", "extender/wire/app.py", "bench/cli.py"} <= set(files)


# -- the Dockerfile ----------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, words) per instruction: continuations joined, comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return [(ln.split()[0].upper(), shlex.split(ln)[1:]) for ln in lines if ln.strip()]


def stages(text: str) -> tuple[dict[str, str], list[list[tuple[str, list[str]]]]]:
    """The global ARG defaults and the instructions of each stage."""
    args: dict[str, str] = {}
    out: list[list[tuple[str, list[str]]]] = []
    for op, words in instructions(text):
        if op == "FROM":
            out.append([])
        if not out:
            assert op == "ARG", f"only ARG may precede the first FROM, not {op}"
            name, _, default = words[0].partition("=")
            args[name] = default
            continue
        out[-1].append((op, words))
    return args, out


def test_every_base_image_is_pinned_by_version_and_digest():
    args, all_stages = stages(DOCKERFILE)
    assert len(all_stages) >= 2, "a build stage and a runtime stage"
    names = {s[0][1][2] for s in all_stages if len(s[0][1]) == 3}  # FROM x AS name
    for stage in all_stages:
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], stage[0][1][0])
        if image in names:
            continue
        assert re.fullmatch(
            r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}", image
        ), f"FROM {image}: pin a full version tag and its digest"


def test_the_final_stage_takes_only_the_built_environment_and_runs_as_non_root():
    """Sources, pip and the build backend stay in the build stage."""
    _, all_stages = stages(DOCKERFILE)
    final = all_stages[-1]
    copies = [w for op, w in final if op in ("COPY", "ADD")]
    assert copies and all(any(x.startswith("--from=") for x in w) for w in copies), copies
    assert not [w for op, w in final if op == "RUN"], "no build step in the final stage"
    users = [w[0] for op, w in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert users[-1].split(":")[0].isdigit(), "a numeric uid: runAsNonRoot can check it"
    entry = [w for op, w in final if op == "ENTRYPOINT"]
    assert entry


def test_every_path_the_dockerfile_copies_is_named_and_in_the_context():
    """No `COPY .`: each source is a named path, and .dockerignore lets it in."""
    _, all_stages = stages(DOCKERFILE)
    files = context_files(ROOT)
    sources = []
    for stage in all_stages:
        for op, words in stage:
            if op in ("COPY", "ADD") and not any(w.startswith("--from=") for w in words):
                sources += [w for w in words[:-1] if not w.startswith("--")]
    assert sources
    for src in sources:
        assert src.strip("./") not in ("", "*"), f"COPY {src}: name the paths the image needs"
        assert any(f == src or f.startswith(src.rstrip("/") + "/") for f in files), src


def test_the_image_installs_the_locks_with_hashes():
    """pip in the image installs requirements.lock and the build lock with
    --require-hashes, and everything else without fetching dependencies."""
    runs = " ".join(" ".join(w) for s in stages(DOCKERFILE)[1] for op, w in s if op == "RUN")
    for segment in re.split(r"&&", runs):
        if " install " not in segment or "pip" not in segment:
            continue
        if "-r " in segment:
            assert "--require-hashes" in segment, segment
        else:
            assert "--no-deps" in segment and "--no-index" in segment, segment
    assert "requirements.lock" in runs and "requirements-build.lock" in runs


# -- the locks -----------------------------------------------------------------------


def read_lock(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, int]] = {}
    name = None
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", line)
        if m:
            name = canonicalize_name(m.group(1))
            pins[name] = (m.group(2), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def lock_python(path: Path) -> str:
    m = re.search(r"autogenerated by pip-compile with Python (\d+\.\d+)", path.read_text())
    assert m, f"{path.name}: not written by ./dev lock"
    return m.group(1)


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements.lock", PROJECT["project"]["dependencies"]),
        ("requirements-build.lock", PROJECT["build-system"]["requires"]),
    ],
)
def test_the_lock_pins_every_requirement_of_pyproject_within_its_range(lock, requirements):
    """Fails after a dependency is added or its range moved until `./dev lock` is run."""
    pins = read_lock(ROOT / lock)
    assert pins and all(hashes > 0 for _, hashes in pins.values()), "every pin with a hash"
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in {lock}: run ./dev lock"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"{lock} pins {req.name}=={version}, outside pyproject's {req.specifier}: "
            "run ./dev lock"
        )


def test_the_locks_are_resolved_for_the_images_python():
    args, all_stages = stages(DOCKERFILE)
    images = [re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], s[0][1][0]) for s in all_stages]
    minors = {m.group(1) for i in images if (m := re.match(r"python:(\d+\.\d+)\.", i))}
    assert len(minors) == 1, images
    for lock in ("requirements.lock", "requirements-build.lock"):
        assert lock_python(ROOT / lock) in minors, f"{lock}: run ./dev lock with that Python"
