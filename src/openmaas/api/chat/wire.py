"""Response shapes per surface: complete answers and SSE chunks (reference §6.4–6.6, §20).

Only `data:` lines are emitted (the Java SDK rejects anything else). Zhipu puts
`finish_reason` and `usage` on the last content chunk; OpenAI additionally gets a
trailing `choices: []` usage chunk when `stream_options.include_usage` is set.

Reasoning: `message.reasoning_content` (null when the model did not think) and stream
deltas carrying `reasoning_content` before any content; usage says
`completion_tokens_details.reasoning_tokens`. The OpenAI surface also names it `reasoning`,
as vLLM's newer reasoning parsers do, so clients reading either field see it. With
`tool_stream`, tool-call deltas go out as the arguments are generated (first the call's
index, id and name, then pieces of `function.arguments`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from openmaas.api.errors import error_body
from openmaas.chat.generation import Event
from openmaas.chat.tools import ToolCall
from openmaas.chat.types import ChatRequest, ChatResult, ToolCallDelta, ToolCallsEvent, Usage
from openmaas.engines.base import Finished, ReasoningDelta, TextDelta
from openmaas.errors import InternalFailure, PlatformError

DONE = b"data: [DONE]\n\n"
JSON = dict[str, Any]


class SurfaceRun(Protocol):
    """What the wire needs of a run: a plain chat run (chat/service.py) or one whose MCP
    tool rounds the platform drives (agents/tool_rounds.py)."""

    @property
    def request_id(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def request(self) -> ChatRequest: ...

    def events(self) -> AsyncIterator[Event]: ...

    def abandon(self) -> None: ...

    async def collect(self) -> ChatResult: ...


def usage_dict(usage: Usage) -> JSON:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": min(usage.cached_tokens, usage.prompt_tokens)},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def finished_usage(done: Finished) -> Usage:
    return Usage(done.prompt_tokens, done.completion_tokens, done.reasoning_tokens, done.cached_tokens)


def sse(payload: JSON) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def message_dict(result: ChatResult, reasoning_names: tuple[str, ...] = ("reasoning_content",)) -> JSON:
    """The reasoning is named even when there is none (null), as the platform and vLLM do."""
    message: JSON = {"role": "assistant", "content": result.content}
    if result.tool_calls:
        message = {
            "role": "assistant",
            "content": result.content or None,
            "tool_calls": [call.wire() for call in result.tool_calls],
        }
    for name in reasoning_names:
        message[name] = result.reasoning_content
    return message


def tool_delta(calls: list[ToolCall], first_index: int = 0) -> JSON:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [call.wire(first_index + i) for i, call in enumerate(calls)],
    }


def tool_stream_delta(delta: ToolCallDelta) -> JSON:
    if delta.name is not None:  # the call's first delta
        call = {
            "index": delta.index,
            "id": delta.id,
            "type": "function",
            "function": {"name": delta.name, "arguments": delta.arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    # later pieces carry the index alone, as OpenAI's do (clients concatenate string fields)
    return {"tool_calls": [{"index": delta.index, "function": {"arguments": delta.arguments}}]}


class _Chunks:
    """Chunk shapes both surfaces build the same way from their `chunk()`."""

    reasoning_names: tuple[str, ...] = ("reasoning_content",)

    def chunk(self, run: SurfaceRun, text: str) -> JSON:
        raise NotImplementedError  # each surface's own shape

    def tool_chunk(self, run: SurfaceRun, event: ToolCallsEvent) -> JSON | None:
        """The calls not already streamed (all of them without tool_stream)."""
        rest = event.calls[event.streamed :]
        if not rest:
            return None
        chunk = self.chunk(run, "")
        chunk["choices"][0]["delta"] = tool_delta(rest, event.streamed)
        return chunk

    def tool_stream_chunk(self, run: SurfaceRun, delta: ToolCallDelta) -> JSON:
        chunk = self.chunk(run, "")
        chunk["choices"][0]["delta"] = tool_stream_delta(delta)
        return chunk

    def reasoning_chunk(self, run: SurfaceRun, text: str) -> JSON:
        chunk = self.chunk(run, "")
        chunk["choices"][0]["delta"] = {"role": "assistant", **{n: text for n in self.reasoning_names}}
        return chunk


@dataclass(frozen=True)
class ZhipuWire(_Chunks):
    def completion(self, result: ChatResult) -> JSON:
        # `object` is missing from Zhipu's documented schema but present in its real answers;
        # OpenAI-typed clients on this base (pydantic-ai's Z.AI provider) require it
        body = {
            "id": result.request_id,
            "request_id": result.request_id,
            "object": "chat.completion",
            "created": result.created,
            "model": result.model,
            "choices": [{"index": 0, "finish_reason": result.finish_reason, "message": message_dict(result)}],
            "usage": usage_dict(result.usage),
        }
        if result.web_search:
            body["web_search"] = list(result.web_search)
        return body

    def chunk(self, run: SurfaceRun, text: str) -> JSON:
        return {
            "id": run.request_id,
            "created": run.created,
            "model": run.model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}],
        }

    def final(self, run: SurfaceRun, done: Finished) -> list[JSON]:
        chunk = self.chunk(run, "")
        chunk["choices"][0]["finish_reason"] = done.reason
        chunk["usage"] = usage_dict(finished_usage(done))
        return [chunk]


@dataclass(frozen=True)
class OpenAIWire(_Chunks):
    include_usage: bool = False
    reasoning_names = ("reasoning_content", "reasoning")  # vLLM's older and newer names

    def completion(self, result: ChatResult) -> JSON:
        return {
            "id": f"chatcmpl-{result.request_id}",
            "object": "chat.completion",
            "created": result.created,
            "model": result.model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": openai_finish(result.finish_reason),
                    "logprobs": None,
                    "message": message_dict(result, self.reasoning_names),
                }
            ],
            "usage": usage_dict(result.usage),
        }

    def chunk(self, run: SurfaceRun, text: str, finish: str | None = None) -> JSON:
        return {
            "id": f"chatcmpl-{run.request_id}",
            "object": "chat.completion.chunk",
            "created": run.created,
            "model": run.model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
        }

    def final(self, run: SurfaceRun, done: Finished) -> list[JSON]:
        chunks = [self.chunk(run, "", openai_finish(done.reason))]
        if self.include_usage:
            usage = self.chunk(run, "")
            usage["choices"] = []
            usage["usage"] = usage_dict(finished_usage(done))
            chunks.append(usage)
        return chunks


Wire = ZhipuWire | OpenAIWire


def openai_finish(reason: str) -> str:
    """Zhipu's `sensitive` (a blocked answer) is OpenAI's `content_filter`."""
    return "content_filter" if reason == "sensitive" else reason


async def stream_sse(run: SurfaceRun, wire: Wire, openai: bool) -> AsyncIterator[bytes]:
    """The SSE body. A failure after the first byte becomes an `error` data event."""
    first = True
    try:
        async for event in run.events():
            if first and run.request.web_search and not openai:
                yield sse(wire.chunk(run, "") | {"web_search": list(run.request.web_search)})
            first = False
            if isinstance(event, TextDelta):
                yield sse(wire.chunk(run, event.text))
            elif isinstance(event, ReasoningDelta):
                yield sse(wire.reasoning_chunk(run, event.text))
            elif isinstance(event, ToolCallDelta):
                yield sse(wire.tool_stream_chunk(run, event))
            elif isinstance(event, ToolCallsEvent):
                if (chunk := wire.tool_chunk(run, event)) is not None:
                    yield sse(chunk)
            else:
                for chunk in wire.final(run, event):
                    yield sse(chunk)
    except PlatformError as exc:
        yield sse(error_body(exc, openai))
    except Exception:
        yield sse(error_body(InternalFailure(), openai))
    yield DONE
