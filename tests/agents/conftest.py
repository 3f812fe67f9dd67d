"""A live server per module (fake engine, SQLite) for the agent surfaces; a fresh tenant and
real SDK clients per test (the clients are unmodified but for `base_url` and the key)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from openai import OpenAI

from openmaas.config import Settings
from openmaas.engines.fake import FakeChatEngine
from tests.conftest import (
    FAKE_MODEL,
    LiveServer,
    Tenant,
    add_tenant,
    fake_embeddings,
    fake_models,
    start_live_server,
    with_fake_prices,
)


def agent_settings(root, **overrides) -> Settings:
    values = {
        "environment": "test",
        "data_dir": root / "data",
        "database_url": f"sqlite:///{root / 'openmaas.db'}",
        "models": fake_models(2048),
        "embeddings": fake_embeddings(),
        "job_poll_seconds": 0.05,
        "secret_key": "test-secret",
    }
    return with_fake_prices(Settings(**(values | overrides)))


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory) -> Iterator[LiveServer]:
    server = start_live_server(agent_settings(tmp_path_factory.mktemp("agents")))
    yield server
    server.stop()


@pytest.fixture
def tenant(agent_server) -> Tenant:
    return add_tenant(agent_server.services, f"agent-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def other_tenant(agent_server) -> Tenant:
    return add_tenant(agent_server.services, f"other-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def engine(agent_server) -> Iterator[FakeChatEngine]:
    engine = agent_server.services.catalog.resolve(FAKE_MODEL).engine
    engine.token_delay = 0.0
    yield engine
    engine._scripted.clear()  # a failed test must not hand its script to the next one


@pytest.fixture
def oai(agent_server, tenant) -> Iterator[OpenAI]:
    client = OpenAI(api_key=tenant.api_key, base_url=agent_server.openai_base, max_retries=0)
    yield client
    client.close()


def tool_call_text(name: str, arguments: dict) -> str:
    """What the fake engine answers to make the chat core report a tool call."""
    import json

    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"
