"""Chat-format JSONL datasets: one `{"messages": [...], "tools": [...]?}` object per line.

Every error names its line (1-based, counting blank lines) so a user can fix the file.
Messages are normalised to what chat templates expect (content "" for null, tool-call
arguments as objects), once, so the trainer and the token counter see the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from openmaas.finetune.errors import DatasetInvalid

ROLES = ("system", "user", "assistant", "tool")
FUNCTION_SHAPE = '{"type": "function", "function": {"name": ..., "arguments": {...}}}'
MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id", "weight", "reasoning_content"}


@dataclass(frozen=True)
class Example:
    line: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "messages": self.messages, "tools": self.tools}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Example:
        return cls(line=data["line"], messages=data["messages"], tools=data.get("tools"))


class _LineError(Exception):
    """A reason without a line number; `parse_dataset` adds the line."""


def parse_dataset(stream: BinaryIO, field: str, max_examples: int) -> list[Example]:
    examples: list[Example] = []
    for number, raw in _lines(stream, field):
        if not raw.strip():
            continue
        if len(examples) >= max_examples:
            raise DatasetInvalid(field, f"more than {max_examples} examples", number)
        try:
            examples.append(parse_line(raw, number))
        except _LineError as exc:
            raise DatasetInvalid(field, str(exc), number) from None
    if not examples:
        raise DatasetInvalid(field, "the file is empty: it needs at least one JSON line with messages")
    return examples


def _lines(stream: BinaryIO, field: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, start=1):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise DatasetInvalid(field, "not UTF-8 text", number) from None


def parse_line(text: str, number: int) -> Example:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _LineError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _LineError("each line must be a JSON object with a `messages` list")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _LineError("`messages` must be a non-empty list")
    normalised = [_message(m, i) for i, m in enumerate(messages)]
    _check_order(normalised)
    return Example(number, normalised, _tools(data.get("tools")))


def _message(message: Any, index: int) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _LineError(f"{where} must be an object with `role` and `content`")
    role = message.get("role")
    if role not in ROLES:
        raise _LineError(f"{where}.role {role!r} is not one of {', '.join(ROLES)}")
    unknown = set(message) - MESSAGE_KEYS
    if unknown:
        raise _LineError(f"{where} has unknown keys {sorted(unknown)}")
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is not None and not isinstance(content, str):
        raise _LineError(f"{where}.content must be a string")
    if calls is not None and role != "assistant":
        raise _LineError(f"{where}: only assistant messages carry tool_calls")
    if not (content or "").strip() and not calls:
        raise _LineError(f"{where}.content is empty")
    out: dict[str, Any] = {"role": role, "content": content or ""}
    if calls is not None:
        out["tool_calls"] = [
            _tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(_list(calls, where))
        ]
    for key in ("name", "tool_call_id"):
        if message.get(key) is not None:
            out[key] = str(message[key])
    return out


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _LineError(f"{where}.tool_calls must be a non-empty list")
    return value


def _tool_call(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _LineError(f"{where} must be {FUNCTION_SHAPE}")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            raise _LineError(f"{where}.function.arguments is not valid JSON") from None
    if not isinstance(arguments, dict):
        raise _LineError(f"{where}.function.arguments must be a JSON object")
    out = {"type": "function", "function": {"name": function["name"], "arguments": arguments}}
    return out | ({"id": str(call["id"])} if call.get("id") else {})


def _check_order(messages: list[dict[str, Any]]) -> None:
    if any(m["role"] == "system" for m in messages[1:]):
        raise _LineError("a system message may only come first")
    if not any(m["role"] == "assistant" for m in messages):
        raise _LineError("needs at least one assistant message to learn from")
    if messages[-1]["role"] != "assistant":
        raise _LineError("the last message must be the assistant's answer")


def _tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _LineError("`tools` must be a list")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _LineError(f"tools[{i}] must be {FUNCTION_SHAPE}")
    return [{"type": "function", "function": t["function"]} for t in tools] or None


def dump_examples(examples: list[Example]) -> bytes:
    return b"".join(json.dumps(e.to_json(), ensure_ascii=False).encode() + b"\n" for e in examples)


def load_examples(data: bytes) -> list[Example]:
    return [Example.from_json(json.loads(line)) for line in data.splitlines() if line.strip()]
