"""Finding 11 (limiter part) / issue 15 item 4: retrieval and web search are admitted by the
limiter before they run.

The chat `retrieval` tool, `POST /knowledge/retrieve` and the chat `web_search` tool ran
before any admission: an account at its RPM or concurrency limit still drove query
embedding, BM25, the rerank, trace writes and calls to the search provider at any rate.
Now each is admitted as the caller (resources `retrieval` / `web_search`) first: past the
limits the caller gets 1302/1303 and no retrieval or search work starts. The probes use a
knowledge base that does not exist: before the fix they answered "not found" (the work
ran), now the limiter answers first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.principal import Principal
from openmaas.config import LimitsConfig
from openmaas.limits.base import Admission
from openmaas.search.providers import RoutedSearch
from tests.conftest import AppHarness, add_tenant
from tests.tool_endpoints.test_web_search import fake_searxng

RETRIEVAL, WEB_SEARCH = "retrieval", "web_search"  # the limiter resources (limits/base.py)
TIERS = {"V0": 1, "V1": 1, "V2": 1, "V3": 1}
NO_SUCH_KB = "no-such-knowledge-base"


@pytest.fixture
def limited(make_settings) -> Iterator[AppHarness]:
    """One concurrent request per account and resource, 3 requests a minute per key."""
    app = create_app(make_settings(limits=LimitsConfig(concurrency_by_tier=TIERS, rpm_per_key=3)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield AppHarness(client, app.state.services, add_tenant(app.state.services))


def hold_slot(harness: AppHarness, resource: str):
    """Another of the tenant's requests, in flight on `resource` (its one concurrency slot)."""
    principal = Principal(account_id=harness.tenant.account_id, api_key_id="another-key")
    return asyncio.run(harness.services.limiter.admit(Admission(principal, resource, 0)))


def post(harness: AppHarness, path: str, body: dict) -> httpx.Response:
    return harness.client.post("/api/paas/v4" + path, json=body, headers=harness.tenant.headers)


def retrieve(harness: AppHarness) -> httpx.Response:
    return post(harness, "/knowledge/retrieve", {"knowledge_ids": [NO_SUCH_KB], "query": "refund policy"})


def chat_with(harness: AppHarness, tool: dict) -> httpx.Response:
    return post(
        harness,
        "/chat/completions",
        {"model": "glm-4", "messages": [{"role": "user", "content": "refund policy?"}], "tools": [tool]},
    )


def code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_knowledge_retrieve_at_the_concurrency_limit_gets_1302_before_any_work(limited):
    ticket = hold_slot(limited, RETRIEVAL)
    refused = retrieve(limited)
    assert (refused.status_code, code(refused)) == (429, "1302"), refused.text
    limited.services.limiter.release(ticket, 0)
    assert code(retrieve(limited)) == "1222"  # admitted: the retrieval itself runs (no such base)


def test_knowledge_retrieve_past_the_rpm_gets_1303(limited):
    answers = [retrieve(limited) for _ in range(4)]
    assert [code(a) for a in answers] == ["1222", "1222", "1222", "1303"], [a.text for a in answers]
    assert answers[-1].status_code == 429


def test_chat_retrieval_tool_is_admitted_before_it_retrieves(limited):
    tool = {"type": "retrieval", "retrieval": {"knowledge_id": NO_SUCH_KB}}
    ticket = hold_slot(limited, RETRIEVAL)
    refused = chat_with(limited, tool)
    assert (refused.status_code, code(refused)) == (429, "1302"), refused.text
    assert limited.fake_engine().prompts == []  # nothing reached the model either
    limited.services.limiter.release(ticket, 0)
    assert code(chat_with(limited, tool)) == "1222"


def test_chat_web_search_is_admitted_before_the_provider_is_called(limited):
    seen: list[httpx.Request] = []
    limited.services.search = RoutedSearch({"searxng": fake_searxng(seen)}, "searxng")
    tool = {"type": "web_search", "web_search": {"enable": True, "search_query": "openmaas"}}
    limited.services.billing.admin_credit("admin", limited.tenant.account_id, 100_000, "searches cost cash")
    ticket = hold_slot(limited, WEB_SEARCH)
    refused = chat_with(limited, tool)
    assert (refused.status_code, code(refused)) == (429, "1302"), refused.text
    assert seen == []  # no request left for the search provider
    limited.services.limiter.release(ticket, 0)
    answered = chat_with(limited, tool)
    assert answered.status_code == 200, answered.text
    assert len(seen) == 1 and answered.json()["web_search"]
