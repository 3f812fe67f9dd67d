"""Web search billed per search performed (row `tool:web_search`): POST /web_search, and the
chat-family `web_search` tool (chat on both surfaces, async chat, batch lines, Responses,
assistants: chat/web_search.py), through the same meter and price row."""

from __future__ import annotations

from dataclasses import dataclass

from openmaas.auth.principal import Principal
from openmaas.errors import InvalidField
from openmaas.limits.base import WEB_SEARCH as WEB_SEARCH_RESOURCE
from openmaas.search.providers import SearchProvider, SearchResult
from openmaas.search.service import WebSearchQuery, check_query, run_web_search
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import WEB_SEARCH

ENGINES = (
    "search_std",
    "search_pro",
    "search_pro_sogou",
    "search_pro_quark",
    "search_pro_bing",
    "search_intranet",
)


@dataclass(frozen=True)
class WebSearchAnswer:
    request_id: str
    query: str
    results: list[SearchResult]


class WebSearchService:
    def __init__(self, meter: ToolMeter) -> None:
        self._meter = meter

    async def search(
        self,
        principal: Principal,
        provider: SearchProvider | None,
        query: WebSearchQuery,
        request_id: str | None = None,
    ) -> WebSearchAnswer:
        """`provider`: the app's (services.search), read per request."""
        check_query(query)
        if query.engine not in ENGINES:
            raise InvalidField("search_engine", f"one of {', '.join(ENGINES)}")
        if provider is None:
            await run_web_search(None, query)  # the clear "no provider configured" 1214
        async with self._meter.metered(principal, WEB_SEARCH, 1, "web_search", request_id) as meter:
            results = await run_web_search(provider, query)
        return WebSearchAnswer(meter.request_id, query.query, results)

    async def search_for_tool(
        self,
        principal: Principal,
        provider: SearchProvider | None,
        query: WebSearchQuery,
        field: str,
        endpoint: str,
    ) -> list[SearchResult]:
        """The chat-family tool's search: admitted as the caller on the `web_search` resource
        (1302/1303 before the provider is called), charged like the endpoint, once when the
        search ran; a failed search (provider error, bad filter) is released uncharged."""
        check_query(query)
        if provider is None:
            await run_web_search(None, query, field)  # the clear 1214, before any hold
        async with self._meter.metered(principal, WEB_SEARCH, 1, endpoint, resource=WEB_SEARCH_RESOURCE):
            return await run_web_search(provider, query, field)
