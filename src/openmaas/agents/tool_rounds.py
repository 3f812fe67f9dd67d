"""Chat runs with platform-executed tools (MCP): the model calls a tool, the platform calls the
MCP server, feeds the result back and runs the model again — within a bounded number of rounds
and a time budget. Every round is one ordinary `ChatService.open_run` (admitted, held and billed
as tokens like any chat call); without MCP tools a request is exactly one run, passed through.

Events out: the chat core's `TextDelta` / `ReasoningDelta` / `ToolCallDelta` / `ToolCallsEvent`
(calls the *client* must answer) / one final `Finished` (usage summed over the rounds), plus
`PlatformToolItem`s for each tool listing and call (shown as output items on the Responses
surface). Each call is also written to the request's trace (agents/tool_trace.py) as soon as
it returns, on every surface.

Requests that carry server-kept history (`keep_last`: how many of the last messages are the
newest input) have their oldest turns dropped to fit the model first (agents/history_fit.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

from openmaas.agents.history_fit import fit_history
from openmaas.agents.mcp_client import FieldTool, McpCallDone, McpGateway, McpToolbox
from openmaas.agents.tool_trace import McpTraceStore, TraceKey
from openmaas.auth.principal import Principal
from openmaas.chat.generation import Event as ChatEvent
from openmaas.chat.service import ChatRun, ChatService, collect_result
from openmaas.chat.tools import ToolCall, ToolSpec
from openmaas.chat.types import ChatRequest, ChatResult, ToolCallsEvent
from openmaas.engines.base import ChatMessage, Finished
from openmaas.errors import InvalidField


@dataclass(frozen=True)
class PlatformToolItem:
    """A tool the platform ran for the model (an MCP listing or call), as a Responses item."""

    item: dict[str, Any]


RoundEvent = ChatEvent | PlatformToolItem


class RoundEvents:
    """The runs of one request; the first is already admitted (so its 4xx came pre-stream)."""

    def __init__(
        self,
        chat: ChatService,
        principal: Principal,
        request: ChatRequest,
        endpoint: str,
        first: ChatRun,
        toolbox: McpToolbox | None,
        max_rounds: int,
        deadline: float,
        trace: tuple[McpTraceStore, TraceKey] | None = None,
    ) -> None:
        self._chat, self._principal, self._endpoint = chat, principal, endpoint
        self.request = request
        self.first = first
        self._toolbox = toolbox
        self._max_rounds = max_rounds
        self._deadline = deadline
        self._trace = trace

    @property
    def request_id(self) -> str:
        return self.first.request_id

    def abandon(self) -> None:
        self.first.abandon()

    async def events(self) -> AsyncGenerator[RoundEvent, None]:
        if self._toolbox is None:
            async with aclosing(self.first.events()) as events:
                async for chat_event in events:
                    yield chat_event
            return
        for item in self._toolbox.list_items:
            yield PlatformToolItem(item)
        async for event in self._rounds(self._toolbox):
            yield event

    async def _rounds(self, toolbox: McpToolbox) -> AsyncGenerator[RoundEvent, None]:
        run, request, prompt, completion, reasoning = self.first, self.request, 0, 0, 0
        for round_number in range(1, self._max_rounds + 1):
            calls: list[ToolCall] = []
            finish = Finished("stop", 0, 0)
            async with aclosing(run.events()) as events:
                async for event in events:
                    if isinstance(event, ToolCallsEvent):
                        calls = event.calls
                    elif isinstance(event, Finished):
                        finish = event
                    else:
                        yield event
            prompt, completion = prompt + finish.prompt_tokens, completion + finish.completion_tokens
            reasoning += finish.reasoning_tokens
            platform = [c for c in calls if toolbox.owns(c.name)]
            client = [c for c in calls if not toolbox.owns(c.name)]
            last = round_number == self._max_rounds or time.monotonic() >= self._deadline
            if client or not platform or last:
                if client:
                    yield ToolCallsEvent(client)
                reason = "tool_calls" if client else ("stop" if platform else finish.reason)
                stop_sequence = finish.stop_sequence if reason == finish.reason else None
                yield Finished(reason, prompt, completion, reasoning, stop_sequence)
                return
            results = []
            for call in platform:
                done = await toolbox.call(call, self._deadline)
                results.append((call, done.output))
                await self._record(done)
                yield PlatformToolItem(done.item)
            request = with_tool_results(request, results, final=round_number + 1 == self._max_rounds)
            run = await self._chat.open_run(self._principal, request, self._endpoint)

    async def _record(self, done: McpCallDone) -> None:
        if self._trace is not None:
            store, key = self._trace
            await store.record(key, done.item, done.duration_ms)


def with_tool_results(request: ChatRequest, results: list[tuple[ToolCall, str]], final: bool) -> ChatRequest:
    """The next round's request: the calls and their results appended; the last round may not
    call tools any more (the model answers with what it has)."""
    calls = [call.wire() for call, _ in results]
    answers = [ChatMessage("tool", output, tool_call_id=call.id) for call, output in results]
    tools = replace(request.tools, choice="none") if final and request.tools else request.tools
    return replace(
        request,
        request_id=None,
        tools=tools,
        messages=[*request.messages, ChatMessage("assistant", None, calls), *answers],
    )


class ToolRounds:
    """Opens a request's first run, with the tools of its MCP servers added to its own."""

    def __init__(self, chat: ChatService, gateway: McpGateway, traces: McpTraceStore | None = None) -> None:
        self.chat = chat
        self._gateway = gateway
        self.traces = traces

    def check(self, mcp_tools: Sequence[FieldTool]) -> None:
        self._gateway.check(mcp_tools)

    async def open(
        self,
        principal: Principal,
        request: ChatRequest,
        endpoint: str,
        mcp_tools: Sequence[FieldTool] = (),
        *,
        trace_id: str | None = None,
        keep_last: int | None = None,
    ) -> RoundEvents:
        """`trace_id`: the id the caller gets back, which the MCP calls are recorded under (the
        first run's request id by default); `keep_last`: see the module docstring."""
        toolbox = None
        deadline = time.monotonic() + self._gateway.config.timeout_seconds
        if mcp_tools:
            toolbox = await self._gateway.open(mcp_tools, deadline)
            request = with_platform_tools(request, toolbox)
        if keep_last is not None:
            request = await fit_history(self.chat, principal.account_id, request, keep_last)
        first = await self.chat.open_run(principal, request, endpoint)
        trace = None
        if toolbox is not None and self.traces is not None:
            trace = (self.traces, TraceKey(principal.account_id, trace_id or first.request_id, endpoint))
        return RoundEvents(
            self.chat,
            principal,
            request,
            endpoint,
            first,
            toolbox,
            self._gateway.config.max_rounds,
            deadline,
            trace,
        )


def with_platform_tools(request: ChatRequest, toolbox: McpToolbox) -> ChatRequest:
    own = request.tools.functions if request.tools else ()
    taken = {f.name for f in own}
    clashes = [f.name for f in toolbox.functions if f.name in taken]
    if clashes:
        raise InvalidField("tools", f"MCP tool names clash with function tools: {', '.join(clashes)}")
    choice = request.tools.choice if request.tools else "auto"
    return replace(request, tools=ToolSpec((*own, *toolbox.functions), choice))


class ChatSurfaceRun:
    """A request's rounds as the chat routes see a `ChatRun` (the chat wire has no place for
    the platform's tool items: the MCP calls ran, were billed as tokens and are on the
    request's trace)."""

    def __init__(self, rounds: RoundEvents) -> None:
        self.rounds = rounds
        self.request = rounds.request
        self.request_id = rounds.first.request_id
        self.created = rounds.first.created
        self.model = rounds.first.model

    def abandon(self) -> None:
        self.rounds.abandon()

    async def events(self) -> AsyncGenerator[ChatEvent, None]:
        async with aclosing(self.rounds.events()) as events:
            async for event in events:
                if not isinstance(event, PlatformToolItem):
                    yield event

    async def collect(self) -> ChatResult:
        return await collect_result(
            self.events(),
            request_id=self.request_id,
            model=self.model,
            created=self.created,
            web_search=self.request.web_search,
        )
