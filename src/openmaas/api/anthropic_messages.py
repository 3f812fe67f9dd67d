"""The Anthropic Messages API: POST /v1/messages and /v1/messages/count_tokens.

Auth: `x-api-key: <platform key>` (what the `anthropic` SDK sends) or `Authorization: Bearer`.
Errors: Anthropic's envelope `{"type": "error", "error": {"type", "message"}}` (api/errors.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from openmaas.agents.anthropic import (
    MessageTranslation,
    chat_tool_choice,
    chat_tools,
    sse_frame,
    sse_frames,
    to_chat_messages,
)
from openmaas.agents.thinking import anthropic_thinking, clear_thinking, keep_recent_reasoning
from openmaas.api.chat.routes import until_disconnect
from openmaas.api.deps import ServicesDep
from openmaas.api.errors import anthropic_error_body
from openmaas.api.openai_responses import RoundsStreamingResponse
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.auth.principal import Principal
from openmaas.chat.structured import TEXT, OutputFormat, parse_response_format
from openmaas.chat.tools import ToolSpec, parse_choice, parse_function_tools
from openmaas.chat.types import ChatRequest, SamplingOptions
from openmaas.concurrency import run_in_threadpool
from openmaas.engines.base import ChatMessage
from openmaas.errors import InternalFailure, InvalidField, PlatformError

router = APIRouter(route_class=OffLoopJSONRoute, tags=["messages (Anthropic)"])
ENDPOINT = "messages"
MAX_STOP_SEQUENCES = 8


async def anthropic_principal(
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    header = authorization or (f"Bearer {x_api_key}" if x_api_key else None)
    return await services.authenticator.authenticate_async(header)


AnthropicPrincipal = Annotated[Principal, Depends(anthropic_principal)]


class MessagesBody(BaseModel):
    """`messages.create` as the `anthropic` SDK sends it."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[Any] | None = None
    stop_sequences: list[str] | None = Field(default=None, max_length=MAX_STOP_SEQUENCES)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    stream: bool | None = None
    tools: list[Any] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None  # {"format": {"type": "json_schema", "schema"}}

    def to_chat_request(self) -> ChatRequest:
        if any(not s for s in self.stop_sequences or []):
            raise InvalidField("stop_sequences", "must be non-empty strings")
        user = (self.metadata or {}).get("user_id")
        return ChatRequest(
            model=self.model,
            thinking=anthropic_thinking(self.thinking),
            messages=prompt_messages(self.messages, self.system, self.thinking),
            sampling=SamplingOptions(
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                stop=tuple(self.stop_sequences or ()),
            ),
            tools=self.tool_spec(),
            output=self.output_format(),
            user_id=str(user)[:128] if user else None,
        )

    def output_format(self) -> OutputFormat:
        fmt = (self.output_config or {}).get("format")
        if not fmt:
            return TEXT
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            raise InvalidField("output_config.format", '{"type": "json_schema", "schema": {...}}')
        try:
            schema = {"schema": fmt.get("schema")}
            return parse_response_format({"type": "json_schema", "json_schema": schema})
        except InvalidField as exc:
            raise InvalidField("output_config.format.schema", exc.message) from exc

    def tool_spec(self) -> ToolSpec | None:
        functions = parse_function_tools(chat_tools(self.tools))
        choice = chat_tool_choice(self.tool_choice)
        if not functions:
            if choice not in (None, "auto", "none"):
                raise InvalidField("tool_choice", "no tools were given")
            return None
        return ToolSpec(functions, parse_choice(choice, functions))


def prompt_messages(
    messages: list[dict[str, Any]], system: str | list[Any] | None, thinking: dict[str, Any] | None
) -> list[ChatMessage]:
    return keep_recent_reasoning(to_chat_messages(messages, system), clear_thinking(thinking, "thinking"))


class CountTokensBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[Any] | None = None
    tools: list[Any] | None = None
    thinking: dict[str, Any] | None = None

    def chat_messages(self) -> list[ChatMessage]:
        """The messages as `create` would send them (earlier turns' thinking cleared alike)."""
        return prompt_messages(self.messages, self.system, self.thinking)


class AnthropicUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0  # no prompt cache here: always 0
    cache_read_input_tokens: int = 0


class MessageObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: AnthropicUsage


class TokenCount(BaseModel):
    input_tokens: int


@router.post("/messages", response_model=MessageObject)
async def create_message(
    body: MessagesBody, request: Request, services: ServicesDep, principal: AnthropicPrincipal
) -> Response:
    chat = await run_in_threadpool(body.to_chat_request)  # caller schemas: a CPU-heavy check
    run = await services.agents.rounds.open(principal, chat, ENDPOINT)
    translation = MessageTranslation(run, body.model)
    if body.stream:
        return RoundsStreamingResponse(run, _stream(translation))
    return JSONBody(await until_disconnect(request, translation.complete()))


async def _stream(translation: MessageTranslation) -> AsyncIterator[bytes]:
    try:
        async for events in translation.events():
            yield sse_frames(events)
    except PlatformError as exc:
        yield sse_frame("error", {"error": anthropic_error_body(exc)["error"]})
    except Exception:
        yield sse_frame("error", {"error": anthropic_error_body(InternalFailure())["error"]})


@router.post("/messages/count_tokens", response_model=TokenCount)
async def count_tokens(
    body: CountTokensBody, services: ServicesDep, principal: AnthropicPrincipal
) -> JSONBody:
    entry = services.catalog.resolve(body.model, principal.account_id)
    tools = chat_tools(body.tools)
    await run_in_threadpool(parse_function_tools, tools)  # the same validation as a real call
    thinking = anthropic_thinking(body.thinking)
    prompt = await entry.engine.prepare(body.chat_messages(), tools or None, thinking)
    return JSONBody({"input_tokens": prompt.token_count})
