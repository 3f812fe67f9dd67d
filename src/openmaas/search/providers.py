"""The search-provider interface and its implementations.

`SearxNGProvider` queries a SearxNG instance's JSON API (`/search?format=json`), which
aggregates public engines and can run next to OpenMaaS. `IntranetProvider` searches
knowledge bases an operator designates (offline). `RoutedSearch` picks one by the
request's `search_engine`. No provider is configured by default: a request that asks for
web search then gets a clear error, never silence. The filtering and shaping every
caller shares (chat tool, POST /web_search) is in `search/service.py`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Protocol

import httpx

from openmaas.auth.principal import Principal
from openmaas.config import Settings
from openmaas.errors import InvalidField, PlatformError

if TYPE_CHECKING:
    from openmaas.knowledge.retrieval import RetrievalService

RECENCY_TIME_RANGE = {"oneDay": "day", "oneWeek": "week", "oneMonth": "month", "oneYear": "year"}
INTRANET = "search_intranet"

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class SearchOptions:
    engine: str | None = None  # the platform's search_engine (search_std, search_pro, ...)
    domain: str | None = None  # search_domain_filter: results from this domain only
    recency: str | None = None  # oneDay | oneWeek | oneMonth | oneYear | noLimit


class SearchProvider(Protocol):
    name: str

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]: ...

    async def close(self) -> None: ...


class SearxNGProvider:
    name = "searxng"

    def __init__(
        self, base_url: str, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        options = options or SearchOptions()
        params = {"q": f"{query} site:{options.domain}" if options.domain else query, "format": "json"}
        if options.recency in RECENCY_TIME_RANGE:
            params["time_range"] = RECENCY_TIME_RANGE[options.recency]
        try:
            response = await self._client.get("/search", params=params)
            response.raise_for_status()
            items = response.json().get("results", [])
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("search provider %s failed: %s", self.name, exc)  # names internal URLs
            raise SearchFailed(
                "网络搜索失败，请稍后重试 (the web search provider failed; try again later)"
            ) from exc
        return [
            SearchResult(
                title=str(item.get("title", "")),
                link=str(item.get("url", "")),
                content=str(item.get("content", "")),
                media=str(item.get("engine", "")),
                publish_date=str(item.get("publishedDate") or ""),
                refer=f"ref_{i + 1}",
            )
            for i, item in enumerate(items[:count])
        ]

    async def close(self) -> None:
        await self._client.aclose()


class IntranetProvider:
    """Knowledge bases the operator designates, searched with the knowledge retrieval
    (hybrid dense + BM25) as their owner: no network needed."""

    name = "intranet"

    def __init__(
        self, retrieval: RetrievalService, account_id: str, knowledge_ids: list[str], link_base: str = "kb://"
    ) -> None:
        self._retrieval = retrieval
        self._owner = Principal(account_id=account_id, api_key_id=None)
        self._knowledge_ids = list(knowledge_ids)
        self._link_base = link_base

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        from openmaas.knowledge.retrieval import RetrievalQuery

        found = await self._retrieval.retrieve(
            self._owner,
            RetrievalQuery(self._knowledge_ids, query, top_k=min(count, 100)),
            store_trace=False,
            admit=False,
        )  # the caller was admitted for the web search
        return [
            SearchResult(
                title=p.document_name,
                link=f"{self._link_base}{p.knowledge_id}/{p.document_id}#{p.ordinal}",
                content=p.text,
                media="intranet",
                refer=f"ref_{i + 1}",
            )
            for i, p in enumerate(found.passages)
        ]

    async def close(self) -> None:
        return None


class RoutedSearch:
    """The providers by name; `search_engine` picks one (`search_intranet`: the intranet
    provider; an engine the operator routed (`web_search.apis[].engines`): that provider; any
    other engine name: the default provider, a web one when there is one)."""

    def __init__(
        self, providers: dict[str, SearchProvider], default: str, engines: dict[str, str] | None = None
    ) -> None:
        self.providers = providers
        self.name = default
        self._engines = dict(engines or {})  # search_engine -> provider name

    def for_engine(self, engine: str | None) -> SearchProvider:
        if engine == INTRANET:
            if "intranet" not in self.providers:
                raise InvalidField(
                    "search_engine", "no intranet knowledge bases are configured (tools.intranet_search)"
                )
            return self.providers["intranet"]
        return self.providers[self._engines.get(engine or "", self.name)]

    async def search(
        self, query: str, count: int, options: SearchOptions | None = None
    ) -> list[SearchResult]:
        provider = self.for_engine(options.engine if options else None)
        return await provider.search(query, count, options)

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()


def build_search_provider(
    settings: Settings,
    retrieval: RetrievalService | None = None,
) -> SearchProvider | None:
    from openmaas.search.commercial import build_api_provider  # it builds on this module

    config = settings.web_search
    providers: dict[str, SearchProvider] = {}
    engines: dict[str, str] = {}
    for index, api in enumerate(config.apis):
        name = f"{api.kind}-{index}"
        providers[name] = build_api_provider(api.kind, api.base_url, api.api_key_env, config.timeout_seconds)
        engines.update({engine: name for engine in api.engines})
    if config.searxng_url:
        providers["searxng"] = SearxNGProvider(config.searxng_url, config.timeout_seconds)
    intranet = settings.tools.intranet_search
    if retrieval is not None and intranet.account_id and intranet.knowledge_ids:
        providers["intranet"] = IntranetProvider(
            retrieval, intranet.account_id, intranet.knowledge_ids, intranet.link_base
        )
    if not providers:
        return None
    return RoutedSearch(providers, default_provider(settings, providers), engines)


def default_provider(settings: Settings, providers: dict[str, SearchProvider]) -> str:
    """For engines nobody routed: an API serving every engine, else SearxNG, else the first
    API, else the intranet."""
    apis = settings.web_search.apis
    catch_all = [f"{api.kind}-{i}" for i, api in enumerate(apis) if not api.engines]
    web = (
        catch_all
        + (["searxng"] if "searxng" in providers else [])
        + [f"{api.kind}-{i}" for i, api in enumerate(apis)]
    )
    return web[0] if web else "intranet"


def with_refs(results: list[SearchResult]) -> list[SearchResult]:
    return [replace(r, refer=f"ref_{i + 1}") for i, r in enumerate(results)]
