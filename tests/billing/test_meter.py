"""The meter (billing/meter.py): prices fail closed, every served name charges (or is free on
purpose), a crashed process's delivered tokens are charged once and its holds released,
live holds are never swept, and reading a balance writes nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.accounts import create_account
from openmaas.auth.principal import Principal
from openmaas.billing import ledger
from openmaas.billing.lease import LeaseBook
from openmaas.billing.meter import Bound, Meter
from openmaas.billing.pricing import ServedModel, price_from_config, price_problems
from openmaas.billing.recovery import RECOVERED, recover_dead
from openmaas.billing.service import BillingService
from openmaas.billing.usage import UsageRecorder
from openmaas.config import ModelConfig, PriceConfig, default_prices
from openmaas.search.providers import RoutedSearch
from openmaas.store.tables import LedgerEntry, MeterInflight, MeterOwner, Reservation, UsageRecord, utcnow
from tests.conftest import FAKE_FLASH_MODEL, FAKE_MODEL

PER_TOKEN = 100  # glm-4: 0.1 元 per 1k tokens = 100 µ元 per token
GONE_PID = 2**22 + 12345  # above pid_max on Linux: never a live process


def cash_account(billing: BillingService, micro: int) -> str:
    with billing.db.session() as session:
        account = create_account(session, "payer").id
    billing.admin_credit("admin", account, micro, "funds")
    return account


# --- prices fail closed ------------------------------------------------------------------
def test_price_problems_name_unpriced_models_and_free_names_of_priced_ones(billing):
    served = [
        ServedModel("nobody-priced-me", ("alias-x",), "chat"),
        ServedModel("fake-chat", ("glm-4", "glm-4-flash"), "chat"),
    ]
    billing.config.prices["fake-chat"] = PriceConfig(input_per_1k="0.001")
    billing.seed()
    problems = price_problems(billing.prices, served)
    assert any("nobody-priced-me has no price" in p for p in problems)
    assert any(
        p.startswith("glm-4-flash is free but a name of the priced chat model fake-chat") for p in problems
    )
    assert len(problems) == 2


def test_a_model_priced_zero_on_purpose_may_carry_free_names(billing):
    billing.config.prices["free-model"] = PriceConfig(input_per_1k="0")
    billing.seed()
    assert price_problems(billing.prices, [ServedModel("free-model", ("glm-4-flash",), "chat")]) == []


@pytest.mark.parametrize(
    "aliases, prices, message",
    [
        (["glm-4", "glm-4-flash"], {"shared": PriceConfig(input_per_1k="0.001")}, "glm-4-flash is free"),
        (["some-alias"], {}, "chat model shared has no price"),
    ],
)
def test_the_server_refuses_to_start_on_unsafe_prices(make_settings, aliases, prices, message):
    settings = make_settings(models=[ModelConfig(name="shared", engine="fake", aliases=aliases)])
    del settings.billing.prices["shared"]  # the test price the fixture gives every served model
    settings.billing.prices.update(prices)
    with pytest.raises(ValueError, match=message), TestClient(create_app(settings)):
        pass


# --- every served name × endpoint charges ------------------------------------------------
CHAT = "/api/paas/v4/chat/completions"
EMBED = "/api/paas/v4/embeddings"
# (endpoint, name, free on purpose)
COVERAGE = [
    (CHAT, FAKE_MODEL, False),
    (CHAT, "glm-4", False),
    (CHAT, FAKE_FLASH_MODEL, True),
    (CHAT, "glm-4-flash", True),
    (EMBED, "fake-embedding", False),
    (EMBED, "embedding-2", False),
    (EMBED, "embedding-3", False),
]


def test_every_served_name_charges_or_is_free_on_purpose(harness, paying):
    account, headers = paying
    names = {name for name, _ in harness.services.catalog.public_names()}
    assert {n for endpoint, n, _ in COVERAGE if endpoint == CHAT} == names  # the table covers the catalog
    for endpoint, name, _ in COVERAGE:
        body = (
            {"model": name, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 8}
            if endpoint == CHAT
            else {"model": name, "input": ["hello there"]}
        )
        response = harness.client.post(endpoint, json=body, headers=headers)
        assert response.status_code == 200, (name, response.text)
    harness.client.portal.call(harness.services.usage.flush)
    with harness.services.db.session() as session:
        rows = session.execute(
            sa.select(UsageRecord.model, UsageRecord.cost_micro).where(UsageRecord.account_id == account)
        ).all()
    costs = dict(rows)
    for _, name, free in COVERAGE:
        assert (costs[name] == 0) if free else (costs[name] > 0), (name, costs[name])
    assert harness.services.billing.reconcile(account) == []


# --- the tool work behind chat and knowledge: each its own price row, none free by accident ---
RETRIEVAL_ROW, WEB_SEARCH_ROW = "knowledge:retrieval", "tool:web_search"
SEARCH = {"type": "web_search", "web_search": {"enable": True, "search_query": "openmaas"}}


def _chat(path: str, tool: dict) -> tuple[str, dict]:
    return path, {
        "model": "glm-4",
        "messages": [{"role": "user", "content": "refund policy?"}],
        "max_tokens": 8,
        "tools": [tool],
    }


def _tool_calls(knowledge_id: str, assistant_id: str) -> list[tuple[str, tuple[str, dict], str, str]]:
    """(what, (path, body), usage endpoint, price row): every entry that charges a tool row."""
    retrieval = {"type": "retrieval", "retrieval": {"knowledge_id": knowledge_id}}
    return [
        (
            "POST /knowledge/retrieve",
            ("/api/paas/v4/knowledge/retrieve", {"knowledge_ids": [knowledge_id], "query": "refund policy"}),
            "retrieval",
            RETRIEVAL_ROW,
        ),
        ("chat retrieval tool", _chat(CHAT, retrieval), "retrieval", RETRIEVAL_ROW),
        (
            "POST /web_search",
            ("/api/paas/v4/web_search", {"search_engine": "search_std", "search_query": "openmaas"}),
            "web_search",
            WEB_SEARCH_ROW,
        ),
        ("chat web_search (Zhipu)", _chat(CHAT, SEARCH), "chat.web_search", WEB_SEARCH_ROW),
        (
            "chat web_search (OpenAI)",
            _chat("/v1/chat/completions", SEARCH),
            "chat.web_search",
            WEB_SEARCH_ROW,
        ),
        (
            "Responses web_search",
            ("/v1/responses", {"model": "glm-4", "input": "news?", "tools": [{"type": "web_search"}]}),
            "responses.web_search",
            WEB_SEARCH_ROW,
        ),
        (
            "assistant web_search",
            (
                "/api/paas/v4/assistant",
                {
                    "assistant_id": assistant_id,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "news?"}]}],
                },
            ),
            "assistant.web_search",
            WEB_SEARCH_ROW,
        ),
    ]


def knowledge_base_with_a_document(harness, headers: dict) -> str:
    client = harness.client
    kb = client.post("/api/paas/v4/knowledge", json={"embedding_id": 3, "name": "docs"}, headers=headers)
    upload = client.post(
        "/api/paas/v4/files",
        headers=headers,
        data={"purpose": "retrieval", "knowledge_id": kb.json()["id"]},
        files=[("file", ("policy.txt", b"Refunds are issued within thirty days.\n" * 5))],
    )
    document = upload.json()["successInfos"][0]["documentId"]
    for _ in range(600):
        if client.get(f"/api/paas/v4/document/{document}", headers=headers).json()["embedding_stat"]:
            return kb.json()["id"]
        time.sleep(0.05)
    raise AssertionError("the document was not ingested")


def test_retrieval_and_web_search_charge_their_own_rows_on_every_entry(harness, paying):
    from tests.tool_endpoints.test_web_search import fake_searxng

    account, headers = paying
    seen: list = []
    harness.services.search = RoutedSearch({"searxng": fake_searxng(seen)}, "searxng")
    knowledge_id = knowledge_base_with_a_document(harness, headers)
    assistant = harness.client.post(
        "/api/paas/v4/assistants",
        headers=headers,
        json={"name": "searcher", "model": "glm-4", "tools": [{"type": "web_search"}]},
    )
    assert assistant.status_code == 200, assistant.text
    calls = _tool_calls(knowledge_id, assistant.json()["id"])
    for what, (path, body), _, _ in calls:
        response = harness.client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (what, response.text)
    assert len(seen) == 5  # one search per web_search entry
    harness.client.portal.call(harness.services.usage.flush)
    with harness.services.db.session() as session:
        rows = session.execute(
            sa.select(UsageRecord.endpoint, UsageRecord.model, UsageRecord.cost_micro).where(
                UsageRecord.account_id == account
            )
        ).all()
    charged: dict[tuple[str, str], list[int]] = {}
    for endpoint, model, cost in rows:
        charged.setdefault((endpoint, model), []).append(cost)
    for what, _, endpoint, row in calls:
        costs = charged.get((endpoint, row), [])
        assert costs and all(cost > 0 for cost in costs), (what, endpoint, row, charged)
    searches = [c for (endpoint, row), cs in charged.items() if row == WEB_SEARCH_ROW for c in cs]
    assert searches == [10_000] * 5  # 0.01 元 each, the endpoint's row for all five
    assert harness.services.billing.reconcile(account) == []


@pytest.mark.parametrize("row", [RETRIEVAL_ROW, WEB_SEARCH_ROW])
def test_the_default_price_table_charges_the_tool_rows(row):
    """Free only when an operator writes 0 down, never by default."""
    assert not price_from_config(default_prices()[row]).free


# --- crash safety ------------------------------------------------------------------------
def _meter(billing: BillingService) -> tuple[Meter, UsageRecorder]:
    recorder = UsageRecorder(
        billing.db,
        billing,
        leases=LeaseBook(4, idle_seconds=5.0, recall_seconds=1.0),
        gather_seconds=0.01,
        lease_flush_seconds=0.05,
    )
    return Meter(billing, recorder, heartbeat_seconds=60.0), recorder


def _crash(meter: Meter, recorder: UsageRecorder) -> None:
    """What kill -9 leaves: no close, no flush; the owner's pid is gone."""
    recorder._task.cancel()
    meter._task.cancel()
    with recorder._db.session() as session:
        session.execute(sa.update(MeterOwner).where(MeterOwner.owner == recorder.owner).values(pid=GONE_PID))


def test_a_crashed_processs_delivered_tokens_are_charged_once_and_its_holds_released(billing):
    account = cash_account(billing, 10_000_000)
    payer = Principal(account, None)

    async def deliver_then_crash() -> str:
        meter, recorder = _meter(billing)
        await meter.start()
        exact = await meter.open(
            payer, "glm-4", "fake-chat", Bound(10, 100), endpoint="chat", request_id="client-chosen"
        )  # a client's id: the exact path
        leased = [
            await meter.open(payer, "glm-4", "fake-chat", Bound(10, 100), endpoint="chat") for _ in range(3)
        ]
        exact.progress(10, 40)
        for call in leased:
            call.progress(10, 25)
        leased[0].record(10, 30)  # finished, but its lease charge may not be written yet
        await asyncio.sleep(0.3)  # a few flush windows
        _crash(meter, recorder)
        return recorder.owner

    owner = asyncio.run(deliver_then_crash())
    with billing.db.session() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Reservation)
                .where(Reservation.account_id == account, Reservation.state == "held")
            )
            > 0
        )
    recover_dead(billing.db, billing, "restarted", dead_after=15.0)
    expected = (10 + 40) * PER_TOKEN + (10 + 30) * PER_TOKEN + 2 * (10 + 25) * PER_TOKEN
    view = billing.balance(account)
    assert (view.cash_micro, view.held_micro) == (10_000_000 - expected, 0)
    assert billing.reconcile(account) == []
    with billing.db.session() as session:
        rows = session.execute(
            sa.select(UsageRecord.status, UsageRecord.completion_tokens).where(
                UsageRecord.account_id == account
            )
        ).all()
        assert sorted(c for _, c in rows) == [25, 25, 30, 40]
        assert sum(s == RECOVERED for s, _ in rows) >= 3  # the exact one and the unfinished leased ones
        assert (
            session.scalar(
                sa.select(sa.func.count()).select_from(MeterInflight).where(MeterInflight.owner == owner)
            )
            == 0
        )
    assert recover_dead(billing.db, billing, "another", dead_after=15.0) == 0  # never twice
    assert billing.balance(account).cash_micro == 10_000_000 - expected


def test_the_settled_prompt_never_exceeds_what_was_held(billing):
    """An upstream's own prompt count above our estimate (finding 18) cannot overdraw."""
    account = cash_account(billing, 10_000_000)

    async def scenario() -> None:
        meter, recorder = _meter(billing)
        await meter.start()
        call = await meter.open(
            Principal(account, None),
            "glm-4",
            "fake-chat",
            Bound(10, 5),
            endpoint="chat",
            request_id="estimate-low",
        )
        call.record(6000, 5)
        await meter.close()

    asyncio.run(scenario())
    assert billing.balance(account).cash_micro == 10_000_000 - (10 + 5) * PER_TOKEN


def test_live_and_job_holds_are_never_swept_by_age(billing):
    account = cash_account(billing, 10_000_000)
    live = billing.reserve(account, None, "slow-stream", "glm-4", "fake-chat", 10, 10, False, owner="alive")
    job = billing.reserve(account, None, "ftjob-1:hold", "glm-4", "fake-chat", 10, 0, False)
    legacy = billing.reserve(account, None, "legacy", "glm-4", "fake-chat", 10, 10, False)
    with billing.db.session() as session:
        session.execute(sa.update(Reservation).values(created_at=utcnow() - timedelta(hours=3)))
    assert billing.release_stale_holds() == 1
    with billing.db.session() as session:
        states = dict(session.execute(sa.select(Reservation.id, Reservation.state)).all())
    assert states[live.reservation_id] == states[job.reservation_id] == "held"
    assert states[legacy.reservation_id] == "released"


def test_viewing_a_balance_writes_nothing(billing):
    account = cash_account(billing, 1_000)
    with billing.db.session() as session:
        ledger.lock_wallet(session, account)
        ledger.add_pack(
            session,
            account,
            name="old",
            source="purchase",
            tokens=10,
            expires_at=utcnow() - timedelta(days=1),
            pack_id="p-old",
        )
    with billing.db.session() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    view = billing.balance(account)
    assert view.packs[0].expired
    with billing.db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before
    assert billing.expire_packs() == 1  # the maintenance task records it


# --- durable jobs run again after a crash ---------------------------------------------
def test_a_resumed_call_is_free_when_its_earlier_attempt_paid(billing):
    """Async chat / batch lines claimed again: the earlier attempt's charge is found by its
    request id; the rerun is free (charged once), not 1231."""
    from openmaas.errors import DuplicateRequest

    account = cash_account(billing, 10_000_000)
    payer = Principal(account, None)

    async def scenario() -> tuple[bool, bool, str]:
        meter, recorder = _meter(billing)
        await meter.start()
        first = await meter.open(
            payer, "glm-4", "fake-chat", Bound(10, 100), endpoint="async_chat", request_id="job-1"
        )
        first.record(10, 30)
        await recorder.flush()
        with pytest.raises(DuplicateRequest):  # a client replaying its id still gets 1231
            await meter.open(
                payer, "glm-4", "fake-chat", Bound(10, 100), endpoint="async_chat", request_id="job-1"
            )
        again = await meter.open(
            payer,
            "glm-4",
            "fake-chat",
            Bound(10, 100),
            endpoint="async_chat",
            request_id="job-1",
            resume=True,
        )
        again.record(10, 35)
        # an attempt killed before it delivered anything was released uncharged: the next holds anew
        unpaid = await meter.open(
            payer, "glm-4", "fake-chat", Bound(10, 100), endpoint="async_chat", request_id="job-2"
        )
        unpaid.release()
        await recorder.flush()
        retried = await meter.open(
            payer,
            "glm-4",
            "fake-chat",
            Bound(10, 100),
            endpoint="async_chat",
            request_id="job-2",
            resume=True,
        )
        retried.record(10, 20)
        await meter.close()
        return again.charged, retried.charged, retried.request_id

    again_charged, retried_charged, retried_id = asyncio.run(scenario())
    assert (again_charged, retried_charged, retried_id) == (False, True, "job-2:retry1")
    view = billing.balance(account)
    assert (view.cash_micro, view.held_micro) == (10_000_000 - (40 + 30) * PER_TOKEN, 0)
    assert billing.reconcile(account) == []
