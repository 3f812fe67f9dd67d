"""POST /web_search through both SDKs: a SearxNG provider (fake SearxNG through httpx's
MockTransport) and the offline intranet provider over an operator's knowledge base; the
chat `web_search` tool shares the same filtering."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from openmaas.search.providers import RoutedSearch, SearxNGProvider
from tests.sdk._support import usage_rows, wait_for

SEARX_RESULTS = [
    {
        "title": "OpenMaaS 1.0 released",
        "url": "https://news.example.com/openmaas",
        "content": "A" * 900,
        "engine": "bing",
        "publishedDate": f"{date.today() - timedelta(days=6)}T08:00:00",  # inside oneYear, whenever run
    },
    {
        "title": "Old post",
        "url": "https://blog.other.org/old",
        "content": "old news",
        "engine": "ddg",
        "publishedDate": "2019-01-01T00:00:00",
    },
    {"title": "Docs", "url": "https://docs.example.com/start", "content": "getting started", "engine": "ddg"},
]


def fake_searxng(seen: list[httpx.Request]) -> SearxNGProvider:
    """A SearxNG stand-in (httpx MockTransport): answers SEARX_RESULTS, records the request."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": SEARX_RESULTS})

    return SearxNGProvider("http://searx.test", transport=httpx.MockTransport(answer))


@pytest.fixture
def searx(tool_server):
    seen: list[httpx.Request] = []
    previous = tool_server.services.search
    tool_server.services.search = RoutedSearch({"searxng": fake_searxng(seen)}, "searxng")
    yield seen
    tool_server.services.search = previous


def test_zai_sdk_web_search_shape_and_filters(zai, searx, tool_server, tenant):
    answer = zai.web_search.web_search(
        search_engine="search_std",
        search_query="OpenMaaS release",
        count=5,
        search_domain_filter="example.com",
        search_recency_filter="oneYear",
        content_size="medium",
    )
    results = answer.search_result
    assert [r["title"] if isinstance(r, dict) else r.title for r in results] == [
        "OpenMaaS 1.0 released",
        "Docs",
    ]
    first = results[0] if isinstance(results[0], dict) else results[0].model_dump()
    assert first["refer"] == "ref_1" and first["link"].startswith("https://news.example.com")
    assert len(first["content"]) == 400 and first["media"] == "bing" and first["publish_date"]
    params = dict(searx[0].url.params)
    assert params["q"] == "OpenMaaS release site:example.com" and params["time_range"] == "year"
    rows = wait_for(
        lambda: usage_rows(tool_server.services, account_id=tenant.account_id, model="tool:web_search")
    )
    assert rows[0].cost_micro == 10_000  # 0.01 元 per call


def test_zhipuai_sdk_web_search_and_intent(zhipu, searx):
    answer = zhipu.web_search.web_search(
        search_engine="search_pro", search_query="OpenMaaS", count=2, search_intent=True, content_size="high"
    )
    results = answer.search_result
    assert len(results) == 2
    first = results[0] if isinstance(results[0], dict) else results[0].model_dump()
    assert len(first["content"]) == 900  # high: the whole text
    intent = answer.search_intent
    assert intent and (intent[0]["query"] if isinstance(intent[0], dict) else intent[0].query) == "OpenMaaS"


def test_without_provider_a_clear_1214_and_no_charge(tool_server, tenant):
    tool_server.services.search = None
    response = httpx.post(
        f"{tool_server.zhipu_base}/web_search",
        headers=tenant.headers,
        json={"search_engine": "search_std", "search_query": "x"},
    )
    assert response.status_code == 400 and "no web search provider" in response.json()["error"]["message"]
    for body, field_name in (
        ({"search_engine": "search_std", "search_query": "x", "count": 51}, "count"),
        ({"search_engine": "google", "search_query": "x"}, "search_engine"),
        (
            {"search_engine": "search_std", "search_query": "x", "search_recency_filter": "week"},
            "search_recency_filter",
        ),
    ):
        bad = httpx.post(f"{tool_server.zhipu_base}/web_search", headers=tenant.headers, json=body)
        assert bad.status_code == 400 and field_name in bad.text, bad.text
    httpx.post(
        f"{tool_server.zhipu_base}/tokenizer",
        headers=tenant.headers,  # a later, recorded call
        json={"model": "fake-chat", "messages": [{"role": "user", "content": "x"}]},
    )
    wait_for(lambda: usage_rows(tool_server.services, account_id=tenant.account_id, model="tool:tokenizer"))
    assert not usage_rows(tool_server.services, account_id=tenant.account_id, model="tool:web_search")


def test_intranet_provider_searches_an_operators_knowledge_base_offline(tmp_path):
    """search_engine=search_intranet over a knowledge base the operator designates."""
    from openmaas.config import Settings  # noqa: F401
    from tests.conftest import add_tenant, start_live_server
    from tests.tool_endpoints.conftest import tool_settings

    server = start_live_server(tool_settings(tmp_path))
    try:
        operator = add_tenant(server.services, "operator")
        kb = httpx.post(
            f"{server.zhipu_base}/knowledge",
            headers=operator.headers,
            json={"embedding_id": 3, "name": "intranet", "description": "policies"},
        ).json()
        knowledge_id = kb["data"]["id"]
        files = {"file": ("leave.md", "# 请假制度\n员工年假为十五天，病假需要医院证明。".encode())}
        upload = httpx.post(
            f"{server.zhipu_base}/files",
            headers=operator.headers,
            files=files,
            data={"purpose": "retrieval", "knowledge_id": knowledge_id},
        )
        assert upload.status_code == 200, upload.text
        from openmaas.search.providers import IntranetProvider

        provider = IntranetProvider(server.services.knowledge.retrieval, operator.account_id, [knowledge_id])
        server.services.search = RoutedSearch({"intranet": provider}, "intranet")
        user = add_tenant(server.services, "employee")
        server.services.billing.admin_credit("test-admin", user.account_id, 1_000_000, "test")

        def search():
            response = httpx.post(
                f"{server.zhipu_base}/web_search",
                headers=user.headers,
                json={"search_engine": "search_intranet", "search_query": "年假几天"},
            )
            results = response.json().get("search_result") or []
            return results if results and "十五天" in results[0]["content"] else None

        results = wait_for(search, timeout=30, interval=0.2)
        assert results[0]["link"].startswith(f"kb://{knowledge_id}/") and results[0]["media"] == "intranet"
        assert results[0]["title"] == "leave.md"
    finally:
        server.stop()


def test_chat_tool_uses_the_same_filters(tool_server, tenant, searx):
    from tests.conftest import FAKE_MODEL

    tool = {
        "type": "web_search",
        "web_search": {
            "enable": True,
            "search_query": "OpenMaaS",
            "count": 5,
            "search_domain_filter": "docs.example.com",
        },
    }
    response = httpx.post(
        f"{tool_server.zhipu_base}/chat/completions",
        headers=tenant.headers,
        timeout=30,
        json={"model": FAKE_MODEL, "messages": [{"role": "user", "content": "news?"}], "tools": [tool]},
    )
    assert response.status_code == 200, response.text
    assert [r["title"] for r in response.json()["web_search"]] == ["Docs"]
