"""Property-based fuzzing of the tool endpoints' JSON bodies from the app's own OpenAPI
schema (as tests/api/test_schemathesis.py does for chat): no input yields a 5xx, every
refusal carries a numeric code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from tests.conftest import LiveServer, start_live_server
from tests.tool_endpoints.conftest import CASH_MICRO, tool_settings

OPERATIONS = [
    "/api/paas/v4/tokenizer",
    "/api/paas/v4/rerank",
    "/v1/rerank",
    "/api/paas/v4/web_search",
    "/api/paas/v4/moderations",
    "/api/paas/v4/layout_parsing",
    "/api/paas/v4/audio/speech",
    "/api/paas/v4/async/images/generations",
    "/api/paas/v4/videos/generations",
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[tuple[LiveServer, object]]:
    server = start_live_server(tool_settings(tmp_path_factory.mktemp("fuzz-tools")))
    server.services.billing.admin_credit("test-admin", server.tenant.account_id, CASH_MICRO, "fuzz")
    try:
        yield server, schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    finally:
        server.stop()


@pytest.mark.parametrize("path", OPERATIONS)
@pytest.mark.parametrize("mode", MODES, ids=["positive", "negative"])
def test_no_server_errors(fuzzed, path, mode):
    server, schema = fuzzed
    operation = schema[path]["POST"]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        response = case.call(base_url=server.base_url, headers=server.tenant.headers, timeout=60)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.body, response.text[:500])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["code"].isdigit() and error["message"], response.text

    check()
    assert seen, "no request was generated"
