"""The body limit on a real uvicorn server, including chunked uploads with no Content-Length."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.conftest import LiveServer, start_live_server

LIMIT = 1000


@pytest.fixture
def small_server(make_settings) -> Iterator[LiveServer]:
    server = start_live_server(make_settings(max_body_bytes=LIMIT))
    yield server
    server.stop()


def chunked(payload: bytes, size: int = 200):
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def post_chunked(server: LiveServer, path: str, payload: bytes) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        request = client.build_request(
            "POST",
            path,
            content=chunked(payload),
            headers=server.tenant.headers | {"Content-Type": "application/json"},
        )
        assert "content-length" not in request.headers  # really chunked
        return client.send(request)


def test_chunked_body_over_the_limit_is_413(small_server):
    engine = small_server.services.catalog.resolve("fake-chat").engine
    big = orjson.dumps({"model": "glm-4", "messages": [{"role": "user", "content": "x" * 5000}]})
    response = post_chunked(small_server, "/api/paas/v4/chat/completions", big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "1210"
    assert engine.generations == 0


def test_chunked_body_within_the_limit_is_served(small_server):
    small_server.services.catalog.resolve("fake-chat").engine.enqueue("fits")
    small = orjson.dumps({"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]})
    response = post_chunked(small_server, "/v1/chat/completions", small)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "fits"


def test_declared_length_over_the_limit_is_413_on_the_openai_surface(small_server):
    big = {"model": "glm-4", "messages": [{"role": "user", "content": "x" * 5000}]}
    with httpx.Client(base_url=small_server.base_url, timeout=10) as client:
        response = client.post("/v1/chat/completions", json=big, headers=small_server.tenant.headers)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"
