"""Chat request bodies per surface; each converts itself into the internal ChatRequest.

Both surfaces tolerate explicit `null` for every optional field (the zhipuai SDK always
sends `response_format: null` and `thinking: null`) and unknown extra fields.

Fields today's SDKs send, on both surfaces, and what they do here:
- `thinking` `{"type": "enabled"|"disabled", "clear_thinking": bool}`: switches a thinking
  model's reasoning on or off (catalog `thinking`); models that do not think ignore it and
  answer with `reasoning_content: null`. Any other type is 1214 naming `thinking.type`.
- `clear_thinking` (also top level): false keeps the `reasoning_content` of earlier
  assistant turns in the prompt ("preserved thinking"); true (the default) drops it, except
  for the assistant turns after the last user message (the tool loop in progress:
  interleaved thinking).
- `reasoning_effort` (OpenAI, zai-sdk): `none` switches thinking off, any other level on;
  forwarded to upstreams that think.
- `tool_stream` (with `stream`): tool-call arguments stream as they are generated.
- `do_sample`: false samples greedily. `request_id`: the answer's id (a reused one is 1231).
  `user_id`: the end user, recorded nowhere else (≤128 characters). `meta`: role-play.
- `sensitive_word_check` `{"type": "ALL", "status": "ENABLE"|"DISABLE"}` (both surfaces): the
  prompt and the answer are checked by the platform's term lists (chat/moderation_gate.py):
  a blocked prompt is 1301, a blocked answer stops with `finish_reason: "sensitive"`
  (`content_filter` on /v1). Without it, `tools.moderation.check_chat_by_default` decides.
- `watermark_enabled`: accepted and ignored — there is no AIGC watermarking of text here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openmaas.api.chat.content import parse_parts
from openmaas.chat.moderation_gate import parse_sensitive_word_check
from openmaas.chat.roleplay import with_roleplay
from openmaas.chat.structured import parse_response_format
from openmaas.chat.tools import ToolSpec, parse_choice, parse_function_tools
from openmaas.chat.types import ChatRequest, SamplingOptions
from openmaas.engines.base import ChatMessage, Thinking
from openmaas.errors import InvalidField

MAX_STOP_SEQUENCES = 4
TOOL_TYPES = ("function", "retrieval", "web_search", "mcp")
THINKING_TYPES = ("enabled", "disabled")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[Any] | None = None  # parts are checked by api/chat/content.py
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    reasoning_content: str | None = None  # an assistant turn's thinking, sent back

    def to_message(self, index: int, keep_reasoning: bool = False) -> ChatMessage:
        role = "system" if self.role == "developer" else self.role
        if self.content is None and not self.tool_calls:
            raise InvalidField(f"messages[{index}].content", "must not be null")
        text, parts = None, None
        if isinstance(self.content, list):
            parsed = parse_parts(self.content, f"messages[{index}].content")
            text, parts = parsed.text, parsed.parts
        else:
            text = self.content
        reasoning = self.reasoning_content if role == "assistant" and keep_reasoning else None
        return ChatMessage(
            role=role,
            content=text,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            name=self.name,
            reasoning_content=reasoning or None,
            parts=parts,
        )


MAX_MESSAGES = 4096  # messages in one chat request (bench/hostile_tenant.py `bodies`)


class ChatBody(BaseModel):
    """Fields both surfaces share."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    # a cap that pydantic checks while it parses: 100 000 tiny messages (3 MB) took ~0.4 s of
    # validation on the event loop before any other check could refuse them
    messages: list[WireMessage] = Field(max_length=MAX_MESSAGES)
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
    thinking: dict[str, Any] | None = None
    clear_thinking: bool | None = None
    reasoning_effort: str | None = None
    tool_stream: bool | None = None
    sensitive_word_check: Any = None  # checked by parse_sensitive_word_check (1214)

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
        clear = self.clear_thinking_requested()
        last_user = max((i for i, m in enumerate(self.messages) if m.role == "user"), default=-1)
        return [
            m.to_message(i, keep_reasoning=not clear or i > last_user) for i, m in enumerate(self.messages)
        ]

    def thinking_request(self) -> Thinking:
        """`thinking.type` and `reasoning_effort` (an explicit type wins over the effort)."""
        enabled = None
        if self.thinking is not None:
            kind = self.thinking.get("type")
            if kind not in THINKING_TYPES:
                raise InvalidField("thinking.type", 'must be "enabled" or "disabled"')
            enabled = kind == "enabled"
        effort = self.reasoning_effort
        if effort is not None:
            if effort not in REASONING_EFFORTS:
                raise InvalidField("reasoning_effort", f"one of {', '.join(REASONING_EFFORTS)}")
            enabled = effort != "none" if enabled is None else enabled
        return Thinking(enabled, effort if effort not in (None, "none") else None)

    def clear_thinking_requested(self) -> bool:
        inner = (self.thinking or {}).get("clear_thinking")
        if inner is not None and not isinstance(inner, bool):
            raise InvalidField("thinking.clear_thinking", "must be a boolean")
        value = inner if inner is not None else self.clear_thinking
        return True if value is None else value

    def tool_spec(self) -> ToolSpec | None:
        """Function tools (validated) and tool_choice; `retrieval` tools are served on the chat
        path by knowledge/retrieval_tool.py (routes.py), `web_search` by chat/web_search.py."""
        if not self.tools:
            if self.tool_choice not in (None, "auto", "none"):
                raise InvalidField("tool_choice", "no tools were given")
            return None
        for i, tool in enumerate(self.tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind not in TOOL_TYPES:
                raise InvalidField(f"tools[{i}].type", f"one of {', '.join(TOOL_TYPES)}")
        functions = parse_function_tools(self.tools)
        return ToolSpec(functions, parse_choice(self.tool_choice, functions))

    def mcp_tools(self) -> list[tuple[str, dict[str, Any]]]:
        """`mcp` tools with where they were, run by the platform (agents/tool_rounds.py)."""
        return [
            (f"tools[{i}]", t)
            for i, t in enumerate(self.tools or [])
            if isinstance(t, dict) and t.get("type") == "mcp"
        ]

    def common_fields(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "request_id": self.request_id,
            "tools": self.tool_spec(),
            "output": parse_response_format(self.response_format),
            "thinking": self.thinking_request(),
            "tool_stream": bool(self.stream and self.tool_stream),
            "sensitive_check": parse_sensitive_word_check(self.sensitive_word_check),
        }


class ZhipuChatBody(ChatBody):
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    do_sample: bool | None = None
    meta: dict[str, Any] | None = None
    watermark_enabled: bool | None = None  # accepted; text carries no watermark here

    def to_chat_request(self) -> ChatRequest:
        return ChatRequest(
            messages=with_roleplay(self.internal_messages(), self.meta),
            sampling=SamplingOptions(
                temperature=self.temperature,
                top_p=self.top_p,
                do_sample=self.do_sample is not False,
                max_tokens=self.max_tokens,
                stop=self.stop_sequences(),
                seed=self.seed,
            ),
            user_id=self.user_id,
            **self.common_fields(),
        )


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
                stop=self.stop_sequences(),
                seed=self.seed,
            ),
            user_id=self.user or self.user_id,
            **self.common_fields(),
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
