"""Chat-core events → Responses output items and the typed stream events the `openai` SDK reads.

One `OutputBuilder` serves both modes: streaming sends the events it returns, a plain call
drops them and keeps only the items, so both always agree.

    response.created → response.in_progress
    → [response.output_item.added (message) → response.content_part.added
       → response.output_text.delta … → response.output_text.done → response.content_part.done
       → response.output_item.done]
    → [response.output_item.added (function_call) → response.function_call_arguments.delta
       → response.function_call_arguments.done → response.output_item.done] …
    → response.completed | response.incomplete (with usage)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from openmaas.agents.items import new_item_id
from openmaas.chat.tools import ToolCall

Event = tuple[str, dict[str, Any]]


def usage_body(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": prompt_tokens + completion_tokens,
    }


def function_call_item(call: ToolCall, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": new_item_id("fc"),
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


@dataclass
class OutputBuilder:
    """Accumulates output items; each method returns the stream events for what it added.

    At most one item is open at a time: an assistant `message` taking text deltas, or a
    `reasoning` item taking the model's thinking (when the chat core reports it)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    reasoning_tokens: int = 0
    _open: dict[str, Any] | None = None
    _text: list[str] = field(default_factory=list)

    def add_item(self, item: dict[str, Any]) -> list[Event]:
        """A finished item (a built-in tool call run before generation, an MCP call)."""
        events = self._close()
        index = len(self.items)
        self.items.append(item)
        return [
            *events,
            ("response.output_item.added", {"output_index": index, "item": item}),
            ("response.output_item.done", {"output_index": index, "item": item}),
        ]

    def text(self, delta: str) -> list[Event]:
        item, events = self._ensure_open("message")
        self._text.append(delta)
        events.append(("response.output_text.delta", {**self._where(item), "delta": delta, "logprobs": []}))
        return events

    def reasoning(self, delta: str, tokens: int = 0) -> list[Event]:
        self.reasoning_tokens += tokens
        item, events = self._ensure_open("reasoning")
        self._text.append(delta)
        events.append(("response.reasoning_text.delta", {**self._where(item), "delta": delta}))
        return events

    def tool_calls(self, calls: list[ToolCall]) -> list[Event]:
        events = self._close()
        for call in calls:
            index = len(self.items)
            item = function_call_item(call)
            self.items.append(item)
            where = {"item_id": item["id"], "output_index": index}
            events += [
                (
                    "response.output_item.added",
                    {"output_index": index, "item": {**item, "arguments": "", "status": "in_progress"}},
                ),
                ("response.function_call_arguments.delta", {**where, "delta": call.arguments}),
                (
                    "response.function_call_arguments.done",
                    {**where, "name": call.name, "arguments": call.arguments},
                ),
                ("response.output_item.done", {"output_index": index, "item": item}),
            ]
        return events

    def finish(self) -> list[Event]:
        return self._close()

    def _where(self, item: dict[str, Any]) -> dict[str, Any]:
        """Where the open `item` (the last one) is, for its delta events."""
        return {"item_id": item["id"], "output_index": len(self.items) - 1, "content_index": 0}

    def _ensure_open(self, kind: str) -> tuple[dict[str, Any], list[Event]]:
        """The open item, of `kind` (opened now if it was not), and the events that opened it."""
        if self._open is not None and self._open["type"] == kind:
            return self._open, []
        events = self._close()
        item: dict[str, Any]
        if kind == "message":
            item = {
                "type": "message",
                "id": new_item_id("msg"),
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
        else:
            item = {
                "type": "reasoning",
                "id": new_item_id("rs"),
                "status": "in_progress",
                "summary": [],
                "content": [],
            }
        self._open = item
        self.items.append(item)
        events.append(
            (
                "response.output_item.added",
                {"output_index": len(self.items) - 1, "item": dict(item, content=[])},
            )
        )
        if kind == "message":
            events.append(("response.content_part.added", {**self._where(item), "part": _text_part("")}))
        return item, events

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        item = self._open
        text, where = "".join(self._text), self._where(item)
        self._open, self._text = None, []
        if item["type"] == "reasoning":
            item.update(status="completed", content=[{"type": "reasoning_text", "text": text}])
            return [
                ("response.reasoning_text.done", {**where, "text": text}),
                ("response.output_item.done", {"output_index": where["output_index"], "item": item}),
            ]
        part = _text_part(text)
        item.update(status="completed", content=[part])
        return [
            ("response.output_text.done", {**where, "text": text, "logprobs": []}),
            ("response.content_part.done", {**where, "part": part}),
            ("response.output_item.done", {"output_index": where["output_index"], "item": item}),
        ]


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class EventWriter:
    """SSE frames with `event:` names and a `sequence_number` on every event."""

    def __init__(self) -> None:
        self.sequence = 0

    def frame(self, kind: str, fields: dict[str, Any]) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def frames(self, events: list[Event]) -> bytes:
        return b"".join(self.frame(kind, fields) for kind, fields in events)
