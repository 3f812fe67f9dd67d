"""An OpenMaaS whose chat and embedding models are served by two other `openmaas serve`
processes (fake engine) on loopback, driven by the real zhipuai and openai SDKs: requests are
spread over the replicas, usage is billed from the upstream's own counts, and a replica
killed mid-run (SIGKILL) costs only the streams it was serving — later requests go to the
survivor, its breaker opens, and it is used again once it is back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import sqlalchemy as sa
from zhipuai import ZhipuAI

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.config import BillingConfig, LimitsConfig, ModelConfig, PriceConfig, Settings, default_prices
from openmaas.embeddings.settings import EmbeddingModelConfig, EmbeddingsSettings
from openmaas.engines.upstream import estimate_tokens
from openmaas.engines.upstream_pool import BreakerState
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import UsageRecord
from tests.conftest import LiveServer, free_port, start_live_server

SECRET = "test-secret"
KEY_ENV = "OM_TEST_REPLICA_KEY"
LIMITS = LimitsConfig(concurrency_by_tier={"V0": 1000}, rpm_per_key=100_000, tpm_per_key=10**9)
LONG = "please repeat " + " ".join(f"w{i}" for i in range(30))


def replica_env(data_dir: Path, database_url: str) -> dict[str, str]:
    model = ModelConfig(
        name="up-chat",
        engine="fake",
        context_window=2048,
        max_output_tokens=256,
        options={"token_delay": 0.03},
    )
    embeddings = EmbeddingsSettings(
        models=[EmbeddingModelConfig(name="up-embed", engine="fake", dimensions=16)]
    )
    return os.environ | {
        "OPENMAAS_ENVIRONMENT": "test",
        "OPENMAAS_DATA_DIR": str(data_dir),
        "OPENMAAS_DATABASE_URL": database_url,
        "OPENMAAS_SECRET_KEY": SECRET,
        "OPENMAAS_BOOTSTRAP_ACCOUNT": "false",
        "OPENMAAS_RUN_JOBS_IN_PROCESS": "false",
        "OPENMAAS_MODELS": json.dumps([model.model_dump(mode="json")]),
        "OPENMAAS_EMBEDDINGS": embeddings.model_dump_json(),
        "OPENMAAS_LIMITS": LIMITS.model_dump_json(),
        "OPENMAAS_LOG_LEVEL": "warning",
        # the replicas serve the front for free, on purpose (prices fail closed: written down)
        "OPENMAAS_BILLING": json.dumps(
            {"prices": {"up-chat": {"input_per_1k": "0"}, "up-embed": {"input_per_1k": "0"}}}
        ),
    }


@dataclass
class Replica:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "openmaas.cli", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self.log.open("a"), stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(self.log.read_text()[-3000:])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Cluster:
    replicas: list[Replica]
    front: LiveServer
    upstream_key: str

    def engine(self):
        return self.front.services.catalog.resolve("up-chat").engine

    def served(self) -> list[int]:
        return [r.served for r in self.engine().pool.replicas]


def replica_account(database_url: str, data_dir: Path) -> str:
    db = Database(database_url)
    migrate.upgrade(db.engine)
    with db.session() as session:
        account = create_account(session, "front")
        key = issue_key(session, SecretSealer(load_or_create_server_key(SECRET, data_dir)), account.id)
    db.dispose()
    return key.api_key


def front_settings(data_dir: Path, urls: list[str]) -> Settings:
    options = {
        "health_interval": 0.25,
        "health_timeout": 1.0,
        "reset_seconds": 1.0,
        "failure_threshold": 2,
        "connect_timeout": 1.0,
        "read_timeout": 10.0,
    }
    chat = ModelConfig(
        name="up-chat",
        engine="upstream",
        aliases=["glm-4"],
        upstreams=urls,
        api_key_env=KEY_ENV,
        context_window=2048,
        max_output_tokens=256,
        options=options,
    )
    embed = EmbeddingModelConfig(
        name="up-embed",
        engine="upstream",
        aliases=["embedding-2"],
        embedding_id=3,
        dimensions=16,
        upstreams=urls,
        api_key_env=KEY_ENV,
    )
    prices = default_prices() | {
        "up-chat": PriceConfig(input_per_1k="0.1"),
        "up-embed": PriceConfig(input_per_1k="0.0005"),
    }
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir}/front.db",
        secret_key=SECRET,
        models=[chat],
        embeddings=EmbeddingsSettings(models=[embed]),
        billing=BillingConfig(prices=prices),
        limits=LIMITS,
        job_poll_seconds=0.05,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    database_url = f"sqlite:///{root}/replicas.db"
    key = replica_account(database_url, root)
    replicas = []
    for i in range(2):
        data_dir = root / f"replica{i}"
        data_dir.mkdir()
        replicas.append(Replica(free_port(), replica_env(data_dir, database_url), root / f"replica{i}.log"))
    os.environ[KEY_ENV] = key
    front = None
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        front = start_live_server(front_settings(root / "front", [r.url for r in replicas]))
        yield Cluster(replicas, front, key)
    finally:
        if front is not None:
            front.stop()
        for replica in replicas:
            replica.kill()
        os.environ.pop(KEY_ENV, None)


def usage_row(front: LiveServer, request_id: str) -> UsageRecord:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with front.services.db.session() as session:
            row = session.scalar(sa.select(UsageRecord).where(UsageRecord.request_id == request_id))
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"no usage row for {request_id}")


async def stream_chat(client: openai.AsyncOpenAI, content: str, on_first=None) -> tuple[str, str, object]:
    stream = await client.chat.completions.create(
        model="up-chat",
        messages=[{"role": "user", "content": content}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=64,
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
            if on_first is not None:
                on_first.set()
                on_first = None
        if chunk.usage is not None:
            usage = chunk.usage
    return text, finish, usage


def test_usage_and_billing_come_from_the_upstream(cluster: Cluster):
    front = cluster.front
    tokens_before = pack_tokens_used(front)
    client = ZhipuAI(api_key=front.tenant.api_key, base_url=front.zhipu_base)
    messages = [
        {"role": "system", "content": "你是一个乐于助人的助手"},
        {"role": "user", "content": "hello upstream, count me"},
    ]
    answer = client.chat.completions.create(model="glm-4", messages=messages, max_tokens=50)
    direct = httpx.post(
        f"{cluster.replicas[0].url}/v1/chat/completions",
        timeout=30,
        headers={"Authorization": f"Bearer {cluster.upstream_key}"},
        json={"model": "up-chat", "messages": messages, "max_tokens": 50},
    ).json()
    assert answer.choices[0].message.content == direct["choices"][0]["message"]["content"]
    assert answer.usage.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert answer.usage.completion_tokens == direct["usage"]["completion_tokens"]
    estimate = sum(estimate_tokens(m["content"]) + 4 for m in messages) + 3
    assert answer.usage.prompt_tokens != estimate  # billed on the upstream's count, not ours
    row = usage_row(front, answer.id)
    assert (row.prompt_tokens, row.completion_tokens, row.status) == (
        direct["usage"]["prompt_tokens"],
        direct["usage"]["completion_tokens"],
        "success",
    )
    # charged from the grant pack, on the upstream's counts (the funds lease's charge is
    # written with the usage row, in one transaction)
    assert pack_tokens_used(front) - tokens_before == row.prompt_tokens + row.completion_tokens
    assert front.services.billing.reconcile(front.tenant.account_id) == []


def pack_tokens_used(front: LiveServer) -> int:
    view = front.services.billing.balance(front.tenant.account_id)
    return sum(p.total_tokens - p.remaining_tokens - p.held_tokens for p in view.packs)


def test_concurrent_streams_are_spread_over_both_replicas(cluster: Cluster):
    before = cluster.served()

    async def burst():
        async with openai.AsyncOpenAI(
            api_key=cluster.front.tenant.api_key, base_url=cluster.front.openai_base
        ) as client:
            return await asyncio.gather(*(stream_chat(client, f"request {i} {LONG}") for i in range(6)))

    results = asyncio.run(burst())
    assert all(finish == "stop" and usage and usage.completion_tokens > 30 for _, finish, usage in results)
    gained = [after - b for after, b in zip(cluster.served(), before, strict=True)]
    assert sum(gained) == 6 and min(gained) >= 2, gained


def test_embeddings_through_upstream_replicas(cluster: Cluster):
    client = openai.OpenAI(api_key=cluster.front.tenant.api_key, base_url=cluster.front.openai_base)
    texts = ["knowledge about cats", "the weather in Beijing"]
    result = client.embeddings.create(model="embedding-2", input=texts, encoding_format="float")
    direct = httpx.post(
        f"{cluster.replicas[1].url}/v1/embeddings",
        timeout=30,
        headers={"Authorization": f"Bearer {cluster.upstream_key}"},
        json={"model": "up-embed", "input": texts, "encoding_format": "float"},
    ).json()
    ours = np.array([d.embedding for d in result.data])
    theirs = np.array([d["embedding"] for d in direct["data"]])
    assert ours.shape == (2, 16) and np.allclose(ours, theirs, atol=1e-5)


def test_killed_replica_breaker_opens_and_recovers(cluster: Cluster):
    victim, survivor = cluster.replicas
    victim_state = cluster.engine().pool.replicas[0]

    async def run_and_kill():
        async with openai.AsyncOpenAI(
            api_key=cluster.front.tenant.api_key, base_url=cluster.front.openai_base, max_retries=0
        ) as client:
            started = [asyncio.Event() for _ in range(4)]
            tasks = [
                asyncio.create_task(stream_chat(client, f"stream {i} {LONG}", started[i])) for i in range(4)
            ]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
            victim.kill()  # SIGKILL while all four are mid-stream
            streams = await asyncio.gather(*tasks)
            after = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="up-chat", messages=[{"role": "user", "content": f"after {i}"}], max_tokens=8
                    )
                    for i in range(6)
                )
            )
            return streams, after

    streams, after = asyncio.run(run_and_kill())
    finishes = sorted(finish for _, finish, _ in streams)
    assert "network_error" in finishes and "stop" in finishes, finishes  # 2 on each replica
    assert all(a.choices[0].finish_reason in ("stop", "length") for a in after)
    wait_for(lambda: victim_state.state is BreakerState.OPEN, "the victim's breaker to open")

    victim.start()
    victim.wait_ready()
    wait_for(lambda: victim_state.state is BreakerState.CLOSED, "the victim's breaker to close")
    served = victim_state.served
    client = openai.OpenAI(api_key=cluster.front.tenant.api_key, base_url=cluster.front.openai_base)
    for i in range(4):
        assert client.chat.completions.create(
            model="up-chat", max_tokens=4, messages=[{"role": "user", "content": f"back {i}"}]
        ).choices
    assert victim_state.served >= served + 2  # in rotation again


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
