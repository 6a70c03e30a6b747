"""Schema fuzzing: requests schemathesis generates from ``/openapi.json`` (valid and invalid ones) never
get a 5xx from the real server. Bounded: a few dozen examples per operation, derandomised."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from serve_helpers import serving_process  # noqa: E402

EXAMPLES = 20  # per operation and generation mode
# small limits keep each generated link request cheap
LIMITS = ["limits.max_texts=4", "limits.max_text_chars=2000", "limits.max_labels=8", "limits.max_candidates=3"]


@schemathesis.serializer("text/turtle")
def _turtle(ctx, value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def schema():
    # the server runs as its own process: hypothesis then shares no interpreter state with it
    with serving_process(*LIMITS) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json"), url


def test_no_server_error_on_generated_requests(schema):
    api, url = schema
    operations = [r.ok() for r in api.get_all_operations()]
    assert {op.path for op in operations} >= {"/link", "/render", "/nif", "/entity/{qid}", "/health", "/ready"}
    seen: list[str] = []
    for op in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                response = case.call(base_url=url, timeout=120)
                seen.append(f"{case.method.upper()} {case.operation.path} {response.status_code}")
                assert response.status_code < 500, (f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                                    f"{response.text[:500]}\nbody: {case.body!r}")
                if response.status_code >= 400:  # every error is the documented JSON object
                    err = response.json()
                    assert err["status"] == response.status_code and err["error"]

            try:
                check()
            except Unsatisfiable:  # nothing invalid to send to an operation without parameters or body
                assert mode == schemathesis.GenerationMode.NEGATIVE and not op.body and not op.path_parameters
    assert any(s.startswith("POST /link 200") for s in seen)
    assert any(s.startswith("POST /link 4") for s in seen)
