"""The Zhipu assistant API (`/api/paas/v4/assistant*`) and the management of an account's
assistants (`/api/paas/v4/assistants`).

POST /assistant is what `client.assistant.conversation(...)` sends: JSON, or SSE `data:` lines
of `AssistantCompletion` chunks ending in `data: [DONE]` when `stream` is true.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from openmaas.agents.assistants import AssistantSpec, AssistantView, ConversationView, Turn
from openmaas.api.chat.routes import until_disconnect
from openmaas.api.chat.wire import DONE, sse
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.errors import error_body
from openmaas.api.openai_responses import RoundsStreamingResponse
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.errors import InternalFailure, InvalidField, PlatformError
from openmaas.services import Services

router = APIRouter(route_class=OffLoopJSONRoute, tags=["assistant (Zhipu v4)"])
CONVERSATIONS_PAGE_SIZE = 10


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ConversationMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["user"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ConversationBody(BaseModel):
    """`client.assistant.conversation(...)`: the SDK sends every key, most as null."""

    model_config = ConfigDict(extra="allow")

    assistant_id: str = Field(min_length=1, max_length=64)
    messages: list[ConversationMessage] = Field(min_length=1)
    conversation_id: str | None = Field(default=None, max_length=64)
    stream: bool | None = None
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)

    def turn_messages(self) -> list[dict[str, str]]:
        if self.attachments:
            raise InvalidField(
                "attachments", "not supported: add documents to the assistant's knowledge bases"
            )
        return [{"role": "user", "content": m.text()} for m in self.messages]


class SupportBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    assistant_id_list: list[str] | None = None


class ConversationListBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    assistant_id: str = Field(min_length=1)
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=CONVERSATIONS_PAGE_SIZE, ge=1, le=100)


class AssistantCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=128)
    instructions: str = Field(default="", max_length=32_000)
    description: str = Field(default="", max_length=2_000)
    tools: list[dict[str, Any]] = Field(default_factory=list, max_length=32)
    starter_prompts: list[str] = Field(default_factory=list, max_length=16)


class AssistantPublic(BaseModel):
    id: str
    object: Literal["assistant"] = "assistant"
    name: str
    description: str
    instructions: str
    model: str
    tools: list[dict[str, Any]]
    starter_prompts: list[str]
    created_at: int
    updated_at: int


class AssistantsPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[AssistantPublic]


class AssistantDeleted(BaseModel):
    id: str
    deleted: bool


class AssistantCompletion(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    conversation_id: str
    assistant_id: str
    created: int
    status: str
    choices: list[dict[str, Any]]
    usage: dict[str, int] | None = None


class SupportResponse(BaseModel):
    code: int
    msg: str
    data: list[dict[str, Any]]


class ConversationListResponse(BaseModel):
    code: int
    msg: str
    data: dict[str, Any]


def _public(view: AssistantView) -> dict[str, Any]:
    return {
        "id": view.id,
        "object": "assistant",
        "name": view.name,
        "description": view.description,
        "instructions": view.instructions,
        "model": view.model,
        "tools": view.tools,
        "starter_prompts": view.starter_prompts,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


def assistants_page(views: list[AssistantView]) -> dict[str, Any]:
    return {"object": "list", "data": [_public(v) for v in views]}


def conversations_body(assistant_id: str, found: list[ConversationView], more: bool) -> dict[str, Any]:
    return {
        "code": 200,
        "msg": "success",
        "data": {
            "assistant_id": assistant_id,
            "has_more": more,
            "conversation_list": [c.wire() for c in found],
        },
    }


# --- management --------------------------------------------------------------------------------
@router.post("/assistants", response_model=AssistantPublic)
async def create_assistant(body: AssistantCreate, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    services.catalog.resolve(body.model, principal.account_id)  # 1211 now, not at the first turn
    view = await services.agents.assistants.create(principal, AssistantSpec(**body.model_dump()))
    return JSONBody(_public(view))


@router.get("/assistants", response_model=AssistantsPublic)
async def list_assistants(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(assistants_page(await services.agents.assistants.listed(principal)))


@router.get("/assistants/{assistant_id}", response_model=AssistantPublic)
async def get_assistant(assistant_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(_public(await services.agents.assistants.get(principal, assistant_id)))


@router.delete("/assistants/{assistant_id}", response_model=AssistantDeleted)
async def delete_assistant(assistant_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    await services.agents.assistants.delete(principal, assistant_id)
    return JSONBody({"id": assistant_id, "deleted": True})


# --- the SDK's assistant API ---------------------------------------------------------------------
@router.post("/assistant/list", response_model=SupportResponse)
async def query_support(body: SupportBody, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    views = await services.agents.assistants.listed(principal, body.assistant_id_list)
    return JSONBody({"code": 200, "msg": "success", "data": [v.support_wire() for v in views]})


@router.post("/assistant/conversation/list", response_model=ConversationListResponse)
async def query_conversations(
    body: ConversationListBody, services: ServicesDep, principal: PrincipalDep
) -> JSONBody:
    found, more = await services.agents.assistants.conversations(
        principal, body.assistant_id, body.page, body.page_size
    )
    return JSONBody(conversations_body(body.assistant_id, found, more))


@router.post("/assistant", response_model=AssistantCompletion)
async def conversation(
    body: ConversationBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    turn = await services.agents.assistants.open_turn(
        principal, body.assistant_id, body.conversation_id, body.turn_messages(), body.request_id
    )
    if body.stream:
        return RoundsStreamingResponse(turn.run, _stream(services, turn))
    return JSONBody(await until_disconnect(request, _complete(services, turn)))


def _chunk(
    turn: Turn, delta: dict[str, Any], status: str = "in_progress", finish: str | None = None
) -> dict[str, Any]:
    chunk = {
        "id": turn.request_id,
        "conversation_id": turn.conversation_id,
        "assistant_id": turn.assistant.id,
        "created": turn.created,
        "status": status,
        "last_error": None,
        "metadata": {},
        "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish, "metadata": None}
        ],  # the SDK cannot parse a non-null bare-`dict` field
        "usage": None,
    }
    if turn.finish is not None:
        chunk["usage"] = {
            "prompt_tokens": turn.finish.prompt_tokens,
            "completion_tokens": turn.finish.completion_tokens,
            "total_tokens": turn.finish.prompt_tokens + turn.finish.completion_tokens,
        }
    return chunk


def _final(turn: Turn) -> dict[str, Any]:
    reason = "stop" if turn.finish is None else turn.finish.reason
    delta = {"type": "content", "role": "assistant", "content": "".join(turn.text)}
    return _chunk(turn, delta, "completed", reason)


async def _complete(services: Services, turn: Turn) -> dict[str, Any]:
    async for _ in services.agents.assistants.events(turn):
        pass
    return _final(turn)


async def _stream(services: Services, turn: Turn) -> AsyncIterator[bytes]:
    try:
        async for delta in services.agents.assistants.events(turn):
            yield sse(_chunk(turn, delta))
        final = _final(turn)
        final["choices"][0]["delta"]["content"] = ""
        yield sse(final)
    except PlatformError as exc:
        yield sse(error_body(exc, openai=False))
    except Exception:
        yield sse(error_body(InternalFailure(), openai=False))
    yield DONE
