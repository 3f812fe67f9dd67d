"""The search-provider interface and its implementations.

`SearxNGProvider` queries a SearxNG instance's JSON API (`/search?format=json`), which
aggregates public engines and can run next to OpenMaaS. No provider is configured by
default: a request that asks for web search then gets a clear error, never silence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import httpx

from openmaas.config import Settings
from openmaas.errors import PlatformError


class SearchFailed(PlatformError):
    http_status = 500
    code = "1234"
    default_message = "网络搜索失败 (the web search provider failed)"


@dataclass(frozen=True)
class SearchResult:
    title: str
    link: str
    content: str
    media: str = ""
    icon: str = ""
    publish_date: str = ""
    refer: str = ""

    def wire(self) -> dict:
        return asdict(self)


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, count: int) -> list[SearchResult]: ...

    async def close(self) -> None: ...


class SearxNGProvider:
    name = "searxng"

    def __init__(self, base_url: str, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                         transport=transport)

    async def search(self, query: str, count: int) -> list[SearchResult]:
        try:
            response = await self._client.get("/search", params={"q": query, "format": "json"})
            response.raise_for_status()
            items = response.json().get("results", [])
        except (httpx.HTTPError, ValueError) as exc:
            raise SearchFailed(f"网络搜索失败 (search provider error: {exc})") from exc
        return [SearchResult(title=str(item.get("title", "")), link=str(item.get("url", "")),
                             content=str(item.get("content", "")), media=str(item.get("engine", "")),
                             publish_date=str(item.get("publishedDate") or ""), refer=f"ref_{i + 1}")
                for i, item in enumerate(items[:count])]

    async def close(self) -> None:
        await self._client.aclose()


def build_search_provider(settings: Settings) -> SearchProvider | None:
    if settings.web_search.searxng_url:
        return SearxNGProvider(settings.web_search.searxng_url, settings.web_search.timeout_seconds)
    return None
