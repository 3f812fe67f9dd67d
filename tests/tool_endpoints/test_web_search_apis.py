"""Commercial search APIs (Brave, Tavily, the GLM platform's /web_search) behind POST
/web_search: configured in settings with a key variable, routed by `search_engine`, and
answering in the platform's shape. The vendors are a loopback stub (no internet here) that
checks each request the way the vendor would (key header, field names)."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from openmaas.config import SearchApiConfig, Settings, WebSearchConfig
from openmaas.search.commercial import build_api_provider
from openmaas.search.providers import build_search_provider
from tests.conftest import add_tenant, free_port, start_live_server
from tests.sdk._support import usage_rows, wait_for
from tests.tool_endpoints.conftest import tool_settings


def days_ago(days: int) -> str:
    """Vendors' publish dates relative to today: recency filters are judged against the clock."""
    return (date.today() - timedelta(days=days)).isoformat()


BRAVE_PAGE_DAY = days_ago(2)  # inside oneWeek

KEYS = {"brave": "brave-key", "tavily": "tavily-key", "zhipu": "zhipu-key"}


class StubSearchVendors:
    """Brave's GET /web/search, Tavily's POST /search and Zhipu's POST /web_search on one port;
    a wrong key answers 401 as the vendors do. `fail` makes every answer a 502."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.fail = False
        self.port = free_port()
        app = Starlette(
            routes=[
                Route("/brave/web/search", self._brave),
                Route("/tavily/search", self._tavily, methods=["POST"]),
                Route("/zhipu/web_search", self._zhipu, methods=["POST"]),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}"

    def start(self) -> StubSearchVendors:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def _refuse(self, key: str | None, kind: str) -> JSONResponse | None:
        if self.fail:
            return JSONResponse({"error": "upstream exploded at internal-host:9200"}, 502)
        if key != KEYS[kind]:
            return JSONResponse({"error": "bad key"}, 401)
        return None

    async def _brave(self, request: Request) -> JSONResponse:
        self.seen.append(("brave", dict(request.query_params)))
        refused = self._refuse(request.headers.get("x-subscription-token"), "brave")
        return refused or JSONResponse(
            {
                "web": {
                    "results": [
                        {
                            "title": "Brave one",
                            "url": "https://a.example.com/1",
                            "description": "first hit",
                            "page_age": f"{BRAVE_PAGE_DAY}T00:00:00",
                            "profile": {"name": "Example"},
                            "meta_url": {"favicon": "https://a.example.com/icon.png"},
                        },
                        {"title": "Brave two", "url": "https://a.example.com/2", "description": "second hit"},
                    ]
                }
            }
        )

    async def _tavily(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.seen.append(("tavily", body))
        refused = self._refuse(request.headers.get("authorization", "").removeprefix("Bearer "), "tavily")
        return refused or JSONResponse(
            {
                "query": body["query"],
                "results": [
                    {
                        "title": "Tavily hit",
                        "url": "https://t.example.org/x",
                        "content": "tavily content",
                        "score": 0.9,
                        "published_date": days_ago(9),
                    }
                ],
            }
        )

    async def _zhipu(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.seen.append(("zhipu", body))
        refused = self._refuse(request.headers.get("authorization", "").removeprefix("Bearer "), "zhipu")
        return refused or JSONResponse(
            {
                "id": "x",
                "created": 1,
                "search_result": [
                    {
                        "title": "智谱结果",
                        "link": "https://z.example.cn/a",
                        "content": "内容",
                        "media": "新闻",
                        "icon": "",
                        "refer": "ref_1",
                        "publish_date": days_ago(5),
                    }
                ],
            }
        )


@pytest.fixture(scope="module")
def vendors():
    stub = StubSearchVendors().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def keyed_env():
    with pytest.MonkeyPatch.context() as patch:
        for kind, key in KEYS.items():
            patch.setenv(f"TEST_{kind.upper()}_KEY", key)
        yield


def api(kind: str, vendors: StubSearchVendors, engines: list[str], key_env: str | None = None):
    return SearchApiConfig(
        kind=kind,
        base_url=vendors.url(kind),
        engines=engines,
        api_key_env=key_env or f"TEST_{kind.upper()}_KEY",
    )


@pytest.fixture(scope="module")
def routed_server(tmp_path_factory, vendors, keyed_env):
    """Brave serves every engine not routed elsewhere; search_pro_quark → Tavily;
    search_pro_sogou → the GLM platform."""
    search = WebSearchConfig(
        apis=[
            api("brave", vendors, []),
            api("tavily", vendors, ["search_pro_quark"]),
            api("zhipu", vendors, ["search_pro_sogou"]),
        ]
    )
    server = start_live_server(tool_settings(tmp_path_factory.mktemp("search-apis"), web_search=search))
    tenant = add_tenant(server.services, "searcher")
    server.services.billing.admin_credit("test-admin", tenant.account_id, 1_000_000, "test")
    yield server, tenant
    server.stop()


def search(server, tenant, **body) -> httpx.Response:
    return httpx.post(
        f"{server.zhipu_base}/web_search",
        headers=tenant.headers,
        timeout=30,
        json={"search_query": "OpenMaaS"} | body,
    )


def test_each_engine_reaches_its_vendor_in_the_platform_shape(routed_server, vendors):
    server, tenant = routed_server
    vendors.seen.clear()
    brave = search(
        server,
        tenant,
        search_engine="search_std",
        count=3,
        search_domain_filter="example.com",
        search_recency_filter="oneWeek",
    )
    assert brave.status_code == 200, brave.text
    first = brave.json()["search_result"][0]
    assert (first["title"], first["link"], first["media"], first["refer"]) == (
        "Brave one",
        "https://a.example.com/1",
        "Example",
        "ref_1",
    )
    assert first["publish_date"].startswith(BRAVE_PAGE_DAY) and first["icon"].endswith("icon.png")
    assert vendors.seen[-1] == ("brave", {"q": "OpenMaaS site:example.com", "count": "3", "freshness": "pw"})

    tavily = search(
        server,
        tenant,
        search_engine="search_pro_quark",
        count=2,
        search_domain_filter="example.org",
        search_recency_filter="oneMonth",
    )
    assert [r["title"] for r in tavily.json()["search_result"]] == ["Tavily hit"]
    assert vendors.seen[-1] == (
        "tavily",
        {"query": "OpenMaaS", "max_results": 2, "include_domains": ["example.org"], "time_range": "month"},
    )

    zhipu = search(server, tenant, search_engine="search_pro_sogou", count=4)
    assert [r["link"] for r in zhipu.json()["search_result"]] == ["https://z.example.cn/a"]
    assert vendors.seen[-1] == (
        "zhipu",
        {"search_engine": "search_pro_sogou", "search_query": "OpenMaaS", "count": 4},
    )


def test_each_search_is_charged_once_and_a_vendor_failure_is_a_clean_error(routed_server, vendors):
    server, _ = routed_server
    tenant = add_tenant(server.services, "charged")
    server.services.billing.admin_credit("test-admin", tenant.account_id, 1_000_000, "test")
    assert search(server, tenant, search_engine="search_pro").status_code == 200
    wait_for(lambda: usage_rows(server.services, account_id=tenant.account_id, model="tool:web_search"))
    vendors.fail = True
    try:
        failed = search(server, tenant, search_engine="search_pro")
    finally:
        vendors.fail = False
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "1234"
    assert "internal-host" not in failed.text  # the vendor's words stay in the log
    time.sleep(1.0)  # usage rows are written in the background
    rows = usage_rows(server.services, account_id=tenant.account_id, model="tool:web_search")
    assert sum(row.cost_micro for row in rows) == 10_000  # the failed search cost nothing


def test_a_wrong_key_is_a_provider_failure_not_a_leak(tmp_path, vendors):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_WRONG_KEY", "not-the-key")
        search_config = WebSearchConfig(apis=[api("tavily", vendors, [], key_env="TEST_WRONG_KEY")])
        server = start_live_server(tool_settings(tmp_path, web_search=search_config))
    try:
        tenant = add_tenant(server.services, "w")
        server.services.billing.admin_credit("test-admin", tenant.account_id, 1_000_000, "test")
        answer = search(server, tenant, search_engine="search_std")
        assert answer.status_code == 500 and answer.json()["error"]["code"] == "1234"
        assert "not-the-key" not in answer.text and "bad key" not in answer.text
    finally:
        server.stop()


def test_a_configured_api_without_its_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_MISSING_KEY", raising=False)
    with pytest.raises(ValueError, match="TEST_MISSING_KEY"):
        build_api_provider("brave", None, "TEST_MISSING_KEY", 5.0)
    config = WebSearchConfig(apis=[SearchApiConfig(kind="zhipu", api_key_env="TEST_MISSING_KEY")])
    with pytest.raises(ValueError, match="zhipu"):
        build_search_provider(Settings(environment="test", data_dir=tmp_path, web_search=config))


def test_an_unrouted_engine_prefers_a_catch_all_api_over_searxng(tmp_path, keyed_env, vendors):
    config = WebSearchConfig(
        searxng_url="http://127.0.0.1:9",
        apis=[api("tavily", vendors, ["search_pro"]), api("brave", vendors, [])],
    )
    routed = build_search_provider(Settings(environment="test", data_dir=tmp_path, web_search=config))
    assert routed.for_engine("search_pro").name == "tavily"
    assert routed.for_engine("search_std").name == "brave"
    only_routed = WebSearchConfig(
        searxng_url="http://127.0.0.1:9", apis=[api("tavily", vendors, ["search_pro"])]
    )
    routed = build_search_provider(Settings(environment="test", data_dir=tmp_path, web_search=only_routed))
    assert routed.for_engine("search_std").name == "searxng"
