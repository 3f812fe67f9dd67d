"""POST /tokenizer: the prompt tokens of messages (and tools) under a model's template."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.chat.schemas import WireMessage
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.engines.base import ChatMessage
from openmaas.tools_api.tokenizer import TokenCount

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: tokenizer"])


class TokenizerBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[WireMessage]
    tools: list[dict[str, Any]] | None = None
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)

    def to_messages(self) -> list[ChatMessage]:
        return [m.to_message(i) for i, m in enumerate(self.messages)]


class TokenizerUsage(BaseModel):
    prompt_tokens: int


class TokenizerResponse(BaseModel):
    id: str
    created: int
    request_id: str
    model: str
    usage: TokenizerUsage


def tokenizer_answer(counted: TokenCount) -> TokenizerResponse:
    return TokenizerResponse(
        id=counted.request_id,
        created=int(time.time()),
        request_id=counted.request_id,
        model=counted.model,
        usage=TokenizerUsage(prompt_tokens=counted.prompt_tokens),
    )


@router.post("/tokenizer", response_model=TokenizerResponse)
async def tokenize(body: TokenizerBody, services: ServicesDep, principal: PrincipalDep) -> TokenizerResponse:
    counted = await services.tools.tokenizer.count(
        principal, body.model, body.to_messages(), body.tools, body.request_id
    )
    return tokenizer_answer(counted)
