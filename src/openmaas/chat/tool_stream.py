"""`tool_stream`: a tool call's arguments streamed as they are generated.

`ToolCallStreamer` follows the `<tool_call>` text a model (or the upstream engine, which
writes its server's native tool calls in the same form) produces, and reports each call as
`ToolCallDelta`s: first its id and name, then its arguments' JSON text piece by piece as
the tokens arrive, OpenAI style (`tool_calls[i].function.arguments` deltas with a stable
index and id). `reconcile` makes the final, validated calls carry those ids and exactly the
streamed arguments text, so a client's concatenation is the call's arguments.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from openmaas.chat.tools import TOOL_CALL_TOKEN, ToolCall, new_call_id
from openmaas.chat.types import ToolCallDelta

# `{"name": "<name>", "arguments": ` as the tool-call grammar (and the upstream engine) write it
HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*"([a-zA-Z0-9_-]{1,64})"\s*,\s*"arguments"\s*:\s*')
MAX_HEAD = 200  # no head in this many characters after the tag: the call is not streamed


@dataclass
class _Call:
    index: int
    id: str
    name: str
    arguments: str = ""
    depth: int = 0
    in_string: bool = False
    escaped: bool = False
    done: bool = False

    def take(self, text: str) -> int:
        """Consume argument text up to the end of the JSON object; returns characters used."""
        for i, char in enumerate(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.arguments += text[: i + 1]
                    self.done = True
                    return i + 1
        self.arguments += text
        return len(text)


class ToolCallStreamer:
    def __init__(self) -> None:
        self._text = ""
        self._at = 0  # where scanning continues
        self.calls: list[_Call] = []
        self._current: _Call | None = None
        self._skipped = False  # a call that could not be followed: nothing after it streams

    def feed(self, text: str) -> list[ToolCallDelta]:
        self._text += text
        deltas: list[ToolCallDelta] = []
        while not self._skipped:
            before = self._at
            if self._current is None:
                self._open_next(deltas)
            else:
                self._continue(deltas)
            if self._at == before:
                break
        return deltas

    def _open_next(self, deltas: list[ToolCallDelta]) -> None:
        tag = self._text.find(TOOL_CALL_TOKEN, self._at)
        if tag < 0:
            return
        start = tag + len(TOOL_CALL_TOKEN)
        head = HEAD.match(self._text, start)
        if head is None:
            if len(self._text) - start > MAX_HEAD:
                self._skipped = True
            return
        if head.end() >= len(self._text):
            return  # the value has not begun yet: wait for its first character
        if self._text[head.end()] != "{":
            self._skipped = True  # arguments as a string literal: sent whole at the end
            return
        call = _Call(len(self.calls), new_call_id(), head.group(1))
        self.calls.append(call)
        self._current = call
        self._at = head.end()
        deltas.append(ToolCallDelta(call.index, call.id, call.name, ""))

    def _continue(self, deltas: list[ToolCallDelta]) -> None:
        call = self._current
        if call is None:
            return
        used = call.take(self._text[self._at :])
        if used:
            deltas.append(ToolCallDelta(call.index, call.id, None, self._text[self._at : self._at + used]))
            self._at += used
        if call.done:
            self._current = None

    def reconcile(self, calls: list[ToolCall]) -> tuple[list[ToolCall], int]:
        """The final calls, those already streamed with their streamed id and arguments text;
        and how many of them went out as deltas (the rest are sent whole). A streamed call
        always parses to its validated arguments when a grammar produced it; should it not,
        the validated call keeps its own text (deltas cannot be taken back)."""
        out = []
        for i, call in enumerate(calls):
            partial = self.calls[i] if i < len(self.calls) else None
            if (
                partial is not None
                and partial.done
                and partial.name == call.name
                and _same_json(partial.arguments, call.arguments)
            ):
                call = replace(call, id=partial.id, arguments=partial.arguments)
            out.append(call)
        return out, min(len(self.calls), len(calls))


def _same_json(a: str, b: str) -> bool:
    try:
        return json.loads(a, strict=False) == json.loads(b, strict=False)
    except ValueError:
        return False
