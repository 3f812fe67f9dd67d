"""The chat `web_search` tool: search first, then answer from the results, citing them.

`{"type": "web_search", "web_search": {"enable": true, "search_query": "...", "count": 5}}`.
The docs' own examples send strings ("True", "5"), so both forms are accepted. The
results go into the prompt as numbered sources and back to the caller in `web_search`.
Each search performed is charged like POST /web_search (tools_api/web_search.py: the same
meter and price row, a usage row of its own under `endpoint`); a failed one is not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.chat.types import ChatRequest
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField
from openmaas.search.providers import SearchProvider, SearchResult
from openmaas.search.service import MAX_COUNT, WebSearchQuery
from openmaas.tools_api.web_search import WebSearchService

TOOL_ENDPOINT = "chat.web_search"  # the usage row's endpoint for a chat-surface search


def _truthy(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def find_web_search(tools: Sequence[dict[str, Any]] | None) -> tuple[int, dict[str, Any]] | None:
    for index, tool in enumerate(tools or []):
        if isinstance(tool, dict) and tool.get("type") == "web_search":
            spec = tool.get("web_search") or {}
            if not isinstance(spec, dict):
                raise InvalidField(f"tools[{index}].web_search", "must be an object")
            return index, spec
    return None


def _optional(spec: dict[str, Any], name: str) -> str | None:
    value = spec.get(name)
    return str(value) if value not in (None, "") else None


def _count(spec: dict[str, Any], index: int, default: int) -> int:
    try:
        count = int(spec.get("count") or default)
    except (TypeError, ValueError) as exc:
        raise InvalidField(f"tools[{index}].web_search.count", "an integer 1–50") from exc
    if not 1 <= count <= MAX_COUNT:
        raise InvalidField(f"tools[{index}].web_search.count", "an integer 1–50")
    return count


async def augment_with_web_search(
    provider: SearchProvider | None,
    request: ChatRequest,
    tools: Sequence[dict[str, Any]] | None,
    default_count: int,
    *,
    searches: WebSearchService,
    principal: Principal,
    endpoint: str = TOOL_ENDPOINT,
) -> ChatRequest:
    """The search is admitted by the limiter as the caller first (1302/1303 before any
    request leaves for the provider), then charged once it ran."""
    found = find_web_search(tools)
    if found is None:
        return request
    index, spec = found
    if not _truthy(spec.get("enable"), default=True):
        return request  # the caller switched it off explicitly
    count = _count(spec, index, default_count)
    question = next((m.content for m in reversed(request.messages) if m.role == "user"), "") or ""
    query = WebSearchQuery(
        str(spec.get("search_query") or question),
        count,
        engine=_optional(spec, "search_engine"),
        domain=_optional(spec, "search_domain_filter"),
        recency=_optional(spec, "search_recency_filter"),
        content_size=_optional(spec, "content_size") or "high",
    )
    results = await searches.search_for_tool(
        principal, provider, query, f"tools[{index}].web_search", endpoint
    )
    messages = request.messages
    if results:
        messages = [ChatMessage("system", sources_prompt(results)), *messages]
    return dataclasses.replace(request, messages=messages, web_search=tuple(r.wire() for r in results))


def sources_prompt(results: list[SearchResult]) -> str:
    lines = [f"[{i}] {r.title}\n{r.content}\n{r.link}" for i, r in enumerate(results, 1)]
    header = (
        "以下是与问题相关的网络搜索结果 (web search results). 回答时请依据这些结果，并用 [编号] 标注引用来源:"
    )
    return header + "\n\n" + "\n\n".join(lines)
