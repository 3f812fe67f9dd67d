"""Anthropic Messages on the chat core: the request's content blocks → chat messages, and the
run's events → content blocks (one `BlockBuilder` for both the JSON answer and the stream).

    message_start → [content_block_start → content_block_delta … → content_block_stop] …
    → message_delta (stop_reason, output usage) → message_stop
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import orjson

from openmaas.agents.core_events import ReasoningDelta
from openmaas.agents.tool_rounds import RoundEvents
from openmaas.chat.tools import ToolCall
from openmaas.chat.types import ToolCallsEvent
from openmaas.engines.base import ChatMessage, Finished, TextDelta
from openmaas.errors import InvalidField

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
SKIPPED_BLOCKS = ("redacted_thinking",)  # opaque to this platform: nothing to replay
Event = tuple[str, dict[str, Any]]


def system_text(system: str | list[Any] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    return "".join(_block_text(block, f"system[{i}]") for i, block in enumerate(system)) or None


def _block_text(block: Any, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text":
        kind = block.get("type") if isinstance(block, dict) else None
        raise InvalidField(f"{where}.type", f"unsupported block type {kind!r} here (text)")
    return str(block.get("text") or "")


def to_chat_messages(messages: list[Any], system: str | list[Any] | None) -> list[ChatMessage]:
    """Anthropic turns → chat messages; a tool_result must answer an earlier tool_use."""
    converted: list[ChatMessage] = []
    text = system_text(system)
    if text:
        converted.append(ChatMessage("system", text))
    called: set[str] = set()
    for index, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            raise InvalidField(f"messages[{index}].role", "user or assistant")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise InvalidField(f"messages[{index}].content", "a string or a list of content blocks")
        if role == "assistant":
            converted.append(_assistant(blocks, index, called))
        else:
            converted.extend(_user(blocks, index, called))
    return converted


def _assistant(blocks: list[Any], index: int, called: set[str]) -> ChatMessage:
    texts, calls, thoughts = [], [], []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"messages[{index}].content[{i}]"
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":  # replayed as the turn's reasoning (agents/thinking.py)
            thought = block.get("thinking")
            if not isinstance(thought, str):
                raise InvalidField(f"{where}.thinking", "must be a string")
            thoughts.append(thought)
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise InvalidField(where, "tool_use needs id and name")
            called.add(call_id)
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
        elif kind not in SKIPPED_BLOCKS:
            raise InvalidField(f"{where}.type", f"unsupported block type {kind!r} (text, tool_use, thinking)")
    return ChatMessage(
        "assistant", "".join(texts) or None, calls or None, reasoning_content="".join(thoughts) or None
    )


def _user(blocks: list[Any], index: int, called: set[str]) -> list[ChatMessage]:
    results, texts = [], []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"messages[{index}].content[{i}]"
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_result":
            call_id = block.get("tool_use_id")
            if call_id not in called:
                raise InvalidField(f"{where}.tool_use_id", f"no earlier tool_use has id {call_id!r}")
            results.append(ChatMessage("tool", _result_text(block, where), tool_call_id=call_id))
        else:
            raise InvalidField(
                f"{where}.type",
                f"unsupported block type {kind!r} (text, tool_result; the text models take no images)",
            )
    return [*results, *([ChatMessage("user", "".join(texts))] if texts else [])]


def _result_text(block: dict[str, Any], where: str) -> str:
    content = block.get("content")
    text = (
        content
        if isinstance(content, str)
        else "".join(_block_text(part, f"{where}.content[{i}]") for i, part in enumerate(content or []))
    )
    return f"Error: {text}" if block.get("is_error") else text


def chat_tools(tools: list[Any] | None) -> list[dict[str, Any]]:
    """Anthropic client tools (`name`, `description`, `input_schema`) in the chat core's form."""
    converted = []
    for index, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise InvalidField(f"tools[{index}].type", f"unsupported tool type {kind!r} (client tools only)")
        converted.append(
            {
                "type": "function",
                "function": {
                    "name": tool.get("name"),
                    "description": tool.get("description"),
                    "parameters": tool.get("input_schema"),
                },
            }
        )
    return converted


def chat_tool_choice(choice: dict[str, Any] | None) -> str | None:
    if choice is None:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return choice.get("name")
    mapped = None if kind is None else {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if mapped is None:
        raise InvalidField("tool_choice.type", "auto, any, tool or none")
    return mapped


# --- events → content blocks --------------------------------------------------------------------
def usage_dict(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message_shell(message_id: str, model: str, input_tokens: int) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_dict(input_tokens, 0),
    }


@dataclass
class BlockBuilder:
    blocks: list[dict[str, Any]] = field(default_factory=list)
    _open: dict[str, Any] | None = None

    def text(self, delta: str) -> list[Event]:
        block, events = self._continue({"type": "text", "text": ""})
        block["text"] += delta
        return [
            *events,
            (
                "content_block_delta",
                {"index": len(self.blocks) - 1, "delta": {"type": "text_delta", "text": delta}},
            ),
        ]

    def thinking(self, delta: str) -> list[Event]:
        block, events = self._continue({"type": "thinking", "thinking": "", "signature": ""})
        block["thinking"] += delta
        return [
            *events,
            (
                "content_block_delta",
                {"index": len(self.blocks) - 1, "delta": {"type": "thinking_delta", "thinking": delta}},
            ),
        ]

    def tool_calls(self, calls: list[ToolCall]) -> list[Event]:
        events = self._close()
        for call in calls:
            block: dict[str, Any] = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            events += self._start(block)
            block["input"] = json.loads(call.arguments)
            events.append(
                (
                    "content_block_delta",
                    {
                        "index": len(self.blocks) - 1,
                        "delta": {"type": "input_json_delta", "partial_json": call.arguments},
                    },
                )
            )
            events += self._close()
        return events

    def finish(self) -> list[Event]:
        return self._close()

    def _continue(self, start: dict[str, Any]) -> tuple[dict[str, Any], list[Event]]:
        """The open block if it is of `start`'s type, else `start` opened (the open one closed)."""
        if self._open is not None and self._open["type"] == start["type"]:
            return self._open, []
        return start, [*self._close(), *self._start(start)]

    def _start(self, block: dict[str, Any]) -> list[Event]:
        self._open = block
        self.blocks.append(block)
        return [("content_block_start", {"index": len(self.blocks) - 1, "content_block": dict(block)})]

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"index": len(self.blocks) - 1})]


def stop_of(finish: Finished) -> tuple[str, str | None]:
    """`stop_reason` and `stop_sequence`: "stop_sequence" names the stop string that matched."""
    if finish.reason == "stop" and finish.stop_sequence is not None:
        return "stop_sequence", finish.stop_sequence
    return STOP_REASONS.get(finish.reason, "end_turn"), None


def sse_frame(kind: str, fields: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"


def sse_frames(events: list[Event]) -> bytes:
    return b"".join(sse_frame(kind, fields) for kind, fields in events)


class MessageTranslation:
    """One run as an Anthropic message: `events()` yields lists of stream events; afterwards
    `message` is the complete message object (the plain JSON answer)."""

    def __init__(self, run: RoundEvents, model: str) -> None:
        self.run = run
        self.message = message_shell(f"msg_{run.request_id}", model, run.first.prompt.token_count)

    async def events(self) -> AsyncIterator[list[Event]]:
        builder = BlockBuilder()
        yield [("message_start", {"message": dict(self.message)})]
        finish = Finished("stop", self.run.first.prompt.token_count, 0)
        async with aclosing(self.run.events()) as run_events:
            async for event in run_events:
                if isinstance(event, TextDelta):
                    yield builder.text(event.text)
                elif isinstance(event, ReasoningDelta):
                    yield builder.thinking(event.text)
                elif isinstance(event, ToolCallsEvent):
                    yield builder.tool_calls(event.calls)
                elif isinstance(event, Finished):
                    finish = event
        stop_reason, stop_sequence = stop_of(finish)
        self.message.update(
            content=builder.blocks,
            stop_reason=stop_reason,
            stop_sequence=stop_sequence,
            usage=usage_dict(finish.prompt_tokens, finish.completion_tokens),
        )
        yield [
            *builder.finish(),
            (
                "message_delta",
                {
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": {"output_tokens": finish.completion_tokens},
                },
            ),
            ("message_stop", {}),
        ]

    async def complete(self) -> dict[str, Any]:
        async for _ in self.events():
            pass
        return self.message
