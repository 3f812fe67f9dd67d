"""Builds the agent services for `create_app` (app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from openmaas.agents.assistants import AssistantService
from openmaas.agents.mcp_client import McpGateway
from openmaas.agents.response_store import ResponseStore
from openmaas.agents.responses import ResponsesService
from openmaas.agents.tool_rounds import ToolRounds
from openmaas.agents.tool_trace import McpTraceStore
from openmaas.chat.service import ChatService
from openmaas.chat.tool_context import ToolContext
from openmaas.config import Settings
from openmaas.knowledge.retrieval import RetrievalService
from openmaas.store.db import Database


@dataclass
class AgentServices:
    rounds: ToolRounds
    responses: ResponsesService
    assistants: AssistantService

    async def close(self) -> None:
        await self.responses.store.close()  # commits the responses still queued


def build_agent_services(
    settings: Settings, db: Database, chat: ChatService, retrieval: RetrievalService, context: ToolContext
) -> AgentServices:
    """`context` is the chat's own web search (chat/tool_context.py), for the built-in tools."""
    mcp = settings.agents.mcp
    rounds = ToolRounds(chat, McpGateway(mcp), McpTraceStore(db, mcp.trace_retention_days))
    return AgentServices(
        rounds=rounds,
        responses=ResponsesService(rounds, ResponseStore(db), retrieval, context),
        assistants=AssistantService(db, rounds, retrieval, context),
    )
