"""schemathesis against a real `podsift serve`: the OpenAPI document and the service agree.

Every operation of the document gets schema-valid and schema-violating bodies
(coverage and fuzzing phases, undeclared methods included) on loopback, a fixed
number per operation, derandomized: the same requests on every run. The checks:
no 5xx, every status, media type, header and body as documented, valid data
accepted, invalid data refused (as the protocol refuses it: tests/wire/openapi_checks.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.server import Server  # noqa: E402
from tests.wire.openapi_checks import rejected_as_the_protocol_says  # noqa: E402
from tests.wire.test_openapi import DOC_PATH, NODES, loadable_policy_config, pod  # noqa: E402

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    rejected_as_the_protocol_says,  # negative_data_rejection, with Error-in-200 on two verbs
    unsupported_method,
    allow_header_conformance,
]

# (operation, "positive"/"negative", status class) -> requests; read by the last test
SEEN: Counter = Counter()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Server]:
    import yaml

    tmp = tmp_path_factory.mktemp("fuzz")
    snapshot = tmp / "cluster.json"
    items = [*NODES, pod("db-0", "uid-db-0", "node-a")]
    snapshot.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    config = tmp / "policy.yaml"
    config.write_text(yaml.safe_dump(loadable_policy_config()))
    server = Server(f"--snapshot={snapshot}", f"--config={config}")
    try:
        yield server
    finally:
        server.stop()


# The packaged document (test_openapi.py checks that the server serves this very file);
# loaded at collection, since the schema decides which tests there are.
schema = schemathesis.openapi.from_path(str(DOC_PATH))
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.generation.update(database="none")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_document_and_service_agree(case, served):
    response = case.call_and_validate(
        base_url=f"http://127.0.0.1:{served.port}",
        checks=CHECKS,
        excluded_checks=[negative_data_rejection],
        timeout=30,
    )
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    SEEN[(f"{case.method} {case.path}", mode, f"{response.status_code // 100}xx")] += 1


def test_every_operation_was_tried_both_ways_and_nothing_answered_5xx(served):
    """Runs after the generated tests (same module, file order): the totals they saw."""
    if not SEEN:
        pytest.skip("the generated tests did not run (selected out)")
    by_operation = Counter()
    for (operation, mode, status), count in sorted(SEEN.items()):
        print(f"{operation:24} {mode:9} {status}: {count}")
        by_operation[(operation, mode)] += count
    assert not [key for key in SEEN if key[2] == "5xx"], SEEN
    for verb in ("filter", "prioritize", "bind", "preempt", "explain"):
        assert by_operation[(f"POST /{verb}", "positive")] > 0
        assert by_operation[(f"POST /{verb}", "negative")] > 0
