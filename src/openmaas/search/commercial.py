"""Commercial web-search APIs behind the search-provider interface.

Three wires an operator can buy access to: the Brave Search API, Tavily, and the GLM
platform's own `POST /web_search` (bigmodel.cn, or another OpenMaaS). Each maps the
platform's options (domain filter, recency, count) onto its vendor's parameters and its
results onto `SearchResult`. The API key comes from an environment variable the operator
names; the URL is the operator's too, never the caller's. Failures answer `SearchFailed`
without the vendor's message (it may carry the key's account or internal URLs).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx

from openmaas.search.providers import SearchFailed, SearchOptions, SearchResult

log = logging.getLogger(__name__)

BRAVE_FRESHNESS = {"oneDay": "pd", "oneWeek": "pw", "oneMonth": "pm", "oneYear": "py"}
TAVILY_TIME_RANGE = {"oneDay": "day", "oneWeek": "week", "oneMonth": "month", "oneYear": "year"}
DEFAULT_BASE_URLS = {
    "brave": "https://api.search.brave.com/res/v1",
    "tavily": "https://api.tavily.com",
    "zhipu": "https://open.bigmodel.cn/api/paas/v4",
}
MAX_COUNT = {"brave": 20, "tavily": 20, "zhipu": 50}


class _ApiProvider:
    """The shared part: one pooled client, the key, and a request that fails as SearchFailed."""

    name = "api"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, **kwargs)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("search provider %s failed: %s", self.name, exc)
            raise SearchFailed(
                "网络搜索失败，请稍后重试 (the web search provider failed; try again later)"
            ) from exc
        if not isinstance(body, dict):
            raise SearchFailed("网络搜索失败 (the web search provider answered an unexpected shape)")
        return body

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        raise NotImplementedError  # each vendor's own

    async def close(self) -> None:
        await self._client.aclose()


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _items(container: Any, key: str) -> list[dict[str, Any]]:
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


class BraveSearchProvider(_ApiProvider):
    """`GET /web/search` with `X-Subscription-Token`; results under `web.results`."""

    name = "brave"

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        options = options or SearchOptions()
        params: dict[str, str | int] = {
            "q": f"{query} site:{options.domain}" if options.domain else query,
            "count": min(count, MAX_COUNT["brave"]),
        }
        if options.recency in BRAVE_FRESHNESS:
            params["freshness"] = BRAVE_FRESHNESS[options.recency]
        body = await self._call(
            "GET",
            "/web/search",
            params=params,
            headers={"X-Subscription-Token": self._api_key, "Accept": "application/json"},
        )
        return [
            SearchResult(
                title=_text(item, "title"),
                link=_text(item, "url"),
                content=_text(item, "description"),
                media=_text(item.get("profile") or {}, "name"),
                icon=_text(item.get("meta_url") or {}, "favicon"),
                publish_date=_text(item, "page_age") or _text(item, "age"),
                refer=f"ref_{i + 1}",
            )
            for i, item in enumerate(_items(body.get("web"), "results")[:count])
        ]


class TavilySearchProvider(_ApiProvider):
    """`POST /search` with a bearer key; domain and recency are Tavily's own fields."""

    name = "tavily"

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        options = options or SearchOptions()
        payload: dict[str, Any] = {"query": query, "max_results": min(count, MAX_COUNT["tavily"])}
        if options.domain:
            payload["include_domains"] = [options.domain]
        if options.recency in TAVILY_TIME_RANGE:
            payload["time_range"] = TAVILY_TIME_RANGE[options.recency]
        body = await self._call(
            "POST", "/search", json=payload, headers={"Authorization": f"Bearer {self._api_key}"}
        )
        return [
            SearchResult(
                title=_text(item, "title"),
                link=_text(item, "url"),
                content=_text(item, "content"),
                media="tavily",
                publish_date=_text(item, "published_date"),
                refer=f"ref_{i + 1}",
            )
            for i, item in enumerate(_items(body, "results")[:count])
        ]


class ZhipuSearchProvider(_ApiProvider):
    """The GLM platform's `POST /web_search` (or another OpenMaaS's): the same shape as ours,
    so the caller's engine and filters pass through."""

    name = "zhipu"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        engine: str = "search_std",
    ) -> None:
        super().__init__(base_url, api_key, timeout, transport)
        self._engine = engine

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        options = options or SearchOptions()
        payload: dict[str, Any] = {
            "search_engine": options.engine or self._engine,
            "search_query": query,
            "count": min(count, MAX_COUNT["zhipu"]),
        }
        if options.domain:
            payload["search_domain_filter"] = options.domain
        if options.recency:
            payload["search_recency_filter"] = options.recency
        body = await self._call(
            "POST", "/web_search", json=payload, headers={"Authorization": f"Bearer {self._api_key}"}
        )
        return [
            SearchResult(
                title=_text(item, "title"),
                link=_text(item, "link"),
                content=_text(item, "content"),
                media=_text(item, "media"),
                icon=_text(item, "icon"),
                publish_date=_text(item, "publish_date"),
                refer=f"ref_{i + 1}",
            )
            for i, item in enumerate(_items(body, "search_result")[:count])
        ]


PROVIDER_KINDS: dict[str, type[_ApiProvider]] = {
    "brave": BraveSearchProvider,
    "tavily": TavilySearchProvider,
    "zhipu": ZhipuSearchProvider,
}


def build_api_provider(kind: str, base_url: str | None, api_key_env: str, timeout: float) -> _ApiProvider:
    """The configured vendor's provider; refuses to start without its key (a provider that
    would answer 401 to every search is a configuration error, not a runtime one)."""
    api_key = os.environ.get(api_key_env, "")
    if not api_key:
        raise ValueError(f"web_search.apis: the {kind} provider's key variable {api_key_env} is not set")
    return PROVIDER_KINDS[kind](base_url or DEFAULT_BASE_URLS[kind], api_key, timeout)
