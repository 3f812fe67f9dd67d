"""POST /rerank in the platform's shape, and POST /v1/rerank in the Jina/Cohere shape that
vLLM and LiteLLM serve (`document: {text}`, `usage.total_tokens`)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.tools_api.rerank import RerankRequest, RerankResult

zhipu_router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: rerank"])
openai_router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: rerank"])


class RerankBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="rerank", min_length=1)
    query: str
    documents: list[str] = Field(max_length=1024)
    top_n: int | None = Field(default=None, ge=0)
    return_documents: bool = False
    return_raw_scores: bool = False
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)

    def to_request(self) -> RerankRequest:
        return RerankRequest(self.model, self.query, self.documents, self.top_n or None, self.request_id)


class RerankUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class ZhipuRerankItem(BaseModel):
    index: int
    relevance_score: float
    document: str | None = None


class ZhipuRerankResponse(BaseModel):
    id: str
    created: int
    request_id: str
    model: str
    results: list[ZhipuRerankItem]
    usage: RerankUsage


class RerankDocument(BaseModel):
    text: str


class OpenAIRerankItem(BaseModel):
    index: int
    relevance_score: float
    document: RerankDocument | None = None


class OpenAIRerankUsage(BaseModel):
    total_tokens: int


class OpenAIRerankResponse(BaseModel):
    id: str
    model: str
    results: list[OpenAIRerankItem]
    usage: OpenAIRerankUsage


def zhipu_rerank_answer(result: RerankResult, with_documents: bool) -> ZhipuRerankResponse:
    items = [
        ZhipuRerankItem(
            index=r.index,
            relevance_score=r.relevance_score,
            document=r.document if with_documents else None,
        )
        for r in result.results
    ]
    return ZhipuRerankResponse(
        id=result.request_id,
        created=int(time.time()),
        request_id=result.request_id,
        model=result.model,
        results=items,
        usage=RerankUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
    )


@zhipu_router.post("/rerank", response_model=ZhipuRerankResponse, response_model_exclude_none=True)
async def rerank_zhipu(
    body: RerankBody, services: ServicesDep, principal: PrincipalDep
) -> ZhipuRerankResponse:
    result = await services.tools.rerank.rerank(principal, body.to_request())
    return zhipu_rerank_answer(result, body.return_documents)


@openai_router.post("/rerank", response_model=OpenAIRerankResponse, response_model_exclude_none=True)
async def rerank_openai(
    body: RerankBody,
    services: ServicesDep,
    principal: PrincipalDep,
) -> OpenAIRerankResponse:
    # Jina/Cohere clients expect documents back unless they say otherwise
    wants = body.return_documents or "return_documents" not in body.model_fields_set
    result = await services.tools.rerank.rerank(principal, body.to_request())
    items = [
        OpenAIRerankItem(
            index=r.index,
            relevance_score=r.relevance_score,
            document=RerankDocument(text=r.document) if wants else None,
        )
        for r in result.results
    ]
    return OpenAIRerankResponse(
        id=result.request_id,
        model=result.model,
        results=items,
        usage=OpenAIRerankUsage(total_tokens=result.prompt_tokens),
    )
