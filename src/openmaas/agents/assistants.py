"""Assistants an account defines, and conversations with them kept server-side (the Zhipu
assistant API: `client.assistant.conversation(...)`, `/assistant/list`, `/assistant/conversation/list`).

An assistant is instructions + model + tools: `retrieval` (its knowledge bases, searched on
every turn), `web_search`, `function` and `mcp`. A conversation turn = the assistant's
instructions + the stored history + the new user messages, run through the chat core (via
`ToolRounds`, so MCP tools work); the history is written only once the turn has finished.
A history longer than the model takes loses its oldest turns for the turn (agents/history_fit.py);
the stored conversation keeps them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from openmaas.agents.grounding import ground_in_knowledge
from openmaas.agents.items import new_item_id
from openmaas.agents.tool_rounds import PlatformToolItem, RoundEvents, ToolRounds
from openmaas.auth.principal import Principal
from openmaas.chat.ids import new_request_id
from openmaas.chat.tool_context import WEB_SEARCH, ToolContext
from openmaas.chat.tools import ToolSpec, parse_function_tools
from openmaas.chat.types import ChatRequest, ToolCallsEvent
from openmaas.concurrency import run_in_threadpool
from openmaas.engines.base import ChatMessage, Finished, TextDelta
from openmaas.errors import InvalidField, MissingField, NotFound
from openmaas.knowledge.retrieval import RetrievalService
from openmaas.store.db import Database, changed_rows
from openmaas.store.tables import AgentAssistant, AgentConversation

ENDPOINT = "assistant"
TOOL_TYPES = ("retrieval", "web_search", "function", "mcp")
MAX_HISTORY_MESSAGES = 200  # the newest turns kept in a prompt (the whole history stays stored)


@dataclass(frozen=True)
class AssistantSpec:
    name: str
    model: str
    instructions: str = ""
    description: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    starter_prompts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AssistantView:
    id: str
    name: str
    description: str
    instructions: str
    model: str
    tools: list[dict[str, Any]]
    starter_prompts: list[str]
    created_at: int
    updated_at: int

    def support_wire(self) -> dict[str, Any]:
        """The SDK's `AssistantSupport` shape (/assistant/list)."""
        return {
            "assistant_id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "name": self.name,
            "avatar": "",
            "description": self.description,
            "status": "publish",
            "tools": [t["type"] for t in self.tools],
            "starter_prompts": self.starter_prompts,
        }


@dataclass(frozen=True)
class ConversationView:
    id: str
    assistant_id: str
    create_time: int
    update_time: int
    prompt_tokens: int
    completion_tokens: int

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "assistant_id": self.assistant_id,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        }


@dataclass
class Turn:
    """One conversation turn, checked and admitted; iterate `events()` once."""

    request_id: str
    account_id: str
    conversation_id: str
    assistant: AssistantView
    new_messages: list[dict[str, str]]
    run: RoundEvents
    created: int
    tool_outputs: list[dict[str, Any]] = field(default_factory=list)  # retrieval/web search, shown first
    text: list[str] = field(default_factory=list)
    finish: Finished | None = None


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _assistant_view(row: AgentAssistant) -> AssistantView:
    return AssistantView(
        row.id,
        row.name,
        row.description,
        row.instructions,
        row.model,
        list(row.tools),
        list(row.starter_prompts),
        _ts(row.created_at),
        _ts(row.updated_at),
    )


def _conversation_view(row: AgentConversation) -> ConversationView:
    return ConversationView(
        row.id,
        row.assistant_id,
        _ts(row.created_at),
        _ts(row.updated_at),
        row.prompt_tokens,
        row.completion_tokens,
    )


def check_tools(tools: list[Any], rounds: ToolRounds) -> list[dict[str, Any]]:
    """The tools validated, retrieval tools normalised to `{"knowledge_ids": [...]}`."""
    checked = []
    for index, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in TOOL_TYPES:
            raise InvalidField(f"tools[{index}].type", f"one of {', '.join(TOOL_TYPES)}")
        if kind == "retrieval":
            tool = {"type": "retrieval", "retrieval": {"knowledge_ids": _knowledge_ids(tool, index)}}
        if kind == "mcp":
            rounds.check([(f"tools[{index}]", tool)])
        checked.append(tool)
    parse_function_tools(checked)
    return checked


def _knowledge_ids(tool: dict[str, Any], index: int) -> list[str]:
    retrieval = tool.get("retrieval")
    spec: dict[str, Any] = retrieval if isinstance(retrieval, dict) else {}
    ids = spec.get("knowledge_ids")
    if ids is None and isinstance(spec.get("knowledge_id"), str):
        ids = [spec["knowledge_id"]]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise MissingField(f"tools[{index}].retrieval.knowledge_ids")
    return ids


class AssistantService:
    def __init__(
        self,
        db: Database,
        rounds: ToolRounds,
        retrieval: RetrievalService,
        context: ToolContext,
    ) -> None:
        self._db = db
        self._rounds = rounds
        self._retrieval = retrieval
        self._context = context  # the web_search tool (searched and charged as chat's)

    # --- assistants ----------------------------------------------------------------------------
    async def create(self, principal: Principal, spec: AssistantSpec) -> AssistantView:
        # caller schemas are checked off the event loop (a CPU-heavy check, up to 32 KiB each)
        spec = replace(spec, tools=await run_in_threadpool(check_tools, spec.tools, self._rounds))
        return await run_in_threadpool(self._create, principal.account_id, spec)

    def _create(self, account_id: str, spec: AssistantSpec) -> AssistantView:
        with self._db.session() as session:
            row = AgentAssistant(
                id=new_item_id("asst"),
                account_id=account_id,
                name=spec.name,
                description=spec.description,
                instructions=spec.instructions,
                model=spec.model,
                tools=spec.tools,
                starter_prompts=spec.starter_prompts,
            )
            session.add(row)
            session.flush()
            return _assistant_view(row)

    async def get(self, principal: Principal, assistant_id: str) -> AssistantView:
        return await run_in_threadpool(self._get, principal.account_id, assistant_id)

    def _get(self, account_id: str, assistant_id: str) -> AssistantView:
        with self._db.session(read_only=True) as session:
            row = session.scalar(
                sa.select(AgentAssistant).where(
                    AgentAssistant.id == assistant_id, AgentAssistant.account_id == account_id
                )
            )
            if row is None:
                raise NotFound(f"assistant {assistant_id}")
            return _assistant_view(row)

    async def listed(self, principal: Principal, ids: list[str] | None = None) -> list[AssistantView]:
        return await run_in_threadpool(self._list, principal.account_id, ids)

    def _list(self, account_id: str, ids: list[str] | None) -> list[AssistantView]:
        query = sa.select(AgentAssistant).where(AgentAssistant.account_id == account_id)
        if ids:
            query = query.where(AgentAssistant.id.in_(ids))
        with self._db.session(read_only=True) as session:
            return [_assistant_view(r) for r in session.scalars(query.order_by(AgentAssistant.created_at))]

    async def delete(self, principal: Principal, assistant_id: str) -> None:
        await run_in_threadpool(self._delete, principal.account_id, assistant_id)

    def _delete(self, account_id: str, assistant_id: str) -> None:
        with self._db.session() as session:
            gone = changed_rows(
                session.execute(
                    sa.delete(AgentAssistant).where(
                        AgentAssistant.id == assistant_id, AgentAssistant.account_id == account_id
                    )
                )
            )
            if not gone:
                raise NotFound(f"assistant {assistant_id}")
            session.execute(
                sa.delete(AgentConversation).where(
                    AgentConversation.assistant_id == assistant_id, AgentConversation.account_id == account_id
                )
            )

    # --- conversations -------------------------------------------------------------------------
    async def conversations(
        self, principal: Principal, assistant_id: str, page: int, page_size: int
    ) -> tuple[list[ConversationView], bool]:
        await self.get(principal, assistant_id)
        return await run_in_threadpool(
            self._conversations, principal.account_id, assistant_id, page, page_size
        )

    def _conversations(
        self, account_id: str, assistant_id: str, page: int, page_size: int
    ) -> tuple[list[ConversationView], bool]:
        query = (
            sa.select(AgentConversation)
            .where(AgentConversation.account_id == account_id, AgentConversation.assistant_id == assistant_id)
            .order_by(AgentConversation.updated_at.desc(), AgentConversation.id)
            .offset((page - 1) * page_size)
            .limit(page_size + 1)
        )
        with self._db.session(read_only=True) as session:
            rows = [_conversation_view(r) for r in session.scalars(query)]
        return rows[:page_size], len(rows) > page_size

    async def open_turn(
        self,
        principal: Principal,
        assistant_id: str,
        conversation_id: str | None,
        messages: list[dict[str, str]],
        request_id: str | None,
    ) -> Turn:
        """Every check (assistant, conversation, tools, admission, funds) before any output."""
        assistant = await self.get(principal, assistant_id)
        history = (
            await run_in_threadpool(self._history, principal.account_id, assistant_id, conversation_id)
            if conversation_id
            else []
        )
        request_id = request_id or new_request_id()
        chat = await run_in_threadpool(self._chat_request, assistant, history + messages, request_id)
        chat, outputs = await self._ground(principal, assistant, chat, request_id)
        mcp = tuple((f"assistant.tools[{i}]", t) for i, t in enumerate(assistant.tools) if t["type"] == "mcp")
        run = await self._rounds.open(
            principal, chat, ENDPOINT, mcp, trace_id=request_id, keep_last=len(messages) if history else None
        )
        return Turn(
            request_id,
            principal.account_id,
            conversation_id or new_item_id("conv"),
            assistant,
            messages,
            run,
            int(time.time()),
            outputs,
        )

    def _history(self, account_id: str, assistant_id: str, conversation_id: str) -> list[dict[str, str]]:
        with self._db.session(read_only=True) as session:
            row = session.scalar(
                sa.select(AgentConversation).where(
                    AgentConversation.id == conversation_id,
                    AgentConversation.account_id == account_id,
                    AgentConversation.assistant_id == assistant_id,
                )
            )
            if row is None:
                raise NotFound(f"conversation {conversation_id}")
            return list(row.messages)

    def _chat_request(
        self, assistant: AssistantView, turns: list[dict[str, str]], request_id: str
    ) -> ChatRequest:
        messages = [ChatMessage(m["role"], m["content"]) for m in turns[-MAX_HISTORY_MESSAGES:]]
        if assistant.instructions:
            messages = [ChatMessage("system", assistant.instructions), *messages]
        functions = parse_function_tools(assistant.tools)
        return ChatRequest(
            model=assistant.model,
            messages=messages,
            request_id=request_id,
            tools=ToolSpec(functions) if functions else None,
        )

    async def _ground(
        self, principal: Principal, assistant: AssistantView, chat: ChatRequest, request_id: str
    ) -> tuple[ChatRequest, list[dict[str, Any]]]:
        outputs: list[dict[str, Any]] = []
        ids = [
            k for t in assistant.tools if t["type"] == "retrieval" for k in t["retrieval"]["knowledge_ids"]
        ]
        if ids:
            chat, _, passages = await ground_in_knowledge(
                self._retrieval, principal, chat, ids, request_id, field="messages"
            )
            outputs.append(
                {
                    "type": "retrieval",
                    "retrieval": {
                        "outputs": [{"text": p.text, "document": p.document_name} for p in passages]
                    },
                }
            )
        if any(t["type"] == "web_search" for t in assistant.tools):
            chat = await self._context.augment(principal, chat, WEB_SEARCH, endpoint=f"{ENDPOINT}.web_search")
            outputs.append(
                {
                    "type": "web_browser",
                    "web_browser": {
                        "input": "",
                        "outputs": [
                            {"title": r["title"], "link": r["link"], "content": r["content"]}
                            for r in chat.web_search
                        ],
                    },
                }
            )
            chat = replace(chat, web_search=())
        return chat, outputs

    async def events(self, turn: Turn) -> AsyncIterator[dict[str, Any]]:
        """Deltas in the SDK's shape ({"type": "content"|"tool_calls", ...}); the turn is stored
        once it has finished, so a failed turn leaves the conversation as it was."""
        for output in turn.tool_outputs:
            yield {"type": "tool_calls", "role": "tool", "tool_calls": [output]}
        async with aclosing(turn.run.events()) as run_events:
            async for event in run_events:
                if isinstance(event, Finished):
                    turn.finish = event
                    continue
                if isinstance(event, TextDelta):
                    turn.text.append(event.text)
                delta = sdk_delta(event)
                if delta is not None:
                    yield delta
        await run_in_threadpool(self._store_turn, turn)

    def _store_turn(self, turn: Turn) -> None:
        reply = {"role": "assistant", "content": "".join(turn.text)}
        finish = turn.finish or Finished("stop", 0, 0)
        with self._db.session() as session:
            row = session.scalar(
                sa.select(AgentConversation).where(
                    AgentConversation.id == turn.conversation_id,
                    AgentConversation.account_id == turn.account_id,
                )
            )
            if row is None:
                row = AgentConversation(
                    id=turn.conversation_id,
                    account_id=turn.account_id,
                    assistant_id=turn.assistant.id,
                    messages=[],
                    prompt_tokens=0,
                    completion_tokens=0,
                )
                session.add(row)
            row.messages = [*row.messages, *turn.new_messages, reply]
            row.prompt_tokens += finish.prompt_tokens
            row.completion_tokens += finish.completion_tokens


def sdk_delta(event: object) -> dict[str, Any] | None:
    """A run event as the SDK's `MessageContent` (content, or tool_calls with their outputs)."""
    if isinstance(event, TextDelta):
        return {"type": "content", "role": "assistant", "content": event.text}
    calls: list[dict[str, Any]]
    if isinstance(event, ToolCallsEvent):  # function tools of the assistant: the caller's to run
        calls = [{"name": c.name, "arguments": c.arguments, "outputs": []} for c in event.calls]
    elif isinstance(event, PlatformToolItem) and event.item["type"] == "mcp_call":
        item = event.item
        calls = [
            {
                "name": item["name"],
                "arguments": item["arguments"],
                "outputs": [{"content": item["output"] or item["error"] or ""}],
            }
        ]
    else:
        return None  # an MCP listing, the model's reasoning: not on this wire
    return {
        "type": "tool_calls",
        "role": "tool",
        "tool_calls": [{"type": "function", "function": call} for call in calls],
    }
