"""A chat engine served by OpenAI-compatible servers (vLLM, another OpenMaaS, llama.cpp's
server): several replicas, least-outstanding balancing, breakers, health checks, retries.

`prepare` renders nothing locally: the prompt carries the OpenAI messages and tools. Its
token count is an estimate (`tokenize: estimate`, the default: CJK characters count one
token each, other text one per 3 characters, plus 4 per message — cheap and on the high
side, which is the safe side for holds and the context check), or the upstream's own count
(`tokenize: upstream`: vLLM's `POST /tokenize`, falling back to the estimate where a replica
has none). Either way the estimate only sizes the hold and the context check: the `Finished`
event carries the usage the upstream reports (`stream_options.include_usage`), and billing
settles on it; when an upstream sends no usage, completion tokens are the content deltas
counted and prompt tokens the estimate.

`generate` streams `POST {replica}/v1/chat/completions`. A replica that fails before any
event has reached our caller (refused connection, timeout, 5xx/429, a stream that breaks
early) is skipped and the next least-busy replica is tried; after the first delta a broken
stream ends with `Finished("network_error")`, as the Zhipu platform reports interrupted
streams, charged for what was delivered.

Tools: chat/generation.py drives tool calls with text and grammars (for local models). This
engine maps that onto the upstream's native tools: the prepared prompt carries the tools;
no grammar means `tool_choice: auto`, the tool-call grammar (`root ::= block`) means
`required` (or the one function it names), any other grammar with tools means `none`. The
upstream's `tool_calls` come back as `<tool_call>` text, written as their deltas arrive
(so `tool_stream` streams an upstream's arguments as it generates them), which generation.py
parses and validates as it does for local models. Other grammars (structured output) are
sent in the field named by `grammar_field` (vLLM `guided_grammar`, llama.cpp `grammar`), or
dropped.

Thinking: reasoning an upstream sends in its own field (`reasoning_content`, or vLLM's newer
`reasoning`) becomes `ReasoningDelta`s; with `thinking.format = "tags"` the content is split
at `<think>` tags here instead. The request's switch goes out as the catalog entry says
(`chat_template_kwargs.enable_thinking`, the Zhipu `thinking` object, or `/no_think`), with
`reasoning_effort` when the caller gave one; kept reasoning in history goes back as each
assistant message's `reasoning_content`, and image parts as the message's content list.

Stop strings go to the upstream as `stop`. Which one ended the answer (`Finished.stop_sequence`,
Anthropic's `stop_sequence`) is taken from the choice's `stop_reason` (vLLM) or `matched_stop`
(SGLang); a stop string that still shows up in the content (an upstream that ignores `stop`
or echoes it) is cut there by the local matcher, which ends the stream. An upstream that says
only `finish_reason: "stop"` leaves it unknown: an end-of-turn token and a stop string look
the same on that wire, so none is claimed.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from openmaas.cjk import CJK
from openmaas.concurrency import run_in_threadpool
from openmaas.config import ThinkingConfig
from openmaas.engines.base import (
    ChatMessage,
    Finished,
    GenerationEvent,
    PreparedPrompt,
    ReasoningDelta,
    SamplingParams,
    TextDelta,
    Thinking,
    ThinkTags,
)
from openmaas.engines.http1 import Http1Error, Http1Pool
from openmaas.engines.reasoning import (
    ReasoningOutput,
    thinking_wanted,
    with_no_think_switch,
    without_reasoning,
)
from openmaas.engines.upstream_http import (
    Failover,
    ReplicaFailed,
    UpstreamTarget,
    check_status,
    sse_payloads,
    transport_failure,
)
from openmaas.engines.upstream_pool import HealthChecker, Replica, ReplicaPool
from openmaas.errors import ModelUnsupported

TOOL_GRAMMAR_HEAD = "root ::= block"  # chat/tools.py tool_call_grammar()
CHAT_PATH = "/v1/chat/completions"
OFF_LOOP_PROMPT_CHARS = 65_536  # larger conversations are serialised in a worker thread


def estimate_tokens(text: str) -> int:
    cjk = len(CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 3)


@dataclass(frozen=True, slots=True)
class UpstreamPrompt(PreparedPrompt):
    """The OpenAI request parts; `text` is their JSON, for logs."""

    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    tools: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    switch: dict[str, Any] = field(default_factory=dict, repr=False)  # thinking fields to send


def _message_estimate(message: ChatMessage) -> int:
    calls = json.dumps(message.tool_calls, ensure_ascii=False) if message.tool_calls else ""
    return estimate_tokens(message.content or "") + estimate_tokens(calls) + 4


def wire_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": message.role,
        "content": list(message.parts) if message.parts else message.content,
    }
    if message.reasoning_content:
        out["reasoning_content"] = message.reasoning_content
    if message.tool_calls:
        out["tool_calls"] = [_wire_call(c) for c in message.tool_calls if isinstance(c, dict)]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


def _wire_call(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    if not isinstance(function.get("arguments", ""), str):
        function["arguments"] = json.dumps(function["arguments"], ensure_ascii=False)
    return {"id": call.get("id"), "type": "function", "function": function}


def tool_choice_for(prompt: UpstreamPrompt, params: SamplingParams) -> str | dict[str, Any] | None:
    if not prompt.tools:
        return None
    grammar = params.grammar
    if grammar is None:
        return "none" if any("<tool_call>" in t for t in params.banned_texts) else "auto"
    if not grammar.startswith(TOOL_GRAMMAR_HEAD):
        return "none"  # generation.py wants prose now (tool results already answered)
    names = [t["function"]["name"] for t in prompt.tools if t.get("function", {}).get("name")]
    named = [n for n in names if f'"\\"{n}\\""' in grammar]
    if len(named) == 1 and len(names) > 1:
        return {"type": "function", "function": {"name": named[0]}}
    return "required"


REASONING_FIELDS = ("reasoning_content", "reasoning")  # vLLM: the first before 0.10, then both
STOP_FIELDS = ("stop_reason", "matched_stop")  # vLLM, SGLang: the stop string that matched


@dataclass
class _StreamState:
    """One attempt's view of an upstream stream."""

    prompt_estimate: int
    think: ThinkTags | None = None  # split `<think>` tags out of the content
    deltas: int = 0
    reasoning_deltas: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    open_call: int | None = None  # the tool call whose arguments are being written
    output: ReasoningOutput | None = None
    stops: tuple[str, ...] = ()  # the request's stop strings
    stop_sequence: str | None = None  # the one that ended the answer, when the upstream says

    def __post_init__(self) -> None:
        if self.think is not None or self.stops:
            self.output = ReasoningOutput(self.think, self.stops)

    @property
    def stopped_here(self) -> bool:
        """A stop string was found in the content itself (the upstream did not stop on it)."""
        return self.output is not None and self.output.stopped

    def feed(self, payload: dict[str, Any]) -> list[GenerationEvent]:
        """Take one chunk; returns the events it carries (reasoning, content, tool-call text)."""
        if isinstance(payload.get("usage"), dict):
            self.usage = payload["usage"]
        events: list[GenerationEvent] = []
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = next((delta[k] for k in REASONING_FIELDS if isinstance(delta.get(k), str)), "")
            if reasoning:
                events.append(ReasoningDelta(reasoning))
            if content := delta.get("content") or "":
                events.extend(self.output.feed(content) if self.output else [TextDelta(content)])
            for call in delta.get("tool_calls") or []:
                events.extend(self._merge_call(call))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                self._note_stop(choice)
        if self.output is not None and self.output.stopped:  # stopped_here, narrowed
            self.finish_reason, self.stop_sequence = "stop", self.output.stop_sequence
        self.deltas += sum(isinstance(e, TextDelta) and e.tokens > 0 for e in events)
        self.reasoning_deltas += sum(isinstance(e, ReasoningDelta) for e in events)
        return events

    def _note_stop(self, choice: dict[str, Any]) -> None:
        """vLLM's `stop_reason` is the stop string (a token id or null otherwise)."""
        named = next((choice[k] for k in STOP_FIELDS if isinstance(choice.get(k), str)), None)
        if named in self.stops:
            self.stop_sequence = named

    def _merge_call(self, call: dict[str, Any]) -> list[TextDelta]:
        """Writes the call as `<tool_call>` text as it arrives (calls come one after another)."""
        index = int(call.get("index", len(self.calls)))
        slot = self.calls.setdefault(index, {"name": "", "arguments": ""})
        function = call.get("function") or {}
        slot["name"] += function.get("name") or ""
        arguments = function.get("arguments")
        piece = arguments if isinstance(arguments, str) else json.dumps(arguments) if arguments else ""
        slot["arguments"] += piece
        out: list[TextDelta] = []
        if self.open_call != index and slot["name"]:
            out.extend(self._close_call())
            head = json.dumps({"name": slot["name"]}, ensure_ascii=False)[:-1]
            sep = "\n" if self.open_call is not None or index > min(self.calls) else ""
            out.append(TextDelta(f'{sep}<tool_call>\n{head}, "arguments": {slot["arguments"]}', 0))
            self.open_call = index
        elif self.open_call == index and piece:
            out.append(TextDelta(piece, 0))
        return out

    def _close_call(self) -> list[TextDelta]:
        if self.open_call is None:
            return []
        empty = not self.calls[self.open_call]["arguments"].strip()
        return [TextDelta(("{}" if empty else "") + "}\n</tool_call>", 0)]

    def flush(self) -> list[GenerationEvent]:
        """What is held at the end: a split's tail, the last tool call's closing."""
        events: list[GenerationEvent] = list(self.output.flush()) if self.output else []
        events.extend(self._close_call())
        self.open_call = None
        return events

    def finished(self, reason: str | None = None) -> Finished:
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        details = usage.get("completion_tokens_details") or {}
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if not isinstance(reasoning, int):
            reasoning = self.output.reasoning_tokens if self.output else self.reasoning_deltas
        prompt_details = usage.get("prompt_tokens_details") or {}
        cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
        reason = reason or self.finish_reason or "stop"
        return Finished(
            reason,
            prompt if isinstance(prompt, int) else self.prompt_estimate,
            completion if isinstance(completion, int) else self.deltas + self.reasoning_deltas,
            reasoning,
            stop_sequence=self.stop_sequence if reason == "stop" else None,
            cached_tokens=cached if isinstance(cached, int) and cached > 0 else 0,
        )


class UpstreamChatEngine:
    native_tool_calls = True  # tool calls come from the upstream's own parser (tool_stream)

    def __init__(
        self,
        target: UpstreamTarget,
        context_window: int = 8192,
        transport: httpx.AsyncBaseTransport | None = None,
        thinking: ThinkingConfig | None = None,
    ) -> None:
        self.target = target
        self.thinking = thinking
        self.context_window = context_window
        self.pool: ReplicaPool = target.pool()
        self._client = target.async_client(transport)
        # plain-http replicas stream through the lean client; https (and tests' mock
        # transports) through httpx
        o = target.options
        self._http1 = (
            None
            if transport is not None
            else Http1Pool(o.connect_timeout, o.read_timeout, target.headers(), o.max_connections)
        )
        self.health = (
            HealthChecker(self.pool, self._client, o.health_path or "", o.health_interval, o.health_timeout)
            if o.health_path
            else None
        )
        self._no_tokenize: set[str] = set()  # replicas without /tokenize

    async def start(self) -> None:
        if self.health is not None:
            self.health.start()

    async def close(self) -> None:
        if self.health is not None:
            await self.health.close()
        await self._client.aclose()
        if self._http1 is not None:
            await self._http1.close()

    def pending_requests(self) -> int:
        return self.pool.outstanding()

    # prepare -----------------------------------------------------------------------------
    async def prepare(
        self,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None = None,
        thinking: Thinking | None = None,
    ) -> UpstreamPrompt:
        messages, switch, think = self._thinking_plan(messages, thinking)
        if sum(len(m.content or "") for m in messages) > OFF_LOOP_PROMPT_CHARS:
            prompt = await run_in_threadpool(self._wire_prompt, messages, tools)
        else:
            prompt = self._wire_prompt(messages, tools)
        if self.target.options.tokenize == "upstream":
            count = await self._upstream_count(prompt.messages, prompt.tools)
            if count is not None:
                prompt = replace(prompt, token_count=count)
        return replace(prompt, switch=switch, think=think)

    def _thinking_plan(
        self, messages: list[ChatMessage], thinking: Thinking | None
    ) -> tuple[list[ChatMessage], dict[str, Any], ThinkTags | None]:
        """The messages (with `/no_think` where that is the switch), the fields that carry the
        switch, and how to split tags out of the content."""
        config = self.thinking
        if config is None:  # not known to think: forward nothing, split nothing
            return without_reasoning(messages), {}, None
        wanted = thinking_wanted(config.default, thinking)
        switch: dict[str, Any] = {}
        if config.switch == "enable_thinking":
            switch["chat_template_kwargs"] = {"enable_thinking": wanted}
        elif config.switch == "thinking_field":
            switch["thinking"] = {"type": "enabled" if wanted else "disabled"}
        elif config.switch == "no_think":
            messages = with_no_think_switch(messages, wanted)
        if wanted and thinking is not None and thinking.effort:
            switch["reasoning_effort"] = thinking.effort
        think = ThinkTags(config.open_tag, config.close_tag, show=wanted) if config.format == "tags" else None
        return messages, switch, think

    def _wire_prompt(self, messages: list[ChatMessage], tools: list[dict[str, Any]] | None) -> UpstreamPrompt:
        wire = tuple(wire_message(m) for m in messages)
        tool_list = tuple(tools or ())
        text = json.dumps({"messages": wire, "tools": tool_list}, ensure_ascii=False)
        count = sum(_message_estimate(m) for m in messages) + 3
        count += estimate_tokens(json.dumps(tool_list, ensure_ascii=False)) if tool_list else 0
        return UpstreamPrompt(text=text, token_count=count, messages=wire, tools=tool_list)

    async def _upstream_count(self, messages: tuple, tools: tuple) -> int | None:
        """vLLM's `POST /tokenize` (chat form); None where unavailable."""
        body: dict[str, Any] = {
            "model": self.target.model,
            "messages": list(messages),
            "add_generation_prompt": True,
        }
        if tools:
            body["tools"] = list(tools)
        replica = self.pool.acquire(self._no_tokenize)
        if replica is None:
            return None
        try:
            response = await self._client.post(
                f"{replica.url}/tokenize", json=body, timeout=self.target.options.health_timeout
            )
            if response.status_code in (404, 405):
                self._no_tokenize.add(replica.url)
                return None
            count = response.json().get("count") if response.status_code == 200 else None
            return count if isinstance(count, int) else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        finally:
            self.pool.release(replica, "neutral")

    # generate ----------------------------------------------------------------------------
    def request_body(self, prompt: UpstreamPrompt, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.target.model,
            "messages": list(prompt.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": 0.0 if params.greedy else params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        body.update(prompt.switch)
        choice = tool_choice_for(prompt, params)
        if choice is not None:
            body["tools"], body["tool_choice"] = list(prompt.tools), choice
        elif params.grammar and self.target.options.grammar_field:
            body[self.target.options.grammar_field] = params.grammar
        return body

    async def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, owner: str
    ) -> AsyncGenerator[GenerationEvent, None]:
        if not isinstance(prompt, UpstreamPrompt):
            raise TypeError("UpstreamChatEngine.generate needs a prompt from its own prepare()")
        if params.adapter:
            raise ModelUnsupported(self.target.name, "LoRA adapters (fine-tuned models)")
        body = self.request_body(prompt, params)
        failover = Failover(self.target, self.pool)
        delivered = _Delivered()
        for replica in failover:
            state = _StreamState(prompt.token_count, prompt.think, stops=params.stop)
            try:
                async with aclosing(self._stream(replica, body, state, delivered)) as events:
                    async for event in events:
                        yield event
                return
            except ReplicaFailed as failure:
                failover.failed(failure)
                if delivered.tokens:
                    yield state.finished("network_error")
                    return
        raise failover.error()

    async def _stream(
        self, replica: Replica, body: dict[str, Any], state: _StreamState, delivered: _Delivered
    ) -> AsyncGenerator[GenerationEvent, None]:
        try:
            async with self._open_stream(replica, body) as response:
                if response.status_code >= 300:
                    await response.aread()
                    check_status(response, replica.url)
                async for payload in sse_payloads(response, replica.url):
                    for event in state.feed(payload):
                        delivered.tokens += 1
                        yield event
                    if state.stopped_here:
                        break  # leaving the block closes the stream: the upstream stops generating
        except (httpx.HTTPError, Http1Error) as exc:
            if state.finish_reason is None:  # else only the usage chunk was lost: finish anyway
                self.pool.release(replica, "failure")
                raise transport_failure(exc, replica.url) from exc
        except ReplicaFailed:
            self.pool.release(replica, "failure")
            raise
        except BaseException:  # our caller went away (or a 4xx): says nothing about the replica
            self.pool.release(replica, "neutral")
            raise
        if state.finish_reason is None:
            self.pool.release(replica, "failure")
            raise ReplicaFailed("failure", f"{replica.url} ended the stream without finish_reason")
        self.pool.release(replica, "success")
        for event in state.flush():
            yield event
        yield state.finished()

    def _open_stream(self, replica: Replica, body: dict[str, Any]):
        url = f"{replica.url}{CHAT_PATH}"
        if self._http1 is not None and url.startswith("http://"):
            return self._http1.post_stream(url, body)
        return self._client.stream("POST", url, json=body)


@dataclass
class _Delivered:
    tokens: int = 0  # content deltas that reached our caller, over all attempts
