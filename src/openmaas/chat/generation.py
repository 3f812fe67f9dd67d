"""How a request is generated: plain text, structured output, or tool calls.

Tool calls in `auto` mode: the model generates unconstrained (text answers stream at
full speed). If its output starts like a tool call, it is buffered and parsed leniently
(tags, fenced or bare JSON); if that does not yield valid calls, the call is generated
again under a grammar built from the tools' schemas, which guarantees valid calls.
`required` or a named function uses the grammar from the start; `none` forbids the tool
token. After a tool result, a call identical to one already answered is not repeated:
the model is made to answer in text instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

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
from openmaas.chat.types import ChatRequest, ToolCallsEvent
from openmaas.engines.base import (
    ChatEngine,
    ChatMessage,
    Finished,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
)

Event = TextDelta | ToolCallsEvent | Finished
NO_TOOL_CALLS = (TOOL_CALL_TOKEN,)


class Generation:
    def __init__(self, engine: ChatEngine, prompt: PreparedPrompt, params: SamplingParams,
                 owner: str, request: ChatRequest) -> None:
        self.engine, self.prompt, self.params, self.owner = engine, prompt, params, owner
        self.request = request

    def events(self) -> AsyncIterator[Event]:
        tools = self.request.tools
        if tools and tools.functions and tools.choice != "none":
            if tools.choice == "auto":
                return self._auto(tools)
            return self._forced(tools)
        params = self.params
        if tools and tools.choice == "none":
            params = replace(params, banned_texts=NO_TOOL_CALLS)
        if self.request.output.kind != "text":
            params = replace(params, grammar=self.request.output.grammar())
        return self.engine.generate(self.prompt, params, self.owner)

    async def _auto(self, tools: ToolSpec) -> AsyncIterator[Event]:
        buffer, tokens, streaming = "", 0, False
        async with aclosing(self.engine.generate(self.prompt, self.params, self.owner)) as stream:
            async for event in stream:
                if isinstance(event, Finished):
                    break
                if streaming:
                    yield event
                    continue
                buffer, tokens = buffer + event.text, tokens + event.tokens
                if tool_call_verdict(buffer) is False:
                    streaming = True
                    yield TextDelta(buffer, tokens)
            else:
                return
        if streaming:
            yield event
            return
        async for outcome in self._settle_buffer(tools, buffer, tokens, event):
            yield outcome

    async def _settle_buffer(self, tools: ToolSpec, text: str, tokens: int,
                             finish: Finished) -> AsyncIterator[Event]:
        """A buffered answer that looked like a tool call (or was very short)."""
        calls = parse_tool_calls(text, tools.functions)
        if calls and not self._repeats(calls):
            yield ToolCallsEvent(calls)
            yield Finished("tool_calls", finish.prompt_tokens, finish.completion_tokens)
            return
        if tool_call_verdict(text) and not calls:
            async for event in self._forced(tools):
                yield event
            return
        if calls:  # only repeats of calls already answered: answer in text instead
            async for event in self._text_only():
                yield event
            return
        if text:
            yield TextDelta(text, tokens)
        yield finish

    async def _forced(self, tools: ToolSpec) -> AsyncIterator[Event]:
        grammar = tool_call_grammar(tools.functions, tools.forced_name)
        text, tokens, finish = "", 0, None
        constrained = self.engine.generate(self.prompt, replace(self.params, grammar=grammar), self.owner)
        async with aclosing(constrained) as stream:
            async for event in stream:
                if isinstance(event, Finished):
                    finish = event
                else:
                    text, tokens = text + event.text, tokens + event.tokens
        calls = parse_tool_calls(text, tools.functions)
        if calls and not (tools.choice == "auto" and self._repeats(calls)):
            yield ToolCallsEvent(calls)
            yield Finished("tool_calls", finish.prompt_tokens, finish.completion_tokens)
            return
        if calls:
            async for event in self._text_only():
                yield event
            return
        yield TextDelta(text, tokens)  # cut short by max_tokens: report what there is
        yield finish

    async def _text_only(self) -> AsyncIterator[Event]:
        """The model wants to repeat answered calls: make it answer in prose instead. The
        nudge is ours, so usage keeps reporting the caller's prompt tokens."""
        messages = [*self.request.messages, ChatMessage("system", ANSWER_NUDGE)]
        tools = [f.template_form() for f in self.request.tools.functions]
        prompt = await self.engine.prepare(messages, tools)
        params = replace(self.params, banned_texts=NO_TOOL_CALLS, grammar=PROSE_GRAMMAR)
        async with aclosing(self.engine.generate(prompt, params, self.owner)) as stream:
            async for event in stream:
                if isinstance(event, Finished):
                    event = Finished(event.reason, self.prompt.token_count, event.completion_tokens)
                yield event

    def _repeats(self, calls: list[ToolCall]) -> bool:
        """True when every call was already made (and answered) earlier in the conversation."""
        earlier = [c for m in self.request.messages if m.role == "assistant"
                   for c in (m.tool_calls or []) if isinstance(c, dict)]
        functions = {f.name: f for f in self.request.tools.functions}
        return bool(earlier) and all(any(same_call(e, c, functions[c.name]) for e in earlier)
                                     for c in calls)
