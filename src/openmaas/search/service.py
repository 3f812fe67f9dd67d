"""Web search as the platform serves it, shared by POST /web_search and the chat
`web_search` tool: provider choice, domain and recency filters, content size, refs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from openmaas.errors import InvalidField
from openmaas.search.providers import SearchOptions, SearchProvider, SearchResult, with_refs

MAX_COUNT = 50
RECENCY = {"oneDay": 1, "oneWeek": 7, "oneMonth": 31, "oneYear": 366, "noLimit": None}
CONTENT_CHARS = {"medium": 400, "high": None}  # high: the whole text the provider gave


@dataclass(frozen=True)
class WebSearchQuery:
    query: str
    count: int = 10
    engine: str | None = None
    domain: str | None = None
    recency: str | None = None
    content_size: str | None = None

    def options(self) -> SearchOptions:
        return SearchOptions(engine=self.engine, domain=self.domain, recency=self.recency)


def check_query(query: WebSearchQuery) -> None:
    if not query.query.strip():
        raise InvalidField("search_query", "must not be empty")
    if not 1 <= query.count <= MAX_COUNT:
        raise InvalidField("count", f"an integer 1–{MAX_COUNT}")
    if query.recency is not None and query.recency not in RECENCY:
        raise InvalidField("search_recency_filter", f"one of {', '.join(RECENCY)}")
    if query.content_size is not None and query.content_size not in CONTENT_CHARS:
        raise InvalidField("content_size", "medium or high")
    if query.domain is not None and (not query.domain.strip() or "/" in query.domain.strip("/")):
        raise InvalidField("search_domain_filter", "a domain name such as www.example.com")


async def run_web_search(
    provider: SearchProvider | None, query: WebSearchQuery, field: str = "search_engine"
) -> list[SearchResult]:
    check_query(query)
    if provider is None:
        raise InvalidField(
            field,
            "no web search provider is configured on this server "
            "(set OPENMAAS_WEB_SEARCH__SEARXNG_URL or tools.intranet_search)",
        )
    found = await provider.search(query.query.strip(), query.count, query.options())
    kept = [r for r in found if in_domain(r.link, query.domain) and is_recent(r.publish_date, query.recency)]
    limit = CONTENT_CHARS.get(query.content_size or "medium")
    shaped = [replace(r, content=r.content[:limit]) if limit else r for r in kept[: query.count]]
    return with_refs(shaped)


def in_domain(link: str, domain: str | None) -> bool:
    if not domain:
        return True
    wanted = domain.strip().lower().removeprefix("www.")
    host = (urlsplit(link).hostname or "").lower().removeprefix("www.")
    return host == wanted or host.endswith("." + wanted)


def is_recent(published: str, recency: str | None, now: datetime | None = None) -> bool:
    """Results with an unknown date are kept (the provider was asked for the range)."""
    days = RECENCY.get(recency or "noLimit")
    if days is None or not published:
        return True
    try:
        moment = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment >= (now or datetime.now(UTC)) - timedelta(days=days)
