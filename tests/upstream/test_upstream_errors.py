"""What callers see when an upstream model cannot serve: 429 code 1305 when every replica is
down (Retry-After set), 500 code 1234 when the replica does not answer in time — through the
app and the real openai SDK, never a stack trace."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import openai
import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.config import ModelConfig
from tests.conftest import add_tenant, free_port

KEY_ENV = "OM_TEST_UPSTREAM_ERRORS_KEY"


def upstream_model(urls: list[str], **options) -> ModelConfig:
    return ModelConfig(
        name="up-chat",
        engine="upstream",
        aliases=["glm-4"],
        upstreams=urls,
        api_key_env=KEY_ENV,
        context_window=1024,
        max_output_tokens=64,
        options={"connect_timeout": 0.5, "read_timeout": 0.5, **options},
    )


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def front(make_settings, model: ModelConfig, monkeypatch) -> tuple[TestClient, openai.OpenAI]:
    monkeypatch.setenv(KEY_ENV, "upstream-key")
    app = create_app(make_settings(models=[model]))
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    tenant = add_tenant(app.state.services)
    sdk = openai.OpenAI(
        api_key=tenant.api_key, base_url="http://testserver/v1", http_client=client, max_retries=0
    )
    client.headers.update(tenant.headers)
    return client, sdk


def test_every_replica_down_is_429_1305(make_settings, monkeypatch):
    client, sdk = front(
        make_settings,
        upstream_model([f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]),
        monkeypatch,
    )
    try:
        response = client.post(
            "/api/paas/v4/chat/completions",
            json={"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "1305"
        assert int(response.headers["Retry-After"]) >= 1
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "1305"
    finally:
        client.__exit__(None, None, None)


def test_a_replica_that_never_answers_is_500_1234(make_settings, monkeypatch, blackhole):
    model = upstream_model([blackhole], health_path=None, failure_threshold=100)
    client, sdk = front(make_settings, model, monkeypatch)
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            sdk.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "1234" and "timed out" in caught.value.message
        # streaming: the failure comes before the first byte, as an error event
        with client.stream(
            "POST",
            "/api/paas/v4/chat/completions",
            json={"model": "glm-4", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
        assert '"code":"1234"' in lines[0] and lines[-1] == "data: [DONE]"
    finally:
        client.__exit__(None, None, None)
