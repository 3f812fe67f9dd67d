"""The OpenAI Responses API on the chat core.

A `previous_response_id` chain's history is fitted to the model oldest turns first
(`truncation: "auto"`, the default here; agents/history_fit.py); the request's own input is
always kept. `truncation: "disabled"` keeps it all, and a chain too long answers 1261.

`prepare` does every check that can fail before a byte is sent (items, tools, the
`previous_response_id` chain of this account, built-in tool lookups); the chat core's
`open_run` then admits and holds funds as for any chat call; `events` turns the run into
output items and stream events, and stores the finished response (when `store` is on).
Nothing is stored for a request that fails validation or a run that fails.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from openmaas.agents.core_events import ReasoningDelta
from openmaas.agents.grounding import ground_in_knowledge, last_user_text
from openmaas.agents.items import (
    ResponsesTools,
    check_call_outputs,
    items_to_messages,
    new_item_id,
)
from openmaas.agents.response_output import Event, OutputBuilder, usage_body
from openmaas.agents.response_store import ResponseStore
from openmaas.agents.thinking import keep_recent_reasoning
from openmaas.agents.tool_rounds import PlatformToolItem, RoundEvents, ToolRounds
from openmaas.auth.principal import Principal
from openmaas.chat.structured import OutputFormat
from openmaas.chat.tool_context import WEB_SEARCH, ToolContext
from openmaas.chat.types import ChatRequest, SamplingOptions, ToolCallsEvent
from openmaas.engines.base import ChatMessage, Finished, TextDelta, Thinking
from openmaas.errors import InternalFailure, PlatformError
from openmaas.knowledge.retrieval import RetrievalService

ENDPOINT = "responses"


@dataclass(frozen=True)
class ResponseRequest:
    """A Responses call as the wire body gave it, already validated and normalised."""

    model: str
    input_items: list[dict[str, Any]]
    tools: ResponsesTools
    output: OutputFormat
    sampling: SamplingOptions
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool = True
    user: str | None = None
    thinking: Thinking = field(default_factory=Thinking)
    clear_thinking: bool = True  # earlier turns' reasoning items are not replayed
    truncate: bool = True  # `truncation: "auto"`: a chain's oldest turns give way (else 1261)
    echo: dict[str, Any] = field(default_factory=dict)  # fields returned as sent (tools, text, …)


@dataclass
class PreparedResponse:
    id: str
    created_at: int
    request: ResponseRequest
    chat: ChatRequest
    builtin_items: list[dict[str, Any]]
    keep_last: int | None = None  # with a chain: the messages of this request's own input

    def body(
        self,
        output: list[dict[str, Any]],
        status: str,
        usage: dict[str, Any] | None,
        incomplete: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        request = self.request
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": request.instructions,
            "max_output_tokens": request.sampling.max_tokens,
            "model": request.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": request.previous_response_id,
            "store": request.store,
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "usage": usage,
            "truncation": "auto" if request.truncate else "disabled",
            "user": request.user,
            **request.echo,
        }


class ResponsesService:
    def __init__(
        self,
        rounds: ToolRounds,
        store: ResponseStore,
        retrieval: RetrievalService,
        context: ToolContext,
    ) -> None:
        self._rounds = rounds
        self.store = store
        self._retrieval = retrieval
        self._context = context  # the built-in web_search (searched and charged as chat's)

    async def prepare(self, principal: Principal, request: ResponseRequest) -> PreparedResponse:
        history: list[dict[str, Any]] = []
        if request.previous_response_id:
            history = await self.store.history(principal.account_id, request.previous_response_id)
        check_call_outputs(history, request.input_items)
        self._rounds.check(request.tools.mcp)
        messages = keep_recent_reasoning(
            items_to_messages(history + request.input_items), request.clear_thinking
        )
        if request.instructions:
            messages = [ChatMessage("system", request.instructions), *messages]
        response_id = new_item_id("resp")
        chat = ChatRequest(
            model=request.model,
            messages=messages,
            sampling=request.sampling,
            tools=request.tools.functions,
            output=request.output,
            user_id=request.user,
            thinking=request.thinking,
        )
        keep_last = len(items_to_messages(request.input_items)) if history and request.truncate else None
        prepared = PreparedResponse(response_id, int(time.time()), request, chat, [], keep_last)
        await self._run_builtin_tools(principal, prepared)
        return prepared

    async def open(self, principal: Principal, prepared: PreparedResponse) -> RoundEvents:
        """Admission, funds and (for MCP tools) the tool listing: every failure before streaming."""
        return await self._rounds.open(
            principal,
            prepared.chat,
            ENDPOINT,
            prepared.request.tools.mcp,
            trace_id=prepared.id,
            keep_last=prepared.keep_last,
        )

    async def events(
        self, principal: Principal, prepared: PreparedResponse, run: RoundEvents
    ) -> AsyncIterator[list[Event]]:
        """Stream events in order; a failure after the first byte ends in `response.failed`."""
        builder = OutputBuilder()
        try:
            async for events in self._events(principal, prepared, run, builder):
                yield events
        except PlatformError as exc:
            yield [*builder.finish(), _failed(prepared, builder, exc)]
        except Exception:
            yield [*builder.finish(), _failed(prepared, builder, InternalFailure())]

    async def complete(
        self, principal: Principal, prepared: PreparedResponse, run: RoundEvents
    ) -> dict[str, Any]:
        """The finished response object (a failure is raised, for the error envelope)."""
        last: list[Event] = []
        async for events in self._events(principal, prepared, run, OutputBuilder()):
            last = events
        return last[-1][1]["response"]

    async def _events(
        self, principal: Principal, prepared: PreparedResponse, run: RoundEvents, builder: OutputBuilder
    ) -> AsyncIterator[list[Event]]:
        """The last list ends with response.completed / response.incomplete (the stored object)."""
        yield [
            ("response.created", {"response": prepared.body([], "in_progress", None)}),
            ("response.in_progress", {"response": prepared.body([], "in_progress", None)}),
        ]
        for item in prepared.builtin_items:
            yield builder.add_item(item)
        finish = Finished("stop", 0, 0)
        async with aclosing(run.events()) as run_events:
            async for event in run_events:
                if isinstance(event, TextDelta):
                    yield builder.text(event.text)
                elif isinstance(event, ToolCallsEvent):
                    yield builder.tool_calls(event.calls)
                elif isinstance(event, ReasoningDelta):
                    yield builder.reasoning(event.text, event.tokens)
                elif isinstance(event, Finished):
                    finish = event
                elif isinstance(event, PlatformToolItem):  # an MCP listing or call the platform ran
                    yield builder.add_item(event.item)
        events = builder.finish()
        incomplete = "max_output_tokens" if finish.reason == "length" else None
        body = prepared.body(
            builder.items,
            "incomplete" if incomplete else "completed",
            usage_body(finish.prompt_tokens, finish.completion_tokens, builder.reasoning_tokens),
            incomplete,
        )
        if prepared.request.store:
            await self.store.save(principal.account_id, prepared.request.input_items, body)
        yield [*events, ("response.incomplete" if incomplete else "response.completed", {"response": body})]

    # --- built-in tools: run before generation, shown as output items ----------------------
    async def _run_builtin_tools(self, principal: Principal, prepared: PreparedResponse) -> None:
        tools = prepared.request.tools
        if tools.file_search is not None:
            await self._file_search(principal, prepared, tools.file_search)
        if tools.web_search is not None:
            await self._web_search(principal, prepared)

    async def _file_search(
        self, principal: Principal, prepared: PreparedResponse, tool: dict[str, Any]
    ) -> None:
        prepared.chat, question, passages = await ground_in_knowledge(
            self._retrieval,
            principal,
            prepared.chat,
            list(tool["vector_store_ids"]),
            prepared.id,
            tool.get("max_num_results"),
        )
        prepared.builtin_items.append(
            {
                "type": "file_search_call",
                "id": new_item_id("fs"),
                "status": "completed",
                "queries": [question],
                "results": [
                    {
                        "file_id": p.document_id,
                        "filename": p.document_name,
                        "score": p.score,
                        "text": p.text,
                        "attributes": {"knowledge_id": p.knowledge_id},
                    }
                    for p in passages
                ],
            }
        )

    async def _web_search(self, principal: Principal, prepared: PreparedResponse) -> None:
        question = last_user_text(prepared.chat.messages, "input")
        chat = await self._context.augment(
            principal, prepared.chat, WEB_SEARCH, endpoint=f"{ENDPOINT}.web_search"
        )
        prepared.chat = replace(chat, web_search=())  # the results are in the item, not the chat body
        prepared.builtin_items.append(
            {
                "type": "web_search_call",
                "id": new_item_id("ws"),
                "status": "completed",
                "action": {
                    "type": "search",
                    "query": question,
                    "sources": [{"type": "url", "url": r["link"]} for r in chat.web_search],
                },
            }
        )


def _failed(prepared: PreparedResponse, builder: OutputBuilder, exc: PlatformError) -> Event:
    error = {"code": exc.code, "message": exc.message}
    return ("response.failed", {"response": prepared.body(builder.items, "failed", None, error=error)})
