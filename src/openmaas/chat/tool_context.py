"""The tools that put context into a chat's prompt before it is opened: a knowledge base's top
chunks (`retrieval`, knowledge/retrieval_tool.py, trace kept) and web search results
(`web_search`, chat/web_search.py, also handed back in `ChatRequest.web_search`).

One service, built once in `app.build_services`, for every surface that offers them: the chat
routes and the console's chat, async and batch chat lines, Responses and assistants. Both tools
are admitted by the limiter as the caller first and billed (retrieval's query tokens, each
search performed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.chat.types import ChatRequest
from openmaas.chat.web_search import TOOL_ENDPOINT, augment_with_web_search
from openmaas.knowledge.retrieval import RetrievalService
from openmaas.knowledge.retrieval_tool import augment_chat_request
from openmaas.search.providers import SearchProvider
from openmaas.tools_api.web_search import WebSearchService

WEB_SEARCH = ({"type": "web_search"},)  # a search with the defaults (Responses', assistants' built-in)


class ToolContext:
    def __init__(
        self,
        retrieval: RetrievalService,
        search: Callable[[], SearchProvider | None],
        searches: WebSearchService,
        default_count: int,
    ) -> None:
        """`search` gives the configured provider when a request needs it (the container's
        `search`, which operators and tests may swap); `searches` charges each search as
        POST /web_search does."""
        self._retrieval, self._search, self._searches = retrieval, search, searches
        self._default_count = default_count

    async def augment(
        self,
        principal: Principal,
        request: ChatRequest,
        tools: Sequence[dict[str, Any]] | None,
        *,
        endpoint: str = TOOL_ENDPOINT,
    ) -> ChatRequest:
        """`request` with the context its `tools` ask for: a retrieval tool rewrites the last
        user turn (and fixes the request id, so the trace is found under the answer's id);
        a web_search tool puts the results first. `endpoint` names a search's usage row."""
        request = await augment_chat_request(self._retrieval, principal, request, tools)
        return await augment_with_web_search(
            self._search(),
            request,
            tools,
            self._default_count,
            searches=self._searches,
            principal=principal,
            endpoint=endpoint,
        )
