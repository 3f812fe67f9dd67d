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
upstream's `tool_calls` come back as `<tool_call>` text, which generation.py parses and
validates as it does for local models. Other grammars (structured output) are sent in the
field named by `grammar_field` (vLLM `guided_grammar`, llama.cpp `grammar`), or dropped.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from openmaas.engines.base import (
    ChatMessage,
    Finished,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
)
from openmaas.engines.http1 import Http1Error, Http1Pool
from openmaas.engines.upstream_http import (
    ReplicaFailed,
    UpstreamTarget,
    check_status,
    no_replica_error,
    sse_payloads,
    transport_failure,
)
from openmaas.engines.upstream_pool import HealthChecker, Replica, ReplicaPool
from openmaas.errors import ModelUnsupported

log = logging.getLogger(__name__)
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
TOOL_GRAMMAR_HEAD = "root ::= block"  # chat/tools.py tool_call_grammar()
CHAT_PATH = "/v1/chat/completions"


def estimate_tokens(text: str) -> int:
    cjk = len(CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 3)


@dataclass(frozen=True, slots=True)
class UpstreamPrompt(PreparedPrompt):
    """The OpenAI request parts; `text` is their JSON, for logs."""

    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    tools: tuple[dict[str, Any], ...] = field(default=(), repr=False)


def _message_estimate(message: ChatMessage) -> int:
    calls = json.dumps(message.tool_calls, ensure_ascii=False) if message.tool_calls else ""
    return estimate_tokens(message.content or "") + estimate_tokens(calls) + 4


def wire_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
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


@dataclass
class _StreamState:
    """One attempt's view of an upstream stream."""

    prompt_estimate: int
    deltas: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    calls: dict[int, dict[str, str]] = field(default_factory=dict)

    def feed(self, payload: dict[str, Any]) -> str:
        """Take one chunk; returns the content text it carries."""
        if isinstance(payload.get("usage"), dict):
            self.usage = payload["usage"]
        text = ""
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or choice.get("message") or {}
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                self._merge_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if text:
            self.deltas += 1
        return text

    def _merge_call(self, call: dict[str, Any]) -> None:
        slot = self.calls.setdefault(int(call.get("index", len(self.calls))), {"name": "", "arguments": ""})
        function = call.get("function") or {}
        slot["name"] += function.get("name") or ""
        arguments = function.get("arguments")
        slot["arguments"] += arguments if isinstance(arguments, str) else json.dumps(arguments or {})

    def tool_call_text(self) -> str:
        """The upstream's tool calls in the `<tool_call>` form generation.py parses."""
        blocks = []
        for _, call in sorted(self.calls.items()):
            try:
                arguments = json.loads(call["arguments"] or "{}")
            except ValueError:
                arguments = call["arguments"]
            body = json.dumps({"name": call["name"], "arguments": arguments}, ensure_ascii=False)
            blocks.append(f"<tool_call>\n{body}\n</tool_call>")
        return "\n".join(blocks)

    def finished(self, reason: str | None = None) -> Finished:
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        return Finished(reason or self.finish_reason or "stop",
                        prompt if isinstance(prompt, int) else self.prompt_estimate,
                        completion if isinstance(completion, int) else self.deltas)


class UpstreamChatEngine:
    def __init__(self, target: UpstreamTarget, context_window: int = 8192,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.target = target
        self.context_window = context_window
        self.pool: ReplicaPool = target.pool()
        self._client = target.async_client(transport)
        # plain-http replicas stream through the lean client; https (and tests' mock
        # transports) through httpx
        o = target.options
        self._http1 = None if transport is not None else Http1Pool(o.connect_timeout, o.read_timeout,
                                                                    target.headers(), o.max_connections)
        self.health = HealthChecker(self.pool, self._client, o.health_path or "", o.health_interval,
                                    o.health_timeout) if o.health_path else None
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
    async def prepare(self, messages: list[ChatMessage],
                      tools: list[dict[str, Any]] | None = None) -> UpstreamPrompt:
        wire = tuple(wire_message(m) for m in messages)
        tool_list = tuple(tools or ())
        text = json.dumps({"messages": wire, "tools": tool_list}, ensure_ascii=False)
        count = None
        if self.target.options.tokenize == "upstream":
            count = await self._upstream_count(wire, tool_list)
        if count is None:
            count = sum(_message_estimate(m) for m in messages) + 3
            count += estimate_tokens(json.dumps(tool_list, ensure_ascii=False)) if tool_list else 0
        return UpstreamPrompt(text=text, token_count=count, messages=wire, tools=tool_list)

    async def _upstream_count(self, messages: tuple, tools: tuple) -> int | None:
        """vLLM's `POST /tokenize` (chat form); None where unavailable."""
        body: dict[str, Any] = {"model": self.target.model, "messages": list(messages),
                                "add_generation_prompt": True}
        if tools:
            body["tools"] = list(tools)
        replica = self.pool.acquire(self._no_tokenize)
        if replica is None:
            return None
        try:
            response = await self._client.post(f"{replica.url}/tokenize", json=body,
                                                timeout=self.target.options.health_timeout)
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
            "model": self.target.model, "messages": list(prompt.messages), "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": params.max_tokens,
            "temperature": 0.0 if params.greedy else params.temperature, "top_p": params.top_p}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        choice = tool_choice_for(prompt, params)
        if choice is not None:
            body["tools"], body["tool_choice"] = list(prompt.tools), choice
        elif params.grammar and self.target.options.grammar_field:
            body[self.target.options.grammar_field] = params.grammar
        return body

    async def generate(self, prompt: PreparedPrompt, params: SamplingParams,
                       owner: str) -> AsyncIterator[GenerationEvent]:
        if not isinstance(prompt, UpstreamPrompt):
            raise TypeError("UpstreamChatEngine.generate needs a prompt from its own prepare()")
        if params.adapter:
            raise ModelUnsupported(self.target.name, "LoRA adapters (fine-tuned models)")
        body = self.request_body(prompt, params)
        tried: set[str] = set()
        last: ReplicaFailed | None = None
        delivered = _Delivered()
        for _ in range(self.target.attempts):
            replica = self.pool.acquire(tried)
            if replica is None:
                break
            tried.add(replica.url)
            state = _StreamState(prompt.token_count)
            try:
                async with aclosing(self._stream(replica, body, state, delivered)) as events:
                    async for event in events:
                        yield event
                return
            except ReplicaFailed as failure:
                last = failure
                log.warning("upstream %s: %s", self.target.name, failure.detail)
                if delivered.tokens:
                    yield state.finished("network_error")
                    return
        raise no_replica_error(self.target, self.pool, last)

    async def _stream(self, replica: Replica, body: dict[str, Any], state: _StreamState,
                      delivered: _Delivered) -> AsyncIterator[GenerationEvent]:
        try:
            async with self._open_stream(replica, body) as response:
                if response.status_code >= 300:
                    await response.aread()
                    check_status(response, replica.url)
                async for payload in sse_payloads(response, replica.url):
                    if text := state.feed(payload):
                        delivered.tokens += 1
                        yield TextDelta(text)
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
        if state.calls:
            yield TextDelta(state.tool_call_text(), 0)
        yield state.finished()


    def _open_stream(self, replica: Replica, body: dict[str, Any]):
        url = f"{replica.url}{CHAT_PATH}"
        if self._http1 is not None and url.startswith("http://"):
            return self._http1.post_stream(url, body)
        return self._client.stream("POST", url, json=body)


@dataclass
class _Delivered:
    tokens: int = 0  # content deltas that reached our caller, over all attempts

