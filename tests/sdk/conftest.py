"""One live server per module (fake engine, SQLite), a fresh tenant and SDK clients per test.

Starting a server costs about a second; the SDK tests only need isolation between
accounts, so they share a module's server and each test gets its own tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from openai import OpenAI
from zhipuai import ZhipuAI

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


@pytest.fixture(scope="module")
def sdk_server(tmp_path_factory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("sdk")
    settings = with_fake_prices(
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
    server = start_live_server(settings)
    yield server
    server.stop()


@pytest.fixture
def tenant(sdk_server) -> Tenant:
    return add_tenant(sdk_server.services, f"sdk-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def engine(sdk_server) -> Iterator[FakeChatEngine]:
    engine = sdk_server.services.catalog.resolve(FAKE_MODEL).engine
    engine.token_delay = 0.0
    yield engine
    engine._scripted.clear()  # a failed test must not hand its script to the next one


@pytest.fixture
def zhipu(sdk_server, tenant) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=tenant.api_key, base_url=sdk_server.zhipu_base, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def oai(sdk_server, tenant) -> Iterator[OpenAI]:
    client = OpenAI(api_key=tenant.api_key, base_url=sdk_server.openai_base, max_retries=0)
    yield client
    client.close()
