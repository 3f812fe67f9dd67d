"""OpenAI Responses input items → chat messages, and Responses tools → the chat core's tools.

Items accepted (everything the `openai` SDK and the Agents SDK send back): messages (with
or without `"type": "message"`, string or `input_text`/`output_text` parts), `function_call`,
`function_call_output`, and `reasoning` (replayed as the next assistant turn's
`reasoning_content`; agents/thinking.py decides which turns keep it).
Anything else is refused with the item's index in `param`, before anything runs or is stored.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from openmaas.agents.thinking import reasoning_text
from openmaas.chat.tools import ToolSpec, parse_choice, parse_function_tools
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField, MissingField

MESSAGE_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
TEXT_PARTS = ("input_text", "output_text", "text", "refusal")
BUILTIN_TOOLS = ("file_search", "web_search", "web_search_preview", "mcp")


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def normalise_input(raw: str | list[Any] | None) -> list[dict[str, Any]]:
    """The request's `input` as a list of typed items (each with an id, as they are stored)."""
    if raw is None:
        raise MissingField("input")
    if isinstance(raw, str):
        return [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": raw}],
                "id": new_item_id("msg"),
            }
        ]
    items = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidField(f"input[{index}]", "must be an object")
        items.append(_normalise_item(item, index))
    if not items:
        raise InvalidField("input", "must contain at least one item")
    return items


def _normalise_item(item: dict[str, Any], index: int) -> dict[str, Any]:
    kind = item.get("type") or ("message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            raise InvalidField(f"input[{index}].role", f"one of {', '.join(MESSAGE_ROLES)}")
        text = _message_text(item.get("content"), index)
        part = "output_text" if role == "assistant" else "input_text"
        return {
            "type": "message",
            "role": role,
            "content": [{"type": part, "text": text}],
            "id": item.get("id") or new_item_id("msg"),
        }
    if kind == "function_call":
        return _function_call(item, index)
    if kind == "function_call_output":
        return {
            "type": "function_call_output",
            "call_id": _required_str(item, "call_id", index),
            "output": _output_text(item.get("output"), index),
            "id": item.get("id") or new_item_id("fco"),
        }
    if kind == "reasoning":
        reasoning_text(item.get("content"), f"input[{index}].content")
        reasoning_text(item.get("summary"), f"input[{index}].summary")
        return {**item, "type": kind, "id": item.get("id") or new_item_id("rs")}
    raise InvalidField(
        f"input[{index}].type",
        f"unsupported item type {kind!r} (message, function_call, function_call_output, reasoning)",
    )


def _function_call(item: dict[str, Any], index: int) -> dict[str, Any]:
    arguments = item.get("arguments")
    if not isinstance(arguments, str):
        raise InvalidField(f"input[{index}].arguments", "must be a JSON string")
    try:
        json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise InvalidField(f"input[{index}].arguments", "must be a JSON string") from exc
    return {
        "type": "function_call",
        "call_id": _required_str(item, "call_id", index),
        "name": _required_str(item, "name", index),
        "arguments": arguments,
        "id": item.get("id") or new_item_id("fc"),
        "status": "completed",
    }


def _required_str(item: dict[str, Any], key: str, index: int) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise MissingField(f"input[{index}].{key}")
    return value


def _message_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidField(f"input[{index}].content", "a string or a list of text parts")
    texts = []
    for part_index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in TEXT_PARTS:
            raise InvalidField(
                f"input[{index}].content[{part_index}].type",
                f"only text parts ({', '.join(TEXT_PARTS)}) are supported by the text models",
            )
        texts.append(str(part.get("text") or part.get("refusal") or ""))
    return "".join(texts)


def _output_text(output: Any, index: int) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):  # newer SDKs send a list of content parts
        return _message_text(output, index)
    raise InvalidField(f"input[{index}].output", "a string or a list of text parts")


# --- items → chat messages ---------------------------------------------------------------------
def items_to_messages(items: list[dict[str, Any]]) -> list[ChatMessage]:
    """Stored/normalised items in order → chat messages; consecutive function calls become one
    assistant message with several tool calls, as the chat templates expect."""
    messages: list[ChatMessage] = []
    reasoning = ""  # a reasoning item's text, for the assistant turn that follows it
    for item in items:
        kind = item["type"]
        if kind == "reasoning":
            reasoning += _item_reasoning(item)
            continue
        if kind == "message":
            text = "".join(part.get("text") or "" for part in item["content"])
            role = MESSAGE_ROLES[item["role"]]
            kept = reasoning if role == "assistant" else ""
            messages.append(ChatMessage(role, text, reasoning_content=kept or None))
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and last.tool_calls and not last.content:
                kept = (last.reasoning_content or "") + reasoning
                messages[-1] = ChatMessage(
                    "assistant", None, [*last.tool_calls, call], reasoning_content=kept or None
                )
            else:
                messages.append(ChatMessage("assistant", None, [call], reasoning_content=reasoning or None))
        elif kind == "function_call_output":
            messages.append(ChatMessage("tool", item["output"], tool_call_id=item["call_id"]))
        reasoning = ""
    return messages


def _item_reasoning(item: dict[str, Any]) -> str:
    """A reasoning item's full text, else its summary (what a client kept of it)."""
    return reasoning_text(item.get("content"), "content") or reasoning_text(item.get("summary"), "summary")


def check_call_outputs(history: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """Every `function_call_output` answers a `function_call` made earlier (in the chain or in
    this input); named by its index in this request's `input`."""
    called = {i["call_id"] for i in history if i["type"] == "function_call"}
    for index, item in enumerate(items):
        if item["type"] == "function_call":
            called.add(item["call_id"])
        elif item["type"] == "function_call_output" and item["call_id"] not in called:
            raise InvalidField(
                f"input[{index}].call_id", f"no earlier function_call has call_id {item['call_id']!r}"
            )


# --- tools ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResponsesTools:
    functions: ToolSpec | None
    file_search: dict[str, Any] | None = None
    web_search: dict[str, Any] | None = None
    mcp: tuple[tuple[str, dict[str, Any]], ...] = ()  # (where in the request, the tool)


def parse_tools(raw: list[Any] | None, choice: Any) -> ResponsesTools:
    """Responses tools are flat (`{"type": "function", "name", "parameters"}`); the chat core
    takes the nested chat form, whose validation (names, JSON Schemas) is reused."""
    file_search = web_search = None
    mcp: list[tuple[str, dict[str, Any]]] = []
    chat_form = []
    for index, tool in enumerate(raw or []):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function":
            chat_form.append(
                {
                    "type": "function",
                    "function": {
                        "name": tool.get("name"),
                        "description": tool.get("description"),
                        "parameters": tool.get("parameters"),
                    },
                }
            )
        elif kind == "file_search":
            file_search = _file_search(tool, index)
        elif kind in ("web_search", "web_search_preview"):
            web_search = tool
        elif kind == "mcp":
            mcp.append((f"tools[{index}]", tool))
        else:
            raise InvalidField(
                f"tools[{index}].type",
                f"unsupported tool type {kind!r} (function, {', '.join(BUILTIN_TOOLS)})",
            )
    functions = parse_function_tools(chat_form)
    spec = ToolSpec(functions, parse_choice(_chat_choice(choice), functions)) if functions else None
    if spec is None and choice not in (None, "auto", "none"):
        raise InvalidField("tool_choice", "no function tools were given")
    return ResponsesTools(spec, file_search, web_search, tuple(mcp))


def _chat_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if isinstance(choice, dict):
        raise InvalidField("tool_choice", 'auto, none, required or {"type": "function", "name": ...}')
    return choice


def _file_search(tool: dict[str, Any], index: int) -> dict[str, Any]:
    ids = tool.get("vector_store_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InvalidField(f"tools[{index}].vector_store_ids", "a non-empty list of knowledge base ids")
    count = tool.get("max_num_results")
    if count is not None and (not isinstance(count, int) or not 1 <= count <= 50):
        raise InvalidField(f"tools[{index}].max_num_results", "an integer 1–50")
    return tool
