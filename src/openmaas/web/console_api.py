"""The wire endpoints the console needs, reachable with the console session (cookie + CSRF).

The chat, models, knowledge, files and fine-tuning endpoints take API keys (Bearer). These routes put the
signed-in account's principal (`AccountPrincipalDep`: session cookie, CSRF-checked on unsafe
methods) in front of the *same* handler functions, so every rule — billing, limits,
validation, tenancy, error codes — is the one the API applies. Paths mirror the Zhipu
surface under /console/api.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from openmaas.api import embeddings as embeddings_routes
from openmaas.api import files as files_routes
from openmaas.api import fine_tuning as fine_tuning_routes
from openmaas.api import knowledge as knowledge_routes
from openmaas.api import models as models_routes
from openmaas.api.chat import routes as chat_routes
from openmaas.api.chat.schemas import ZhipuChatBody
from openmaas.api.chat.wire import ZhipuWire
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.embeddings import EmbeddingsBody
from openmaas.api.fine_tuning import FineTuneCreateBody, event_object, job_object
from openmaas.api.knowledge import KnowledgeBody, RetrieveBody
from openmaas.api.pagination import CursorQueryDep, list_page
from openmaas.api.public.chat import SSE_RESPONSE, ZhipuCompletion
from openmaas.api.public.console import CatalogPublic
from openmaas.api.public.files import FileListAnswer, FileUploadAnswer
from openmaas.api.public.fine_tuning import FineTuningEventsPublic, FineTuningJobPublic, FineTuningJobsPublic
from openmaas.api.public.knowledge import (
    Deletion,
    KnowledgeCreated,
    KnowledgePublic,
    KnowledgesPublic,
    RetrievalPublic,
    RetrievalTracePublic,
)
from openmaas.api.public.models import ModelsPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.web.tool_models import tool_models

CONSOLE_API_PREFIX = "/console/api"
router = APIRouter(route_class=OffLoopJSONRoute, prefix=CONSOLE_API_PREFIX, include_in_schema=False)


@router.get("/models", response_model=ModelsPublic)
def list_models(
    services: ServicesDep, principal: AccountPrincipalDep, include: Literal["tools"] | None = None
) -> JSONBody:
    """The wire list with each model's `kind` (chat | embedding); `include=tools` adds what the
    playground's tool tabs can try here (image, rerank, ocr, speech, transcription, web_search)."""
    listed = models_routes.model_list(services, principal)
    for model in listed["data"]:
        model["kind"] = "embedding" if "embeddings" in (model["capabilities"] or []) else "chat"
    if include == "tools":
        listed["data"] += tool_models(services)
    return JSONBody(listed)


@router.get("/catalog", response_model=CatalogPublic)
def catalog(services: ServicesDep, principal: AccountPrincipalDep):
    """What the catalog serves (read-only; it is configured in settings): chat and embedding models."""
    chat = [
        {
            "name": e.name,
            "engine": e.config.engine,
            "aliases": e.config.aliases,
            "context_window": e.config.context_window,
            "max_output_tokens": e.config.max_output_tokens,
            "capabilities": e.config.capabilities,
            "description": e.config.description,
        }
        for e in services.catalog.entries()
    ]
    embedding = [
        {
            "name": m.name,
            "engine": m.config.engine,
            "aliases": m.config.aliases,
            "embedding_id": m.config.embedding_id,
            "dimensions": m.config.dimensions,
            "languages": m.config.languages,
            "description": m.config.description,
        }
        for m in services.embeddings.catalog.entries()
    ]
    return JSONBody({"chat": chat, "embedding": embedding})


@router.post("/chat/completions", response_model=ZhipuCompletion, responses=SSE_RESPONSE)
async def chat_completions(
    body: ZhipuChatBody, request: Request, services: ServicesDep, principal: AccountPrincipalDep
):
    return await chat_routes.respond(request, services, principal, body, ZhipuWire())


class EmbeddingOut(BaseModel):
    index: int
    object: str
    embedding: list[float] | str


class EmbeddingsOut(BaseModel):
    model: str
    object: str
    data: list[EmbeddingOut]
    usage: dict[str, int]


@router.post("/embeddings", response_model=EmbeddingsOut)
async def embeddings(body: EmbeddingsBody, services: ServicesDep, principal: AccountPrincipalDep):
    """The playground's embeddings tab: the wire handler, billed and limited like any call."""
    return await embeddings_routes.create_embeddings(body, services, principal)


# knowledge bases (fixed paths before /knowledge/{knowledge_id}) ---------------------------
@router.get("/knowledge", response_model=KnowledgesPublic)
async def list_knowledge(
    services: ServicesDep,
    principal: AccountPrincipalDep,
    page: int = Query(default=1, ge=1),
    size: int = Query(default=50, ge=1, le=100),
):
    return await knowledge_routes.query_knowledge(services, principal, page, size)


@router.post("/knowledge", response_model=KnowledgeCreated)
async def create_knowledge(body: KnowledgeBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await knowledge_routes.create_knowledge(body, services, principal)


@router.post("/knowledge/retrieve", response_model=RetrievalPublic)
async def retrieve(body: RetrieveBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await knowledge_routes.retrieve(body, services, principal)


@router.get("/knowledge/traces/{request_id}", response_model=RetrievalTracePublic)
async def retrieval_trace(request_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await knowledge_routes.retrieval_trace(request_id, services, principal)


@router.get("/knowledge/{knowledge_id}", response_model=KnowledgePublic)
async def knowledge_detail(knowledge_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await knowledge_routes.knowledge_detail(knowledge_id, services, principal)


@router.delete("/knowledge/{knowledge_id}", response_model=Deletion)
async def delete_knowledge(knowledge_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await knowledge_routes.delete_knowledge(knowledge_id, services, principal)


# documents: upload and list share /files, as on the wire ----------------------------------
@router.post("/files", response_model=FileUploadAnswer)
async def upload_file(request: Request, services: ServicesDep, principal: AccountPrincipalDep):
    return await files_routes.upload_file(request, services, principal)


@router.get("/files", response_model=FileListAnswer)
async def list_files(
    services: ServicesDep,
    principal: AccountPrincipalDep,
    knowledge_id: str | None = None,
    purpose: str | None = None,
    after: str | None = None,
    page: int = Query(default=1, ge=1),
    limit: int = Query(default=50, ge=1, le=100),
):
    """A knowledge base's documents (with `knowledge_id`), else the account's files."""
    return await files_routes.list_files(
        services, principal, purpose=purpose, limit=limit, after=after, knowledge_id=knowledge_id, page=page
    )


@router.delete("/document/{document_id}", response_model=Deletion)
async def delete_document(document_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await knowledge_routes.delete_document(document_id, services, principal)


# fine-tuning ----------------------------------------------------------------------------
@router.post("/fine_tuning/jobs", response_model=FineTuningJobPublic)
async def create_fine_tune(body: FineTuneCreateBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await fine_tuning_routes.create_job(body, services, principal)


@router.get("/fine_tuning/jobs", response_model=FineTuningJobsPublic)
async def list_fine_tunes(services: ServicesDep, principal: AccountPrincipalDep, query: CursorQueryDep):
    page = await run_in_threadpool(services.finetune.list, principal, query.after, query.limit)
    return JSONBody(list_page([job_object(r) for r in page.rows], page.has_more))


@router.get("/fine_tuning/jobs/{job_id}", response_model=FineTuningJobPublic)
async def fine_tune_detail(job_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await fine_tuning_routes.retrieve_job(job_id, services, principal)


@router.get("/fine_tuning/jobs/{job_id}/events", response_model=FineTuningEventsPublic)
async def fine_tune_events(
    job_id: str, services: ServicesDep, principal: AccountPrincipalDep, query: CursorQueryDep
):
    page = await run_in_threadpool(services.finetune.events, principal, job_id, query.after, query.limit)
    return JSONBody(list_page([event_object(r) for r in page.rows], page.has_more))


@router.post("/fine_tuning/jobs/{job_id}/cancel", response_model=FineTuningJobPublic)
async def cancel_fine_tune(job_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await fine_tuning_routes.cancel_job(job_id, services, principal)
