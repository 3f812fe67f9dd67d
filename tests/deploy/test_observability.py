"""Prometheus metrics, JSON logs with request ids, health and readiness."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.observability.logs import REQUEST_ID, JsonFormatter
from tests.conftest import add_tenant

CHAT = "/api/paas/v4/chat/completions"


def metric(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} not in metrics")


def test_metrics_count_requests_tokens_and_ttft(harness):
    harness.fake_engine().enqueue("one two three")
    body = {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with harness.client.stream("POST", CHAT, json=body, headers=harness.tenant.headers) as response:
        assert response.headers["x-request-id"]
        response.read()
    harness.client.post(CHAT, json={"model": "nope", "messages": []}, headers=harness.tenant.headers)
    text = harness.client.get("/metrics").text
    route = "/chat/completions"
    assert metric(text, "openmaas_requests_total", surface="zhipu", route=route, status="200") == 1
    assert metric(text, "openmaas_requests_total", surface="zhipu", route=route, status="400") == 1
    assert metric(text, "openmaas_completion_tokens_total", model="glm-4") == 3
    assert metric(text, "openmaas_time_to_first_token_seconds_count", model="glm-4") == 1
    assert metric(text, "openmaas_generations_total", model="glm-4", status="success") == 1


def test_metrics_token_protects_the_endpoint(make_settings):
    app = create_app(make_settings(metrics_token="scrape-me"))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_request_id_is_echoed_and_logged(harness):
    response = harness.client.get("/health", headers={"X-Request-Id": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    record = logging.LogRecord("openmaas.test", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    token = REQUEST_ID.set("trace-456")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert entry["message"] == "hello you" and entry["request_id"] == "trace-456"


def test_ready_checks_the_database(harness):
    ready = harness.client.get("/ready").json()
    assert ready["status"] == "ready" and "fake-chat" in ready["models"]
    add_tenant(harness.services, "another")  # the database is writable too
