"""The chat-family `web_search` tool is charged like POST /web_search (issue 16 item 4): the
same meter and price row (`tool:web_search`, 0.01 元 per search, in cash), one usage row per
search performed (endpoint `chat.web_search`, `responses.web_search`, ...), nothing when the
search failed or was switched off, and 1113 before the provider is called when the account
cannot pay."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from openmaas.search.providers import SearxNGProvider
from openmaas.store.tables import UsageRecord

CHAT = "/api/paas/v4/chat/completions"
ROW = "tool:web_search"
PER_SEARCH = 10_000  # µ元: 0.01 元


def searx(seen: list[str], status: int = 200) -> SearxNGProvider:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["q"])
        return httpx.Response(
            status,
            json={
                "results": [
                    {"title": "OpenMaaS 1.0 released", "url": "https://example.org/a", "content": "It ships."}
                ]
            },
        )

    return SearxNGProvider("http://searx.test", transport=httpx.MockTransport(answer))


def chat(harness, headers: dict, spec: dict, path: str = CHAT) -> httpx.Response:
    return harness.client.post(
        path,
        headers=headers,
        json={
            "model": "glm-4",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "news?"}],
            "tools": [{"type": "web_search", "web_search": spec}],
        },
    )


def search_rows(harness, account: str) -> list[tuple[str, str, int]]:
    """(endpoint, status, µ元) of the account's web search usage rows."""
    harness.client.portal.call(harness.services.usage.flush)
    with harness.services.db.session() as session:
        return [
            tuple(r)
            for r in session.execute(
                sa.select(UsageRecord.endpoint, UsageRecord.status, UsageRecord.cost_micro)
                .where(UsageRecord.account_id == account, UsageRecord.model == ROW)
                .order_by(UsageRecord.id)
            )
        ]


def total_cost(harness, account: str, *where) -> int:
    with harness.services.db.session() as session:
        return session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(UsageRecord.cost_micro), 0)).where(
                UsageRecord.account_id == account, *where
            )
        )


def test_each_search_is_charged_once_on_both_chat_surfaces(harness, paying):
    account, headers = paying
    seen: list[str] = []
    harness.services.search = searx(seen)
    cash = harness.services.billing.balance(account).cash_micro
    assert chat(harness, headers, {"enable": True}).status_code == 200
    openai = chat(harness, headers, {"enable": "True", "search_query": "openmaas"}, "/v1/chat/completions")
    assert openai.status_code == 200, openai.text
    assert seen == ["news?", "openmaas"]
    rows = search_rows(harness, account)
    assert rows == [("chat.web_search", "success", PER_SEARCH)] * 2
    spent = cash - harness.services.billing.balance(account).cash_micro
    assert spent == total_cost(harness, account) and spent > 2 * PER_SEARCH  # the searches and the chats
    assert harness.services.billing.reconcile(account) == []


def test_a_failed_or_switched_off_search_costs_nothing(harness, paying):
    account, headers = paying
    seen: list[str] = []
    harness.services.search = searx(seen, status=502)
    failed = chat(harness, headers, {"enable": True})
    assert failed.status_code >= 400 and seen == ["news?"], failed.text
    off = chat(harness, headers, {"enable": "false"})
    assert off.status_code == 200 and seen == ["news?"]  # switched off: no search
    assert [cost for _, _, cost in search_rows(harness, account)] in ([], [0])  # at most a released hold
    assert total_cost(harness, account, UsageRecord.endpoint != "chat") == 0
    assert harness.services.billing.reconcile(account) == []


def test_an_account_that_cannot_pay_gets_1113_before_the_provider_is_called(harness):
    """The registration grant is tokens; a search is paid in cash, as on POST /web_search."""
    seen: list[str] = []
    harness.services.search = searx(seen)
    refused = chat(harness, harness.tenant.headers, {"enable": True})
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "1113"), refused.text
    assert seen == [] and harness.fake_engine().prompts == []
