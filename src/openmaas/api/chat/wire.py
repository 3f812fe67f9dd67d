"""Response shapes per surface: complete answers and SSE chunks (reference §6.4–6.6, §20).

Only `data:` lines are emitted (the Java SDK rejects anything else). Zhipu puts
`finish_reason` and `usage` on the last content chunk; OpenAI additionally gets a
trailing `choices: []` usage chunk when `stream_options.include_usage` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from openmaas.api.errors import error_body
from openmaas.chat.service import ChatRun
from openmaas.chat.tools import ToolCall
from openmaas.chat.types import ChatResult, ToolCallsEvent, Usage
from openmaas.engines.base import Finished, TextDelta
from openmaas.errors import InternalFailure, PlatformError

DONE = b"data: [DONE]\n\n"


def usage_dict(usage: Usage) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def sse(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def message_dict(result: ChatResult) -> dict:
    if result.tool_calls:
        return {"role": "assistant", "content": result.content or None,
                "tool_calls": [call.wire() for call in result.tool_calls]}
    return {"role": "assistant", "content": result.content}


def tool_delta(calls: list[ToolCall]) -> dict:
    return {"role": "assistant", "content": None,
            "tool_calls": [call.wire(index) for index, call in enumerate(calls)]}


@dataclass(frozen=True)
class ZhipuWire:
    def completion(self, result: ChatResult) -> dict:
        body = {"id": result.request_id, "request_id": result.request_id,
                "created": result.created, "model": result.model,
                "choices": [{"index": 0, "finish_reason": result.finish_reason,
                             "message": message_dict(result)}],
                "usage": usage_dict(result.usage)}
        if result.web_search:
            body["web_search"] = list(result.web_search)
        return body

    def tool_chunk(self, run: ChatRun, calls: list[ToolCall]) -> dict:
        chunk = self.chunk(run, "")
        chunk["choices"][0]["delta"] = tool_delta(calls)
        return chunk

    def chunk(self, run: ChatRun, text: str) -> dict:
        return {"id": run.request_id, "created": run.created, "model": run.model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]}

    def final(self, run: ChatRun, done: Finished) -> list[dict]:
        chunk = self.chunk(run, "")
        chunk["choices"][0]["finish_reason"] = done.reason
        chunk["usage"] = usage_dict(Usage(done.prompt_tokens, done.completion_tokens))
        return [chunk]


@dataclass(frozen=True)
class OpenAIWire:
    include_usage: bool = False

    def completion(self, result: ChatResult) -> dict:
        return {"id": f"chatcmpl-{result.request_id}", "object": "chat.completion",
                "created": result.created, "model": result.model,
                "choices": [{"index": 0, "finish_reason": result.finish_reason, "logprobs": None,
                             "message": message_dict(result)}],
                "usage": usage_dict(result.usage)}

    def tool_chunk(self, run: ChatRun, calls: list[ToolCall]) -> dict:
        chunk = self.chunk(run, "")
        chunk["choices"][0]["delta"] = tool_delta(calls)
        return chunk

    def chunk(self, run: ChatRun, text: str, finish: str | None = None) -> dict:
        return {"id": f"chatcmpl-{run.request_id}", "object": "chat.completion.chunk",
                "created": run.created, "model": run.model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                             "finish_reason": finish, "logprobs": None}]}

    def final(self, run: ChatRun, done: Finished) -> list[dict]:
        chunks = [self.chunk(run, "", done.reason)]
        if self.include_usage:
            usage = self.chunk(run, "")
            usage["choices"] = []
            usage["usage"] = usage_dict(Usage(done.prompt_tokens, done.completion_tokens))
            chunks.append(usage)
        return chunks


Wire = ZhipuWire | OpenAIWire


async def stream_sse(run: ChatRun, wire: Wire, openai: bool) -> AsyncIterator[bytes]:
    """The SSE body. A failure after the first byte becomes an `error` data event."""
    first = True
    try:
        async for event in run.events():
            if first and run.request.web_search and not openai:
                yield sse(wire.chunk(run, "") | {"web_search": list(run.request.web_search)})
            first = False
            if isinstance(event, TextDelta):
                yield sse(wire.chunk(run, event.text))
            elif isinstance(event, ToolCallsEvent):
                yield sse(wire.tool_chunk(run, event.calls))
            else:
                for chunk in wire.final(run, event):
                    yield sse(chunk)
    except PlatformError as exc:
        yield sse(error_body(exc, openai))
    except Exception:
        yield sse(error_body(InternalFailure(), openai))
    yield DONE
