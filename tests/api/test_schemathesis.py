"""Property-based fuzzing from the app's own OpenAPI schema: no input yields a 5xx.

Schemathesis generates schema-valid and schema-violating requests for the chat, models
and async endpoints of both surfaces; they go, with a valid key, to a real uvicorn
server on the fake engine. (Hypothesis drives the strategies directly: the schemathesis
pytest plugin's lazy loader does not run on pytest 9.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from openmaas.config import Settings
from tests.conftest import LiveServer, fake_embeddings, fake_models, start_live_server, with_fake_prices

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [
    ("POST", "/api/paas/v4/chat/completions"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/api/paas/v4/async/chat/completions"),
    ("GET", "/api/paas/v4/async-result/{task_id}"),
    ("GET", "/api/paas/v4/models"),
    ("GET", "/v1/models"),
]
# GETs take only a path id and the (overridden) key: nothing to make schema-invalid.
CASES = [(m, p, POSITIVE) for m, p in OPERATIONS] + [(m, p, NEGATIVE) for m, p in OPERATIONS if m == "POST"]
EXAMPLES = {"POST": 25, "GET": 5}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[tuple[LiveServer, object]]:
    root = tmp_path_factory.mktemp("fuzz")
    server = start_live_server(
        with_fake_prices(
            Settings(
                environment="test",
                data_dir=root / "data",
                database_url=f"sqlite:///{root / 'openmaas.db'}",
                models=fake_models(),
                embeddings=fake_embeddings(),
                job_poll_seconds=0.05,
                secret_key="test-secret",
            )
        )
    )
    try:
        yield server, schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    finally:
        server.stop()


def test_the_schema_lists_every_fuzzed_operation(fuzzed):
    _, schema = fuzzed
    listed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert set(OPERATIONS) <= listed


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors(fuzzed, method, path, mode):
    server, schema = fuzzed
    operation = schema[path][method]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode), steer=st.none() | st.text(max_size=40))
    @settings(
        max_examples=EXAMPLES[method],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case, steer: str | None) -> None:
        if steer is not None and isinstance(case.body, dict) and mode is POSITIVE:
            # Keep every other fuzzed field but reach generation, not only the 1211/1214 refusals.
            case.body |= {"model": "glm-4", "messages": [{"role": "user", "content": steer}]}
        response = case.call(base_url=server.base_url, headers=server.tenant.headers, timeout=30)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.path_parameters, case.body, response.text[:500])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["code"].isdigit() and error["message"], response.text

    check()
    assert seen, "no request was generated"
    if mode is NEGATIVE:
        assert any(400 <= status < 500 for status in seen), seen  # invalid input was refused
    elif method == "POST":
        assert 200 in seen, seen  # some generated requests were served, not all refused
