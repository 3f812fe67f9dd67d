"""Renders a model's own chat template (from GGUF metadata) the way transformers does."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField


def _raise(message: str) -> None:
    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    # jinja's own tojson HTML-escapes '<' and '>', which would corrupt tool schemas.
    return json.dumps(value, ensure_ascii=False, indent=indent)


class ChatTemplate:
    def __init__(self, source: str, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        self._template = env.from_string(source)
        self._specials = {"bos_token": bos_token, "eos_token": eos_token}
        # templates that know kept reasoning (Qwen3: `reasoning_content`) get it as a field;
        # others get it inlined into the content between think tags
        self.takes_reasoning = "reasoning_content" in source

    def render(
        self, messages: list[ChatMessage], tools: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> str:
        """`kwargs` are the template's own switches (`enable_thinking`)."""
        try:
            return self._template.render(
                messages=[self._as_dict(m) for m in messages],
                tools=tools,
                add_generation_prompt=True,
                **kwargs,
                **self._specials,
            )
        except TemplateError as exc:
            raise InvalidField("messages", str(exc)) from exc

    def _as_dict(self, message: ChatMessage) -> dict[str, Any]:
        data = _as_dict(message)
        if message.reasoning_content:
            if self.takes_reasoning:
                data["reasoning_content"] = message.reasoning_content
            else:
                data["content"] = f"<think>\n{message.reasoning_content}\n</think>\n\n{data['content']}"
        return data


def _as_dict(message: ChatMessage) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.tool_calls:
        data["tool_calls"] = [_with_object_arguments(call) for call in message.tool_calls]
    if message.tool_call_id:
        data["tool_call_id"] = message.tool_call_id
    if message.name:
        data["name"] = message.name
    return data


def _with_object_arguments(call: dict[str, Any]) -> dict[str, Any]:
    """Templates print `arguments | tojson`: give them an object, not a JSON string."""
    function = dict(call.get("function") or {})
    if isinstance(function.get("arguments"), str):
        with contextlib.suppress(json.JSONDecodeError):
            function["arguments"] = json.loads(function["arguments"])
    return {**call, "function": function}
