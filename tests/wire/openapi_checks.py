"""A schemathesis check for the extender protocol's one twist on HTTP status codes.

`/filter` and `/bind` answer a request whose content is invalid with 200 and the
reason in the answer's `Error` field (kube-scheduler logs that text, and only the
status code otherwise; docs/CONTRACT.md section 1). schemathesis's own
`negative_data_rejection` counts only 4xx as a rejection, so this check runs it
everywhere else and, on those two verbs, takes a 200 with a non-empty `Error` as the
rejection it is. It is also stricter than `positive_data_acceptance` there: a
schema-valid `/filter` must pass with an empty `Error`.

Loaded by tests/wire/test_openapi_fuzz.py, and by the schemathesis CLI with
`SCHEMATHESIS_HOOKS=tests.wire.openapi_checks` (README "Protocol conformance").
"""

from __future__ import annotations

import json

import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection

ERROR_IN_ANSWER = ("/filter", "/bind")


@schemathesis.check
def rejected_as_the_protocol_says(ctx, response, case) -> bool | None:
    """Schema-violating requests are refused (4xx, or Error in a 200 where the answer
    has one); a schema-valid /filter answers an empty Error."""
    if case.operation.path in ERROR_IN_ANSWER and response.status_code == 200 and case.meta:
        error = json.loads(response.content or b"{}").get("Error")
        mode = case.meta.generation.mode
        if mode.is_negative and error:
            return None  # refused in the answer's Error field
        if mode.is_positive and case.operation.path == "/filter" and error:
            raise AssertionError(f"a schema-valid /filter was refused in Error: {error}")
    return negative_data_rejection(ctx, response, case)
