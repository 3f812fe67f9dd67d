"""Shared fixtures: settings per test, both databases, in-process app, live uvicorn server.

The ladder (STYLE.md): unit tests with fakes → `app_client` (in-process ASGI) →
`live_server` (real uvicorn on loopback, driven by the real SDKs) → `slow` tests on the
real weights.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

# Servers freeze their start-up heap out of the collector's sight (app.py); the suite builds
# and drops hundreds of apps in one process (and its live servers inherit this), so not here.
os.environ.setdefault("OPENMAAS_GC_FREEZE_AFTER_START", "false")

from openmaas.app import create_app  # noqa: E402
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.catalog import weights
from openmaas.config import DEFAULT_CHAT_MODEL, ModelConfig, PriceConfig, Settings
from openmaas.embeddings.settings import EmbeddingModelConfig, EmbeddingsSettings
from openmaas.services import Services
from openmaas.store import migrate

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
FAKE_MODEL = "fake-chat"  # paid: glm-4 is its alias
FAKE_FLASH_MODEL = "fake-flash"  # free: glm-4-flash, a model of its own (never a second name of a paid one)
FAKE_EMBEDDING_MODEL = "fake-embedding"
# the fake models' canonical prices (start-up refuses a served model without one)
FAKE_PRICES = {
    FAKE_MODEL: PriceConfig(input_per_1k="0.001"),
    FAKE_FLASH_MODEL: PriceConfig(input_per_1k="0"),
    FAKE_EMBEDDING_MODEL: PriceConfig(input_per_1k="0.0005"),
}


def assembled_default_model() -> Path:
    """The real 0.5B GGUF, assembled by `scripts/test.sh` into the default data dir."""
    package = weights.package_for("qwen2.5-coder-0.5b-instruct-q4_k_m")
    path = weights.assembled_path(Settings().models_dir, package)
    assert path.is_file(), f"{path} missing: run `openmaas models assemble`"
    return path


def fake_models(context_window: int = 256) -> list[ModelConfig]:
    return [
        ModelConfig(
            name=FAKE_MODEL,
            engine="fake",
            aliases=["glm-4"],
            context_window=context_window,
            max_output_tokens=128,
        ),
        ModelConfig(
            name=FAKE_FLASH_MODEL,
            engine="fake",
            aliases=["glm-4-flash"],
            context_window=context_window,
            max_output_tokens=128,
        ),
    ]


def fake_embeddings() -> EmbeddingsSettings:
    """Weight-free embeddings (hashed bag of words) under the default model's names."""
    return EmbeddingsSettings(
        models=[
            EmbeddingModelConfig(
                name=FAKE_EMBEDDING_MODEL,
                engine="fake",
                aliases=["embedding-2", "embedding-3"],
                embedding_id=3,
                also_embedding_ids=[11],
                dimensions=64,
            )
        ]
    )


def real_models() -> list[ModelConfig]:
    return [
        ModelConfig(
            name=DEFAULT_CHAT_MODEL,
            path=assembled_default_model(),
            aliases=["glm-4", "glm-4-flash", "glm-3-turbo", "charglm-3"],
            context_window=4096,
        )
    ]


# --- databases -------------------------------------------------------------------------
def _pg_exec(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (fast, fully isolated)."""
    name = f"omtpl_{uuid.uuid4().hex[:10]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    from openmaas.store.db import create_db_engine

    engine = create_db_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(request) -> Iterator[str]:
    template = request.getfixturevalue("pg_template")
    name = f"omt_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'openmaas.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """Runs a test once per supported database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


# --- settings and apps -----------------------------------------------------------------
@pytest.fixture
def make_settings(tmp_path: Path, sqlite_url: str):
    def build(**overrides) -> Settings:
        values = {
            "environment": "test",
            "data_dir": tmp_path / "data",
            "database_url": sqlite_url,
            "models": fake_models(),
            "job_poll_seconds": 0.05,
            "secret_key": "test-secret",
            "embeddings": fake_embeddings(),
        }
        return with_fake_prices(Settings(**(values | overrides)))

    return build


def with_fake_prices(settings: Settings) -> Settings:
    """Prices fail closed (start-up refuses a served model without one): the fake models'
    prices, and a test price for any other model a test serves, unless the test set its own."""
    prices = settings.billing.prices
    for name, price in FAKE_PRICES.items():
        prices.setdefault(name, price)
    for model in [*settings.models, *settings.embeddings.models]:
        prices.setdefault(model.name, PriceConfig(input_per_1k="0.001"))
    for model in settings.images.models:
        prices.setdefault(model.name, PriceConfig(per_image="0.25"))
    return settings


@dataclass
class Tenant:
    account_id: str
    key_id: str
    api_key: str  # an inference key: the model APIs
    manage_api_key: str = ""  # a manage-scope key: keys, account, billing actions

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def manage_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.manage_api_key}"}


def add_tenant(services: Services, name: str = "tester") -> Tenant:
    """A registered account (with the registration grant), an inference key and a manage key."""
    with services.db.session() as session:
        account = create_account(session, name)
        services.billing.grant_registration(session, account.id)
        key = issue_key(session, services.sealer, account.id, "test")
        manage = issue_key(session, services.sealer, account.id, "manage", "manage")
    return Tenant(account.id, key.id, key.api_key, manage.api_key)


@dataclass
class AppHarness:
    client: TestClient
    services: Services
    tenant: Tenant

    def fake_engine(self, model: str = FAKE_MODEL):
        return self.services.catalog.resolve(model).engine


@pytest.fixture
def harness(make_settings) -> Iterator[AppHarness]:
    """In-process app on the fake engine with one tenant."""
    app = create_app(make_settings())
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield AppHarness(client, services, add_tenant(services))


# --- live server -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    services: Services
    tenant: Tenant
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def zhipu_base(self) -> str:
        return f"{self.base_url}/api/paas/v4"

    @property
    def openai_base(self) -> str:
        return f"{self.base_url}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_live_server(settings: Settings) -> LiveServer:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server failed to start"
        time.sleep(0.02)
    services = app.state.services
    return LiveServer(f"http://127.0.0.1:{port}", services, add_tenant(services), server, thread)


@pytest.fixture
def live_server(make_settings) -> Iterator[LiveServer]:
    """A real uvicorn server on loopback, fake engine, SQLite."""
    server = start_live_server(make_settings())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def real_model_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A real uvicorn server on the real 0.5B Qwen weights (module-scoped: loading costs)."""
    data = tmp_path_factory.mktemp("real")
    settings = Settings(
        environment="test",
        data_dir=data,
        database_url=f"sqlite:///{data}/db.sqlite",
        models=real_models(),
        job_poll_seconds=0.05,
        secret_key="test-secret",
    )
    server = start_live_server(settings)
    yield server
    server.stop()
