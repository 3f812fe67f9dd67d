"""Function tools: validation, the tool-call grammar, and lenient parsing of model output.

Small models often answer a tool request with fenced or bare JSON instead of the
`<tool_call>` tags their template asks for. We accept all three when parsing, and when
a call must be guaranteed we constrain decoding with a grammar built from the tools'
JSON schemas, so the name is one of the tools and the arguments match its schema.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from openmaas.chat.schema_guard import check_user_schema, is_valid
from openmaas.engines.grammar import (
    JSON_OBJECT_SCHEMA,
    GrammarError,
    best_grammar_schema,
    canonical,
    gbnf_parses,
    schema_to_gbnf,
)
from openmaas.errors import InvalidField

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOLS = 128
MAX_TOOLS_SCHEMA_CHARS = 128 * 1024  # all tools' parameter schemas together
TOOL_CALL_TOKEN = "<tool_call>"
CHOICES = ("auto", "none", "required")


@dataclass(frozen=True)
class FunctionTool:
    name: str
    description: str
    parameters: dict[str, Any]

    def template_form(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolSpec:
    functions: tuple[FunctionTool, ...]
    choice: str = "auto"  # auto | none | required | <function name>

    @property
    def forced_name(self) -> str | None:
        return None if self.choice in CHOICES else self.choice


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON string, as both SDKs expect

    def wire(self, index: int | None = None) -> dict[str, Any]:
        call = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
        return call if index is None else {"index": index, **call}


def parse_function_tools(raw: list[dict[str, Any]]) -> tuple[FunctionTool, ...]:
    if len(raw) > MAX_TOOLS:
        raise InvalidField("tools", f"at most {MAX_TOOLS} tools")
    functions, size = [], 0
    for i, tool in enumerate(raw):
        if tool.get("type") == "function":
            function, schema_size = _function(tool.get("function"), f"tools[{i}].function")
            functions.append(function)
            size += schema_size
            if size > MAX_TOOLS_SCHEMA_CHARS:
                raise InvalidField(
                    "tools",
                    f"the tools' schemas may have at most {MAX_TOOLS_SCHEMA_CHARS} characters together",
                )
    names = [f.name for f in functions]
    if len(set(names)) != len(names):
        raise InvalidField("tools", "function names must be unique")
    return tuple(functions)


def _function(spec: Any, field: str) -> tuple[FunctionTool, int]:
    if not isinstance(spec, dict):
        raise InvalidField(field, "must be an object")
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidField(f"{field}.name", "must match ^[a-zA-Z0-9_-]{1,64}$")
    parameters = spec.get("parameters") or {"type": "object", "properties": {}}
    size = check_user_schema(parameters, f"{field}.parameters")
    return FunctionTool(name, str(spec.get("description") or ""), parameters), size


def parse_choice(choice: str | dict[str, Any] | None, functions: tuple[FunctionTool, ...]) -> str:
    if choice is None:
        return "auto"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" else None
        if not isinstance(name, str):
            raise InvalidField("tool_choice", 'expected {"type": "function", "function": {"name": ...}}')
        choice = name
    if choice in CHOICES:
        return choice
    if choice not in {f.name for f in functions}:
        raise InvalidField("tool_choice", f"no tool named {choice!r}")
    return choice


def check_tool_messages(messages: list) -> None:
    """Every tool result must answer a call made earlier in the conversation."""
    called: set[str] = set()
    for i, message in enumerate(messages):
        for call in message.tool_calls or []:
            if isinstance(call, dict) and call.get("id"):
                called.add(str(call["id"]))
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidField(f"messages[{i}].tool_call_id", "a tool message needs tool_call_id")
            if message.tool_call_id not in called:
                raise InvalidField(
                    f"messages[{i}].tool_call_id",
                    f"no earlier assistant tool call has id {message.tool_call_id!r}",
                )


# --- the grammar --------------------------------------------------------------------------
def tool_call_grammar(
    functions: tuple[FunctionTool, ...],
    forced_name: str | None = None,
    max_calls: int = 3,
    loose: bool = False,
) -> str:
    """GBNF: one to `max_calls` `<tool_call>` blocks, each {"name": .., "arguments": ..}.
    Each function's arguments get the tightest grammar llama.cpp accepts for its schema
    (engines/grammar.py); `loose` gives any JSON object (cheap: the fallback when time runs
    out). CPU-bound on a new schema: callers on the event loop run it in a thread."""
    chosen = tuple(
        (f.name, canonical(_object_schema(f.parameters))) for f in functions if forced_name in (None, f.name)
    )
    return _tool_call_grammar(chosen, max_calls, loose)


@lru_cache(maxsize=64)  # keys and grammars are bounded (MAX_TOOLS_SCHEMA_CHARS, MAX_GRAMMAR_CHARS)
def _tool_call_grammar(chosen: tuple[tuple[str, str], ...], max_calls: int, loose: bool) -> str:
    if not loose:
        try:
            grammar = _assemble(
                [(name, best_grammar_schema(json.loads(schema))) for name, schema in chosen], max_calls
            )
        except GrammarError:
            grammar = ""
        if grammar and gbnf_parses(grammar):
            return grammar
    return _assemble([(name, JSON_OBJECT_SCHEMA) for name, _ in chosen], max_calls)


def _assemble(arguments: list[tuple[str, dict[str, Any]]], max_calls: int) -> str:
    schema = {
        "oneOf": [
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": args},
                "required": ["name", "arguments"],
            }
            for name, args in arguments
        ]
    }
    body = schema_to_gbnf(schema, root_name="call")
    block = 'block ::= "<tool_call>\\n" call "\\n</tool_call>"'
    repeats = " ".join(['("\\n" block)?'] * (max_calls - 1))
    return f"root ::= block {repeats}\n{block}\n{body}"


def _object_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    return parameters if parameters.get("properties") or parameters.get("type") else {"type": "object"}


# --- parsing --------------------------------------------------------------------------------
TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.S)
# `{{"name"`: the doubled braces of a template's escaped example, which small models copy;
# `[{"name"`: several calls written as one JSON list
MARKERS = ("<tool_call>", '```json{"name"', '{"name"', '{{"name"', '[{"name"')
# An answer in prose: it may not open with JSON, a tag, a fence or a list of calls.
PROSE_GRAMMAR = r"root ::= [^{<\x60\x5b \t\n] [^\x00]*"
ANSWER_NUDGE = (
    "Answer the user's last question now, in natural language, using the tool results "
    "above. Do not call any tool. 请直接用自然语言回答，不要再调用工具。"
)


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def parse_tool_calls(text: str, functions: tuple[FunctionTool, ...]) -> list[ToolCall]:
    """Calls found in tagged, fenced or bare JSON; each must name a tool and match its schema."""
    by_name = {f.name: f for f in functions}
    pieces = TAGGED.findall(text) or FENCED.findall(text) or json_objects(text)
    calls = []
    for piece in pieces:
        call = _parse_one(piece, by_name)
        if call is not None:
            calls.append(call)
    return calls


def json_objects(text: str) -> list[str]:
    """Bare JSON objects one after another (small models list calls line by line)."""
    decoder, found, position = json.JSONDecoder(strict=False), [], 0
    while (start := text.find("{", position)) >= 0:
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        found.append(text[start:end])
        position = end
    return found or [text.strip()]


def _parse_one(piece: str, by_name: dict[str, FunctionTool]) -> ToolCall | None:
    try:
        data = json.loads(piece, strict=False)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("name") not in by_name:
        return None
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments, strict=False)
        except json.JSONDecodeError:
            return None
    if not is_valid(arguments, by_name[data["name"]].parameters):
        return None
    return ToolCall(new_call_id(), data["name"], json.dumps(arguments, ensure_ascii=False))


def tool_call_verdict(prefix: str) -> bool | None:
    """Does the output so far start a tool call? None while it cannot be told yet."""
    squeezed = re.sub(r"\s+", "", prefix)
    if not squeezed:
        return None
    if any(squeezed.startswith(marker) for marker in MARKERS):
        return True
    if any(marker.startswith(squeezed) for marker in MARKERS):
        return None
    return False


def same_call(earlier: dict[str, Any], call: ToolCall, function: FunctionTool) -> bool:
    """An earlier call to the same function with the same required arguments (a small model
    re-asking with only an optional argument changed is still asking the same thing)."""
    previous = earlier.get("function") or {}
    if previous.get("name") != call.name:
        return False
    try:
        before = previous.get("arguments")
        before = json.loads(before) if isinstance(before, str) else before
        now = json.loads(call.arguments)
    except (json.JSONDecodeError, TypeError):
        return False
    if not isinstance(before, dict) or not isinstance(now, dict):
        return before == now
    keys = function.parameters.get("required") or sorted(set(before) | set(now))
    return all(before.get(k) == now.get(k) for k in keys)
