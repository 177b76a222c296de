"""The example third-party plugin (examples/podsift-example-plugin) made visible
to a child interpreter the way an installed distribution is: a temporary
`.dist-info` built from the example's own pyproject.toml (its real entry
points) on PYTHONPATH. Nothing is pip-installed."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "podsift-example-plugin"
GROUP = "podsift.policies"


def example_project() -> dict:
    return tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]


def example_plugin_paths(site: Path) -> list[str]:
    """Write the example's .dist-info into `site`; the sys.path entries to use."""
    project = example_project()
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [f"[{GROUP}]"]
    lines += [f"{name} = {target}" for name, target in project["entry-points"][GROUP].items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return [str(site), str(EXAMPLE / "src")]


def child_env(plugin_paths: list[str]) -> dict[str, str]:
    """The environment of a child process that should find the example plugin."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*plugin_paths, str(ROOT), env.get("PYTHONPATH", "")])
    return env
