"""200 concurrent streaming requests on one account, random disconnects, through real servers.

Afterwards the ledger must sum exactly to the final balance, no request may be settled
twice or lost, and the balance must never have gone below zero: on SQLite, on PostgreSQL,
and with two server processes sharing PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.billing import ledger
from openmaas.billing.service import BillingService
from openmaas.config import BillingConfig, LimitsConfig, ModelConfig, Settings
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import LedgerEntry, Reservation, UsageRecord, Wallet
from tests.conftest import free_port, start_live_server, with_fake_prices

REQUESTS = 200
MAX_TOKENS = 20
FUNDS = 600_000  # µ元: about 110 worst-case holds at glm-4's 0.1 元/1k tokens
PROMPT = "please repeat these words " + " ".join(f"w{i}" for i in range(40))
SECRET = "test-secret"


def fake_model() -> ModelConfig:
    return ModelConfig(
        name="fake-chat",
        engine="fake",
        aliases=["glm-4"],
        context_window=512,
        max_output_tokens=128,
        options={"token_delay": 0.005},
    )


LIMITS = LimitsConfig(concurrency_by_tier={"V0": 1000}, rpm_per_key=100_000, tpm_per_key=10**9)


@dataclass
class Outcome:
    request_id: str
    status: int
    chunks: int
    disconnected: bool


async def one_stream(client: httpx.AsyncClient, url: str, request_id: str, cut_after: int | None):
    body = {
        "model": "glm-4",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "max_tokens": MAX_TOKENS,
        "request_id": request_id,
    }
    chunks = 0
    async with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return Outcome(request_id, response.status_code, 0, False)
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                chunks += 1
                if cut_after is not None and chunks >= cut_after:
                    return Outcome(request_id, 200, chunks, True)  # leaving the block closes it
    return Outcome(request_id, 200, chunks, False)


async def hammer(base_urls: list[str], api_key: str) -> list[Outcome]:
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=REQUESTS + 10, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {api_key}"}, timeout=120, limits=limits
    ) as client:
        tasks = [
            one_stream(
                client,
                f"{base_urls[i % len(base_urls)]}/api/paas/v4/chat/completions",
                f"req-{i}",
                rng.randint(1, 8) if rng.random() < 0.4 else None,
            )
            for i in range(REQUESTS)
        ]
        return await asyncio.gather(*tasks)


def open_funded_account(db: Database, data_dir: Path) -> tuple[str, str]:
    sealer = SecretSealer(load_or_create_server_key(SECRET, data_dir))
    billing = BillingService(db, BillingConfig())
    billing.seed()
    with db.session() as session:
        account = create_account(session, "hammer")
        key = issue_key(session, sealer, account.id)
    billing.admin_credit("test", account.id, FUNDS, "funds for the hammer")
    return account.id, key.api_key


def wait_until_settled(db: Database, account_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as session:
            held = session.scalar(
                sa.select(sa.func.count())
                .select_from(Reservation)
                .where(Reservation.account_id == account_id, Reservation.state == "held")
            )
            reservations = session.scalar(
                sa.select(sa.func.count())
                .select_from(Reservation)
                .where(Reservation.account_id == account_id)
            )
            usage = session.scalar(
                sa.select(sa.func.count())
                .select_from(UsageRecord)
                .where(UsageRecord.account_id == account_id)
            )
        if held == 0 and usage >= reservations:
            return
        time.sleep(0.2)
    raise AssertionError(f"still {held} held reservations, {usage}/{reservations} usage rows")


def assert_money_is_right(db: Database, account_id: str, outcomes: list[Outcome]) -> None:
    served = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    assert served and refused, "the funds should run out part-way through"
    assert {o.status for o in refused} == {429}
    with db.session() as session:
        assert ledger.reconcile(session, account_id) == []
        wallet = session.get(Wallet, account_id)
        assert wallet.held_micro == 0 and wallet.cash_micro >= 0
        entries = session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id)
        ).all()
        usage = session.scalars(sa.select(UsageRecord).where(UsageRecord.account_id == account_id)).all()
        reservations = session.scalars(
            sa.select(Reservation).where(Reservation.account_id == account_id)
        ).all()
    running = 0
    for entry in entries:  # per-account entries are written under the wallet lock, in id order
        running += entry.cash_micro
        assert running >= 0, f"balance went negative at ledger entry {entry.id}"
    assert running == wallet.cash_micro
    by_request = Counter(u.request_id for u in usage)
    assert max(by_request.values()) == 1, "a request was recorded twice"
    assert set(by_request) == {o.request_id for o in served}, "a request was lost"
    assert {r.request_id for r in reservations} == set(by_request)
    charges = Counter(e.reservation_id for e in entries if e.kind == "charge")
    holds = Counter(e.reservation_id for e in entries if e.kind == "hold")
    releases = Counter(e.reservation_id for e in entries if e.kind == "release")
    assert holds == releases, "every hold is released exactly once"
    assert all(n == 1 for n in charges.values()), "a request was charged twice"
    spent = -sum(e.cash_micro for e in entries if e.kind == "charge")
    assert spent == sum(u.cost_micro for u in usage) == FUNDS - wallet.cash_micro
    rows = {u.request_id: u for u in usage}
    for outcome in served:
        row = rows[outcome.request_id]
        assert row.completion_tokens >= outcome.chunks - 1  # the last chunk carries no token
        if not outcome.disconnected:
            assert row.status == "success" and row.completion_tokens == MAX_TOKENS
    cut = [rows[o.request_id] for o in served if o.disconnected]
    assert any(r.status == "cancelled" and r.completion_tokens < MAX_TOKENS for r in cut)


def run_in_process(database_url: str, tmp_path: Path) -> None:
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=tmp_path,
            database_url=database_url,
            models=[fake_model()],
            limits=LIMITS,
            secret_key=SECRET,
        )
    )
    server = start_live_server(settings)
    try:
        db = server.services.db
        account_id, api_key = open_funded_account(db, tmp_path)
        outcomes = asyncio.run(hammer([server.base_url], api_key))
        wait_until_settled(db, account_id)
        assert_money_is_right(db, account_id, outcomes)
    finally:
        server.stop()


def test_200_streams_sqlite(sqlite_url, tmp_path):
    run_in_process(sqlite_url, tmp_path)


@pytest.mark.postgres
def test_200_streams_postgres(postgres_url, tmp_path):
    run_in_process(postgres_url, tmp_path)


def start_server_process(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "openmaas.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(log.read_text())


@pytest.mark.postgres
def test_200_streams_two_processes_postgres_and_redis(postgres_url, tmp_path):
    env = os.environ | {
        "OPENMAAS_ENVIRONMENT": "test",
        "OPENMAAS_DATA_DIR": str(tmp_path),
        "OPENMAAS_DATABASE_URL": postgres_url,
        "OPENMAAS_REDIS_URL": "redis://127.0.0.1:6379/0",
        "OPENMAAS_SECRET_KEY": SECRET,
        "OPENMAAS_BOOTSTRAP_ACCOUNT": "false",
        "OPENMAAS_MODELS": json.dumps([fake_model().model_dump(mode="json")]),
        "OPENMAAS_LIMITS": LIMITS.model_dump_json(),
        "OPENMAAS_LOG_LEVEL": "warning",
        # prices fail closed: the fake model's own (merged over the default table)
        "OPENMAAS_BILLING": json.dumps({"prices": {"fake-chat": {"input_per_1k": "0.001"}}}),
    }
    db = Database(postgres_url)
    migrate.upgrade(db.engine)
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"server{i}.log" for i in range(2)]
    processes = [start_server_process(p, env, log) for p, log in zip(ports, logs, strict=True)]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url, process, log in zip(urls, processes, logs, strict=True):
            wait_ready(url, process, log)
        account_id, api_key = open_funded_account(db, tmp_path)
        outcomes = asyncio.run(hammer(urls, api_key))
        wait_until_settled(db, account_id)
        assert_money_is_right(db, account_id, outcomes)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        db.dispose()
