"""Knowledge costs compute and is billed through the meter: ingestion embeddings at the
embedding model's price (usage endpoint `ingest`), the retrieval query's tokens at the
`knowledge:retrieval` row (endpoint `retrieval`, both `/knowledge/retrieve` and the chat
retrieval tool), which an operator may set to 0; keyword-only retrieval embeds nothing and
is free."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.billing.money import Price
from openmaas.config import BillingConfig, PriceConfig
from openmaas.store.tables import UsageRecord
from tests.conftest import Tenant, add_tenant
from tests.knowledge.conftest import KnowledgeHarness


def usage_by_endpoint(kh) -> dict[str, tuple[int, int]]:
    """endpoint → (rows, prompt tokens) of the tenant's usage."""
    kh.client.portal.call(kh.services.usage.flush)
    with kh.services.db.session() as session:
        rows = session.execute(
            sa.select(UsageRecord.endpoint, sa.func.count(), sa.func.sum(UsageRecord.prompt_tokens))
            .where(UsageRecord.account_id == kh.tenant.account_id)
            .group_by(UsageRecord.endpoint)
        ).all()
    return {endpoint: (count, tokens) for endpoint, count, tokens in rows}


def test_ingestion_and_retrieval_embeddings_are_billed(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "policy.txt", b"Refunds are issued within thirty days of purchase.\n" * 20)
    before = kh.services.billing.balance(kh.tenant.account_id).packs[0].remaining_tokens
    assert kh.retrieve(kb_id, "what is the refund policy")
    kh.retrieve(kb_id, "refund", recall_method="keyword")
    usage = usage_by_endpoint(kh)
    assert usage["ingest"][0] >= 1 and usage["ingest"][1] > 0
    assert usage["retrieval"][0] == 1 and usage["retrieval"][1] > 0  # the keyword query is free
    after = kh.services.billing.balance(kh.tenant.account_id).packs[0].remaining_tokens
    assert before - after == usage["retrieval"][1]  # paid from the grant pack
    assert kh.services.billing.reconcile(kh.tenant.account_id) == []


# --- retrieval has a price row of its own (knowledge:retrieval) --------------------------
RETRIEVAL_ROW = "knowledge:retrieval"


def usage_rows(kh, endpoint: str) -> list[tuple[str, int, int]]:
    """(model, prompt tokens, µ元) of the tenant's usage rows at `endpoint`."""
    kh.client.portal.call(kh.services.usage.flush)
    with kh.services.db.session() as session:
        return [
            tuple(r)
            for r in session.execute(
                sa.select(UsageRecord.model, UsageRecord.prompt_tokens, UsageRecord.cost_micro)
                .where(UsageRecord.account_id == kh.tenant.account_id, UsageRecord.endpoint == endpoint)
                .order_by(UsageRecord.id)
            )
        ]


@contextlib.contextmanager
def priced_at(make_settings, retrieval_per_1k: str) -> Iterator[KnowledgeHarness]:
    """A knowledge app with the retrieval row at `retrieval_per_1k` 元 per 1k query tokens."""
    prices = {RETRIEVAL_ROW: PriceConfig(input_per_1k=retrieval_per_1k)}
    app = create_app(make_settings(billing=BillingConfig(prices=prices)))
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield KnowledgeHarness(client, services, add_tenant(services), add_tenant(services, "other"))


@pytest.fixture
def priced(make_settings) -> Iterator[KnowledgeHarness]:
    """Retrieval at 100× the embedding price (0.05 元 / 1k)."""
    with priced_at(make_settings, "0.05") as kh:
        yield kh


@pytest.fixture
def free_retrieval(make_settings) -> Iterator[KnowledgeHarness]:
    """The operator wrote retrieval's price down as 0."""
    with priced_at(make_settings, "0") as kh:
        yield kh


def cash_only(kh) -> dict[str, str]:
    """A second key's tenant with 1 元 cash and no grant pack: every charge shows in cash."""
    services = kh.services
    with services.db.session() as session:
        account = create_account(session, "cash")
        key = issue_key(session, services.sealer, account.id, "k")
    services.billing.admin_credit("admin", account.id, 1_000_000, "funds")
    kh.tenant = Tenant(account.id, key.id, key.api_key)
    return kh.tenant.headers


def test_retrieval_charges_its_own_row_and_ingestion_the_embedding_price(priced):
    cash_only(priced)
    kb_id = priced.create_kb()
    priced.ingest(kb_id, "policy.txt", b"Refunds are issued within thirty days of purchase.\n" * 20)
    assert priced.retrieve(kb_id, "what is the refund policy")
    tool = {"type": "retrieval", "retrieval": {"knowledge_id": kb_id, "top_k": 1}}  # fits the fake's window
    chat = priced.client.post(
        "/api/paas/v4/chat/completions",
        headers=priced.tenant.headers,
        json={"model": "glm-4", "messages": [{"role": "user", "content": "refund policy?"}], "tools": [tool]},
    )
    assert chat.status_code == 200, chat.text
    retrievals = usage_rows(priced, "retrieval")
    assert [model for model, _, _ in retrievals] == [RETRIEVAL_ROW, RETRIEVAL_ROW]  # both entries
    row = Price(input_per_1k=50_000)  # 0.05 元 per 1k query tokens
    assert all(cost == row.token_cost(tokens, 0) > 0 for _, tokens, cost in retrievals)
    embedding = Price(input_per_1k=500)  # the embedding model's own price (0.0005 元 / 1k)
    ingested = usage_rows(priced, "ingest")
    assert ingested and all(
        model == "fake-embedding" and cost == embedding.token_cost(tokens, 0)
        for model, tokens, cost in ingested
    )
    spent = 1_000_000 - priced.services.billing.balance(priced.tenant.account_id).cash_micro
    chat_cost = sum(cost for _, _, cost in usage_rows(priced, "chat"))
    assert spent == sum(c for _, _, c in retrievals + ingested) + chat_cost
    assert priced.services.billing.reconcile(priced.tenant.account_id) == []


def test_an_operator_may_serve_retrieval_free(free_retrieval):
    kh = free_retrieval
    cash_only(kh)
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "policy.txt", b"Refunds are issued within thirty days of purchase.\n" * 20)
    after_ingest = kh.services.billing.balance(kh.tenant.account_id).cash_micro
    assert after_ingest < 1_000_000  # ingestion still pays the embedding price
    assert kh.retrieve(kb_id, "what is the refund policy")
    retrievals = usage_rows(kh, "retrieval")
    assert [(model, cost) for model, _, cost in retrievals] == [(RETRIEVAL_ROW, 0)]
    assert retrievals[0][1] > 0  # the query's tokens are still counted
    assert kh.services.billing.balance(kh.tenant.account_id).cash_micro == after_ingest
