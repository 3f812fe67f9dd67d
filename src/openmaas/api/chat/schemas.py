"""Chat request bodies per surface; each converts itself into the internal ChatRequest.

Both surfaces tolerate explicit `null` for every optional field (the zhipuai SDK always
sends `response_format: null` and `thinking: null`) and unknown extra fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openmaas.chat.roleplay import with_roleplay
from openmaas.chat.structured import parse_response_format
from openmaas.chat.tools import ToolSpec, parse_choice, parse_function_tools
from openmaas.chat.types import ChatRequest, SamplingOptions
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField, ModelUnsupported

MAX_STOP_SEQUENCES = 4
TOOL_TYPES = ("function", "retrieval", "web_search", "mcp")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def to_message(self, index: int) -> ChatMessage:
        role = "system" if self.role == "developer" else self.role
        if self.content is None and not self.tool_calls:
            raise InvalidField(f"messages[{index}].content", "must not be null")
        return ChatMessage(role=role, content=self._text(index), tool_calls=self.tool_calls,
                           tool_call_id=self.tool_call_id, name=self.name)

    def _text(self, index: int) -> str | None:
        if self.content is None or isinstance(self.content, str):
            return self.content
        if any(part.type != "text" for part in self.content):
            raise InvalidField(f"messages[{index}].content",
                               "only text parts are supported by the text models")
        return "".join(part.text or "" for part in self.content)


class ChatBody(BaseModel):
    """Fields both surfaces share."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[WireMessage]
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool | None = None
    seed: int | None = None
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else (value or [])
        if len(stops) > MAX_STOP_SEQUENCES or any(not s for s in stops):
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} non-empty strings")
        return value

    def stop_sequences(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def internal_messages(self) -> list[ChatMessage]:
        if not self.messages:
            raise InvalidField("messages", "must contain at least one message")
        return [m.to_message(i) for i, m in enumerate(self.messages)]

    def tool_spec(self) -> ToolSpec | None:
        """Function tools (validated) and tool_choice; `retrieval` tools are served on the chat
        path by knowledge/retrieval_tool.py (routes.py), `web_search` by chat/web_search.py."""
        if not self.tools:
            if self.tool_choice not in (None, "auto", "none"):
                raise InvalidField("tool_choice", "no tools were given")
            return None
        for i, tool in enumerate(self.tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind == "mcp":
                raise ModelUnsupported(self.model, "mcp tools")
            if kind not in TOOL_TYPES:
                raise InvalidField(f"tools[{i}].type", f"one of {', '.join(TOOL_TYPES)}")
        functions = parse_function_tools(self.tools)
        return ToolSpec(functions, parse_choice(self.tool_choice, functions))

    def common_fields(self) -> dict[str, Any]:
        return {"model": self.model, "request_id": self.request_id, "tools": self.tool_spec(),
                "output": parse_response_format(self.response_format)}


class ZhipuChatBody(ChatBody):
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    do_sample: bool | None = None
    thinking: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    sensitive_word_check: dict[str, Any] | None = None

    def to_chat_request(self) -> ChatRequest:
        return ChatRequest(
            messages=with_roleplay(self.internal_messages(), self.meta),
            sampling=SamplingOptions(temperature=self.temperature, top_p=self.top_p,
                                     do_sample=self.do_sample is not False,
                                     max_tokens=self.max_tokens, stop=self.stop_sequences(),
                                     seed=self.seed),
            user_id=self.user_id, **self.common_fields())


class StreamOptions(BaseModel):
    include_usage: bool | None = None


class OpenAIChatBody(ChatBody):
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=1)
    stream_options: StreamOptions | None = None
    user: str | None = None

    def to_chat_request(self) -> ChatRequest:
        return ChatRequest(
            messages=self.internal_messages(),
            sampling=SamplingOptions(
                temperature=1.0 if self.temperature is None else self.temperature,
                top_p=1.0 if self.top_p is None else self.top_p,
                max_tokens=self.max_completion_tokens or self.max_tokens,
                stop=self.stop_sequences(), seed=self.seed),
            user_id=self.user or self.user_id, **self.common_fields())

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
