"""The layers are enforced, not just described: import contracts and lazy imports.

`./dev test` runs `lint-imports` on the tree; these tests show the contracts
catch what they are meant to catch (on a scratch copy with a bad import), and
that serving never loads the benchmark.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _scratch_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in ("extender", "policies", "bench"):
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.json")
        )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _lint(tree: Path, *contracts: str) -> subprocess.CompletedProcess:
    only = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run(
        [str(LINT), "--no-cache", *only],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not LINT.exists(), reason="import-linter is a test extra")
@pytest.mark.parametrize(
    "module, bad_import, contract",
    [
        ("extender/model/names.py", "import extender.wire.app", "layers"),
        ("extender/cache/view.py", "import extender.engine.engine", "layers"),
        ("extender/engine/engine.py", "import extender.live.watcher", "layers"),
        ("policies/node_name/node_name.py", "import extender.cache.view", "plugins-use-the-api"),
        ("policies/node_name/node_name.py", "import policies.node_ports", "policies-stand-alone"),
        ("extender/server.py", "import bench.workload", "no-reach-up"),
        ("extender/engine/engine.py", "import policies.node_name", "no-reach-up"),
        ("bench/validate.py", "import extender.model.quantity", "independent-validator"),
    ],
)
def test_the_import_contracts_catch_a_bad_import(tmp_path, module, bad_import, contract):
    tree = _scratch_copy(tmp_path)
    clean = _lint(tree, contract)
    assert clean.returncode == 0 and "BROKEN" not in clean.stdout, clean.stdout + clean.stderr
    path = tree / module
    path.write_text(path.read_text() + f"\n{bad_import}  # noqa\n")
    result = _lint(tree, contract)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout
    assert "Contracts: 0 kept, 1 broken." in result.stdout


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(out.stdout.split())


def test_serving_never_imports_the_benchmark():
    for code in ("import extender.cli", "import extender.server", "import extender.api"):
        loaded = _modules_after(code)
        assert not {m for m in loaded if m == "bench" or m.startswith("bench.")}, code
        assert "matplotlib" not in loaded and "tqdm" not in loaded, code


def test_the_plugin_api_does_not_load_the_server_stack():
    loaded = _modules_after("import extender.api, extender.testing")
    assert not {m for m in loaded if m.startswith(("extender.wire", "extender.live"))}
    assert "flask" not in loaded and "gunicorn" not in loaded
