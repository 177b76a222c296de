"""The registry: plugins found by entry point, trust by registration, clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from extender.api import Policy
from extender.framework import registry
from extender.model.errors import ConfigError


@pytest.fixture
def fresh_registry(monkeypatch):
    """A registry that scans the entry points again (after the test changes sys.path)."""
    monkeypatch.setattr(registry, "_registry", {})
    monkeypatch.setattr(registry, "_entry_points", {})
    monkeypatch.setattr(registry, "_scanned", False)


def _distribution(site: Path, name: str, entry_points: dict[str, str], modules: dict) -> None:
    """An installed-looking distribution: a .dist-info with entry points, plus modules."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"[{registry.ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for path, source in modules.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source))


PLUGIN = """
    import numpy as np
    from extender.api import Policy

    class Everywhere(Policy):
        def filter(self, pod, nodes):
            return np.ones(nodes.n, bool)

        def reasons(self, pod, nodes, failed):
            return [""] * len(failed)
"""


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown policy 'Nope'; known policies: .*NodeName"):
        registry.create("Nope", {}, "filter")


def test_builtins_are_trusted_because_podsift_registers_them():
    for name in ("NodeName", "NodeResourcesFit", "ImageLocality"):
        assert registry.is_trusted(name)
        assert registry.lookup(name).origin.startswith("policies.")


def test_a_module_named_policies_in_another_package_is_not_trusted(
    fresh_registry, tmp_path, monkeypatch
):
    """The old rule trusted any module under `policies.`; trust now comes from
    podsift's own registration, whatever the module is called."""
    _distribution(
        tmp_path,
        "sneaky-plugin",
        {"Everywhere": "policies_sneaky.policies.everywhere:Everywhere"},
        {
            "policies_sneaky/__init__.py": "",
            "policies_sneaky/policies/__init__.py": "",
            "policies_sneaky/policies/everywhere.py": PLUGIN,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    policy = registry.create("Everywhere", {}, "filter")
    assert type(policy).__name__ == "Everywhere" and policy.name == "Everywhere"
    assert registry.is_trusted("Everywhere") is False
    assert registry.is_trusted("NodeName") is True


def test_one_name_from_two_packages_is_an_error(fresh_registry, tmp_path, monkeypatch):
    for dist in ("plugin-a", "plugin-b"):
        module = dist.replace("-", "_")
        _distribution(
            tmp_path / dist,
            dist,
            {"Everywhere": f"{module}:Everywhere"},
            {f"{module}.py": PLUGIN},
        )
        monkeypatch.syspath_prepend(str(tmp_path / dist))
    with pytest.raises(
        ConfigError, match="'Everywhere' is registered by more than one package"
    ) as e:
        registry.create("Everywhere", {}, "filter")
    assert "plugin-a (plugin_a:Everywhere)" in str(e.value)
    assert "plugin-b (plugin_b:Everywhere)" in str(e.value)
    assert registry.create("NodeName", {}, "filter").name == "NodeName"  # others unaffected


def test_a_plugin_that_fails_to_import_fails_only_its_own_name(
    fresh_registry, tmp_path, monkeypatch
):
    _distribution(
        tmp_path,
        "broken",
        {"Broken": "broken_plugin:Broken"},
        {"broken_plugin.py": "raise RuntimeError('boom')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"policy 'Broken' \(broken_plugin:Broken\) failed to load: boom"
    ):
        registry.create("Broken", {}, "filter")
    assert registry.create("NodeName", {}, "filter").name == "NodeName"


class _ScoreOnly(Policy):
    def score(self, pod, nodes):
        return np.zeros(nodes.n, np.int64)


class _FilterWithoutReasons(Policy):
    def filter(self, pod, nodes):
        return np.ones(nodes.n, bool)


class _NoArgs(_ScoreOnly):
    takes_args = False


class _PickyArgs(_ScoreOnly):
    def __init__(self, args=None):
        super().__init__(args)
        self.size = int(self.args["size"])


@pytest.fixture
def registered():
    names = {
        "ScoreOnly": _ScoreOnly,
        "NoReasons": _FilterWithoutReasons,
        "NoArgs": _NoArgs,
        "PickyArgs": _PickyArgs,
    }
    for name, cls in names.items():
        registry.register(name, cls)
    yield
    for name in names:
        registry.unregister(name)


@pytest.mark.parametrize(
    "name, args, kind, message",
    [
        (
            "ScoreOnly",
            {},
            "filter",
            "'ScoreOnly' has no filter\\(\\); it cannot be used in filters",
        ),
        ("NoReasons", {}, "filter", "'NoReasons' has filter\\(\\) but no reasons\\(\\)"),
        ("NoArgs", {"x": 1, "a": 2}, "score", "NoArgs takes no args, got: a, x"),
        ("NoArgs", [1], "score", "NoArgs: args must be a mapping, got list"),
        ("PickyArgs", {}, "score", "'PickyArgs': invalid args: 'size'"),
        ("PickyArgs", {"size": "big"}, "score", "'PickyArgs': invalid args: invalid literal"),
    ],
)
def test_create_explains_what_is_wrong(registered, name, args, kind, message):
    with pytest.raises(ConfigError, match=message):
        registry.create(name, args, kind)


def test_registered_classes_are_checked_not_trusted(registered):
    assert registry.create("ScoreOnly", None, "score").name == "ScoreOnly"
    assert registry.is_trusted("ScoreOnly") is False
    registry.register("ScoreOnly", _ScoreOnly, trusted=True)
    assert registry.is_trusted("ScoreOnly") is True


def test_a_distribution_name_is_read_once_from_its_metadata_headers(
    fresh_registry, tmp_path, monkeypatch
):
    """The name comes from the header block alone (a `Name:` line in the long
    description after it is not the name), and each distribution is read once
    however many policies it registers."""
    _distribution(
        tmp_path,
        "two-policies",
        {"First": "two_policies:Everywhere", "Second": "two_policies:Everywhere"},
        {"two_policies.py": PLUGIN},
    )
    metadata = tmp_path / "two_policies-1.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text() + "\nName: not-the-name\n" + "a long README\n" * 500)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_dist_names", {})
    reads = []
    original = registry._name_of
    monkeypatch.setattr(registry, "_name_of", lambda d: reads.append(d) or original(d))
    registry.create("First", {}, "filter")
    registry.create("Second", {}, "filter")
    eps = registry._entry_points["First"] + registry._entry_points["Second"]
    assert [registry._distribution(ep) for ep in eps] == ["two-policies", "two-policies"]
    assert registry.is_trusted("First") is False
    assert len(reads) == 1
