"""`podsift plan` as its own process: it ends without freeing its objects one by one
(os._exit once the plan is written) and never imports the server stack, yet what
it writes through a pipe is whole."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.plan.objects import deployment, listing, node, pod_spec, running_pod


def _files(tmp_path):
    items = [node(f"n{i}", "4", "8Gi", 110) for i in range(40)]
    items += [running_pod(f"p{i}", f"n{i % 40}", "100m", "64Mi") for i in range(400)]
    snapshot = tmp_path / "cluster.json"
    snapshot.write_bytes(orjson.dumps(listing(items)))
    web = tmp_path / "web.json"
    web.write_bytes(orjson.dumps(deployment("web", 1, pod_spec("500m", "1Gi"))))
    return ["plan", "fit", "--snapshot", str(snapshot), "--pod", str(web), "--output", "json"]


def test_a_plan_process_writes_its_whole_answer_through_a_pipe(tmp_path):
    code = (
        "import sys\n"
        "from extender.cli import main\n"
        "try:\n"
        "    main()\n"  # the process's own argv: the process is the plan's
        "finally:\n"
        "    print('not reached', file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *_files(tmp_path)], capture_output=True, timeout=120
    )
    assert out.returncode == 0, out.stderr.decode()
    doc = orjson.loads(out.stdout)  # whole: flushed before the process ended
    assert doc["templates"][0]["fits"] == 40 * 6  # 3 cpu free a node: 6 copies of 500m
    assert out.stderr == b""  # os._exit ended it inside main(): `finally` never ran


def test_a_plan_never_imports_the_server_stack(tmp_path):
    code = (
        "import sys\n"
        "from extender.cli import main\n"
        f"main({_files(tmp_path)!r})\n"  # argv given: main returns
        "print('MODULES', *sorted(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    modules = set(out.stdout.split("MODULES", 1)[1].split())
    assert "extender.plan.fit" in modules
    assert not modules & {"flask", "gunicorn", "extender.server", "extender.wire.app"}
