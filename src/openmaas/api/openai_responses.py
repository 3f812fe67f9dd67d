"""The OpenAI Responses API: POST/GET/DELETE /v1/responses, GET /v1/responses/{id}/input_items.

Errors use the OpenAI envelope (the `/v1` surface); streaming uses named SSE events with a
`sequence_number` on each (agents/response_output.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from openmaas.agents.items import normalise_input, parse_tools
from openmaas.agents.response_output import EventWriter
from openmaas.agents.responses import PreparedResponse, ResponseRequest
from openmaas.agents.thinking import clear_thinking, responses_thinking
from openmaas.agents.tool_rounds import RoundEvents
from openmaas.api.chat.routes import SSE_HEADERS, until_disconnect
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.pagination import list_page
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.auth.principal import Principal
from openmaas.chat.structured import TEXT, OutputFormat, parse_response_format
from openmaas.chat.types import SamplingOptions
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InvalidField
from openmaas.services import Services

router = APIRouter(route_class=OffLoopJSONRoute, tags=["responses (OpenAI)"])
MAX_METADATA_KEYS = 16


class ResponsesBody(BaseModel):
    """`responses.create` as the SDKs send it; unknown extra fields (include, …) pass."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[Any] | None = None
    instructions: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    store: bool | None = None
    stream: bool | None = None
    previous_response_id: str | None = Field(default=None, max_length=64)
    metadata: dict[str, str] | None = None
    user: str | None = Field(default=None, max_length=128)
    truncation: Literal["auto", "disabled"] | None = None  # None: "auto" (chained history is fitted)

    def to_request(self) -> ResponseRequest:
        if self.metadata and len(self.metadata) > MAX_METADATA_KEYS:
            raise InvalidField("metadata", f"at most {MAX_METADATA_KEYS} keys")
        return ResponseRequest(
            model=self.model,
            input_items=normalise_input(self.input),
            tools=parse_tools(self.tools, self.tool_choice),
            output=self.output_format(),
            sampling=SamplingOptions(
                temperature=1.0 if self.temperature is None else self.temperature,
                top_p=1.0 if self.top_p is None else self.top_p,
                max_tokens=self.max_output_tokens,
            ),
            instructions=self.instructions,
            previous_response_id=self.previous_response_id,
            store=self.store is not False,
            user=self.user,
            thinking=responses_thinking(self.reasoning),
            clear_thinking=clear_thinking(self.reasoning, "reasoning"),
            truncate=self.truncation != "disabled",
            echo={
                "text": self.text or {"format": {"type": "text"}},
                "tools": self.tools or [],
                "tool_choice": self.tool_choice or "auto",
                "metadata": self.metadata or {},
                "reasoning": {"effort": (self.reasoning or {}).get("effort"), "summary": None},
            },
        )

    def output_format(self) -> OutputFormat:
        """`text.format` ({"type": "json_schema", "name", "schema", "strict"}) in the chat core's
        terms (chat's `response_format` nests the schema one level deeper)."""
        fmt = (self.text or {}).get("format")
        if not fmt:
            return TEXT
        if not isinstance(fmt, dict):
            raise InvalidField("text.format", "must be an object")
        if fmt.get("type") == "json_schema":
            fmt = {"type": "json_schema", "json_schema": {"schema": fmt.get("schema")}}
        try:
            return parse_response_format(fmt)
        except InvalidField as exc:
            raise InvalidField("text.format", exc.message) from exc


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens_details: dict[str, int]


class ResponseObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    model: str
    output: list[dict[str, Any]]
    usage: ResponseUsage | None = None
    previous_response_id: str | None = None
    error: dict[str, Any] | None = None


class ResponseDeleted(BaseModel):
    id: str
    object: Literal["response"] = "response"
    deleted: bool


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


@router.post("/responses", response_model=ResponseObject)
async def create_response(
    body: ResponsesBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    responses = services.agents.responses
    asked = await run_in_threadpool(body.to_request)  # caller schemas: a CPU-heavy check
    prepared = await responses.prepare(principal, asked)
    run = await responses.open(principal, prepared)  # every 4xx is raised here, pre-stream
    if body.stream:
        return RoundsStreamingResponse(run, _stream(services, principal, prepared, run))
    return JSONBody(await until_disconnect(request, responses.complete(principal, prepared, run)))


async def _stream(
    services: Services, principal: Principal, prepared: PreparedResponse, run: RoundEvents
) -> AsyncIterator[bytes]:
    writer = EventWriter()
    async for events in services.agents.responses.events(principal, prepared, run):
        yield writer.frames(events)


class RoundsStreamingResponse(StreamingResponse):
    """SSE for one request's runs; a client gone before the stream began releases the hold."""

    def __init__(self, run: RoundEvents, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=SSE_HEADERS)
        self.run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.run.abandon()


@router.get("/responses/{response_id}", response_model=ResponseObject)
async def get_response(response_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(await services.agents.responses.store.get(principal.account_id, response_id))


@router.delete("/responses/{response_id}", response_model=ResponseDeleted)
async def delete_response(response_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    await services.agents.responses.store.delete(principal.account_id, response_id)
    return JSONBody({"id": response_id, "object": "response", "deleted": True})


@router.get("/responses/{response_id}/input_items", response_model=InputItemList)
async def list_input_items(
    response_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    order: Literal["asc", "desc"] = "desc",
    limit: int = 20,
    after: str | None = None,
) -> JSONBody:
    items = await services.agents.responses.store.input_items(principal.account_id, response_id)
    if order == "desc":
        items = list(reversed(items))
    if after is not None:
        ids = [i.get("id") for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = max(1, min(limit, 100))
    page = items[:limit]
    return JSONBody(list_page(page, len(items) > limit, with_ids=True))
