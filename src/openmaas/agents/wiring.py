"""Builds the agent services for `create_app` (app.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openmaas.agents.assistants import AssistantService
from openmaas.agents.mcp_client import McpGateway
from openmaas.agents.response_store import ResponseStore
from openmaas.agents.responses import ResponsesService
from openmaas.agents.tool_rounds import ToolRounds
from openmaas.agents.tool_trace import McpTraceStore
from openmaas.chat.service import ChatService
from openmaas.config import Settings
from openmaas.knowledge.retrieval import RetrievalService
from openmaas.search.providers import SearchProvider
from openmaas.store.db import Database
from openmaas.tools_api.web_search import WebSearchService


@dataclass
class AgentServices:
    rounds: ToolRounds
    responses: ResponsesService
    assistants: AssistantService

    async def close(self) -> None:
        await self.responses.store.close()  # commits the responses still queued


def build_agent_services(
    settings: Settings,
    db: Database,
    chat: ChatService,
    retrieval: RetrievalService,
    search: Callable[[], SearchProvider | None],
    searches: WebSearchService,
) -> AgentServices:
    """`search` gives the configured web search provider when a request needs it (the
    container's `search`, which operators and tests may swap); `searches` charges each search
    as POST /web_search does."""
    mcp = settings.agents.mcp
    rounds = ToolRounds(chat, McpGateway(mcp), McpTraceStore(db, mcp.trace_retention_days))
    count = settings.web_search.default_count
    return AgentServices(
        rounds=rounds,
        responses=ResponsesService(rounds, ResponseStore(db), retrieval, search, count, searches),
        assistants=AssistantService(db, rounds, retrieval, search, count, searches),
    )
