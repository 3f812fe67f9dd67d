"""How a request is generated: plain text, structured output, or tool calls.

Tool calls in `auto` mode: the model generates unconstrained (text answers stream at
full speed). If its output starts like a tool call, it is buffered and parsed leniently
(tags, fenced or bare JSON); if that does not yield valid calls, the call is generated
again under a grammar built from the tools' schemas, which guarantees valid calls.
`required` or a named function uses the grammar from the start; `none` forbids the tool
token. After a tool result, a call identical to one already answered is not repeated:
the model is made to answer in text instead.

A thinking model's reasoning (`ReasoningDelta`) passes straight through, ahead of the answer
that is buffered or constrained; a second generation (the grammar retry) does not show its
reasoning again. With `tool_stream`, once the output starts like a tool call the call is
generated under the grammar right away and its arguments stream as `ToolCallDelta`s
(chat/tool_stream.py); a call repeating an answered one is then not replaced by prose,
since what was streamed cannot be taken back.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace

from openmaas.chat.schema_guard import VALIDATION_BUDGET_S, off_loop
from openmaas.chat.tool_stream import ToolCallStreamer
from openmaas.chat.tools import (
    ANSWER_NUDGE,
    PROSE_GRAMMAR,
    TOOL_CALL_TOKEN,
    ToolCall,
    ToolSpec,
    parse_tool_calls,
    same_call,
    tool_call_grammar,
    tool_call_verdict,
)
from openmaas.chat.types import ChatRequest, ToolCallDelta, ToolCallsEvent
from openmaas.engines.base import (
    ChatEngine,
    ChatMessage,
    Finished,
    PreparedPrompt,
    ReasoningDelta,
    SamplingParams,
    TextDelta,
    generation_stream,
)

Event = TextDelta | ReasoningDelta | ToolCallDelta | ToolCallsEvent | Finished
NO_TOOL_CALLS = (TOOL_CALL_TOKEN,)
GRAMMAR_BUDGET_S = 5.0  # building a grammar from a new schema; then a looser one is used


class Generation:
    def __init__(
        self,
        engine: ChatEngine,
        prompt: PreparedPrompt,
        params: SamplingParams,
        owner: str,
        request: ChatRequest,
    ) -> None:
        self.engine, self.prompt, self.params, self.owner = engine, prompt, params, owner
        self.request = request
        self.reasoning_shown = False  # a retry's reasoning is not shown twice
        self.discarded_tokens = 0  # completion tokens of generations whose answer was replaced (billed)

    def events(self) -> AsyncGenerator[Event, None]:
        tools = self.request.tools
        if tools and tools.functions and tools.choice != "none":
            if tools.choice == "auto":
                return self._auto(tools)
            return self._forced(tools)
        params = self.params
        if tools and tools.choice == "none":
            params = replace(params, banned_texts=NO_TOOL_CALLS)
        if self.request.output.kind != "text":
            return self._structured(params)
        return generation_stream(self.engine, self.prompt, params, self.owner)

    async def _structured(self, params: SamplingParams) -> AsyncGenerator[Event, None]:
        output = self.request.output
        grammar = await off_loop(
            output.grammar, budget_s=GRAMMAR_BUDGET_S, on_timeout=lambda: output.grammar(loose=True)
        )
        async with aclosing(
            generation_stream(self.engine, self.prompt, replace(params, grammar=grammar), self.owner)
        ) as stream:
            async for event in stream:
                yield event

    async def _parse(self, text: str, tools: ToolSpec) -> list[ToolCall]:
        """Parse and validate calls in a thread: a caller's schema may be slow to check."""
        return await off_loop(
            parse_tool_calls, text, tools.functions, budget_s=VALIDATION_BUDGET_S, on_timeout=list
        )

    async def _auto(self, tools: ToolSpec) -> AsyncGenerator[Event, None]:
        buffer, tokens, streaming = "", 0, False
        # an upstream's own tool calls stream as they come; a local model's are regenerated
        # under the grammar as soon as they start (so what streams is always valid)
        native = self.request.tool_stream and getattr(self.engine, "native_tool_calls", False)
        streamer = ToolCallStreamer() if native else None
        async with aclosing(generation_stream(self.engine, self.prompt, self.params, self.owner)) as stream:
            async for event in stream:
                if isinstance(event, Finished):
                    break
                if streaming or isinstance(event, ReasoningDelta):
                    self.reasoning_shown |= isinstance(event, ReasoningDelta)
                    yield event
                    continue
                buffer, tokens = buffer + event.text, tokens + event.tokens
                verdict = tool_call_verdict(buffer)
                if verdict is False:
                    streaming = True
                    yield TextDelta(buffer, tokens)
                elif streamer is not None:
                    for delta in streamer.feed(event.text):
                        yield delta
                elif verdict and self.request.tool_stream:
                    break  # generate the call under the grammar now, streaming its arguments
            else:
                return
        if streaming:
            yield event
            return
        if not isinstance(event, Finished):
            async for outcome in self._forced(tools):
                yield outcome
            return
        async for outcome in self._settle_buffer(tools, buffer, tokens, event, streamer):
            yield outcome

    async def _settle_buffer(
        self,
        tools: ToolSpec,
        text: str,
        tokens: int,
        finish: Finished,
        streamer: ToolCallStreamer | None = None,
    ) -> AsyncGenerator[Event, None]:
        """A buffered answer that looked like a tool call (or was very short)."""
        calls = await self._parse(text, tools)
        if calls and streamer is not None and streamer.calls:
            calls, streamed = streamer.reconcile(calls)
            yield ToolCallsEvent(calls, streamed)
            yield Finished(
                "tool_calls",
                finish.prompt_tokens,
                finish.completion_tokens,
                finish.reasoning_tokens,
                cached_tokens=finish.cached_tokens,
            )
            return
        if calls and not self._repeats(calls, tools):
            yield ToolCallsEvent(calls)
            yield Finished(
                "tool_calls",
                finish.prompt_tokens,
                finish.completion_tokens,
                finish.reasoning_tokens,
                cached_tokens=finish.cached_tokens,
            )
            return
        if tool_call_verdict(text) and not calls:
            self.discarded_tokens += finish.completion_tokens
            async for event in self._forced(tools):
                yield event
            return
        if calls:  # only repeats of calls already answered: answer in text instead
            self.discarded_tokens += finish.completion_tokens
            async for event in self._text_only(tools):
                yield event
            return
        if text:
            yield TextDelta(text, tokens)
        yield finish

    async def _forced(self, tools: ToolSpec) -> AsyncGenerator[Event, None]:
        grammar = await off_loop(
            tool_call_grammar,
            tools.functions,
            tools.forced_name,
            budget_s=GRAMMAR_BUDGET_S,
            on_timeout=lambda: tool_call_grammar(tools.functions, tools.forced_name, loose=True),
        )
        text, tokens = "", 0
        finish: Finished | None = None
        streamer = ToolCallStreamer() if self.request.tool_stream else None
        params = replace(self.params, grammar=grammar)
        constrained = generation_stream(self.engine, self.prompt, params, self.owner)
        async with aclosing(constrained) as stream:
            async for event in stream:
                if isinstance(event, Finished):
                    finish = event
                elif isinstance(event, ReasoningDelta):
                    if not self.reasoning_shown:
                        yield event
                else:
                    text, tokens = text + event.text, tokens + event.tokens
                    for delta in streamer.feed(event.text) if streamer else ():
                        yield delta
        if finish is None:  # every engine's stream ends with one Finished (engines/base.py)
            raise RuntimeError("the engine's stream ended without a Finished")
        calls = await self._parse(text, tools)
        if calls and (streamer or not (tools.choice == "auto" and self._repeats(calls, tools))):
            streamed = 0
            if streamer is not None:
                calls, streamed = streamer.reconcile(calls)
            yield ToolCallsEvent(calls, streamed)
            yield Finished(
                "tool_calls",
                finish.prompt_tokens,
                finish.completion_tokens,
                finish.reasoning_tokens,
                cached_tokens=finish.cached_tokens,
            )
            return
        if calls:
            self.discarded_tokens += finish.completion_tokens
            async for outcome in self._text_only(tools):
                yield outcome
            return
        yield TextDelta(text, tokens)  # cut short by max_tokens: report what there is
        yield finish

    async def _text_only(self, tools: ToolSpec) -> AsyncGenerator[Event, None]:
        """The model wants to repeat answered calls: make it answer in prose instead. The
        nudge is ours, so usage keeps reporting the caller's prompt tokens."""
        messages = [*self.request.messages, ChatMessage("system", ANSWER_NUDGE)]
        template_tools = [f.template_form() for f in tools.functions]
        prompt = await self.engine.prepare(messages, template_tools, thinking=self.request.thinking)
        params = replace(self.params, banned_texts=NO_TOOL_CALLS, grammar=PROSE_GRAMMAR)
        async with aclosing(generation_stream(self.engine, prompt, params, self.owner)) as stream:
            async for event in stream:
                if isinstance(event, Finished):
                    event = replace(event, prompt_tokens=self.prompt.token_count)
                elif isinstance(event, ReasoningDelta) and self.reasoning_shown:
                    continue
                yield event

    def _repeats(self, calls: list[ToolCall], tools: ToolSpec) -> bool:
        """True when every call was already made (and answered) earlier in the conversation."""
        earlier = [
            c
            for m in self.request.messages
            if m.role == "assistant"
            for c in (m.tool_calls or [])
            if isinstance(c, dict)
        ]
        functions = {f.name: f for f in tools.functions}
        return bool(earlier) and all(any(same_call(e, c, functions[c.name]) for e in earlier) for c in calls)
