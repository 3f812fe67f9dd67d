"""The wire endpoints the console needs, reachable with the console session (cookie + CSRF).

The chat, models, embeddings, knowledge, files and fine-tuning endpoints take API keys (Bearer).
These routes put the signed-in account's principal (`AccountPrincipalDep`: session cookie,
CSRF-checked on unsafe methods) in front of the *same* service calls as the API's routes, with
the API's query models and wire shapes, so every rule — billing, limits, validation, tenancy,
error codes, page defaults — is the one the API applies. Paths mirror the Zhipu surface under
/console/api.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from openmaas.api.chat import routes as chat_routes
from openmaas.api.chat.schemas import ZhipuChatBody
from openmaas.api.chat.wire import ZhipuWire
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.embeddings import EmbeddingsBody, VectorJSONBody, embeddings_body
from openmaas.api.files import FileListDep, files_or_documents, uploaded
from openmaas.api.fine_tuning import FineTuneCreateBody, event_object, job_object
from openmaas.api.knowledge import (
    KnowledgeBody,
    KnowledgePageDep,
    RetrieveBody,
    deletion,
    knowledge_created,
    knowledge_item,
    knowledge_page,
    retrieval_body,
)
from openmaas.api.models import model_list
from openmaas.api.pagination import CursorQueryDep, list_page
from openmaas.api.public.chat import SSE_RESPONSE, ZhipuCompletion
from openmaas.api.public.console import CatalogPublic, ConsoleModelsPublic
from openmaas.api.public.embeddings import EmbeddingsPublic
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
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.concurrency import run_in_threadpool
from openmaas.web.tool_models import tool_models

CONSOLE_API_PREFIX = "/console/api"
router = APIRouter(route_class=OffLoopJSONRoute, prefix=CONSOLE_API_PREFIX, include_in_schema=False)


@router.get("/models", response_model=ConsoleModelsPublic)
def list_models(
    services: ServicesDep, principal: AccountPrincipalDep, include: Literal["tools"] | None = None
) -> JSONBody:
    """The wire list with each model's `kind` (chat | embedding); `include=tools` adds what the
    playground's tool tabs can try here (image, rerank, ocr, speech, transcription, web_search)."""
    listed = model_list(services, principal)
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


@router.post("/embeddings", response_model=EmbeddingsPublic)
async def embeddings(body: EmbeddingsBody, services: ServicesDep, principal: AccountPrincipalDep):
    """The playground's embeddings tab: billed and limited like any call."""
    result = await services.embeddings.create(principal, await body.to_request_off_loop())
    return VectorJSONBody(embeddings_body(result, body.encoding_format))


# knowledge bases (fixed paths before /knowledge/{knowledge_id}) ---------------------------
@router.get("/knowledge", response_model=KnowledgesPublic)
async def list_knowledge(services: ServicesDep, principal: AccountPrincipalDep, query: KnowledgePageDep):
    items, total = await run_in_threadpool(services.knowledge.bases.list, principal, query.page, query.size)
    return JSONBody(knowledge_page(items, total))


@router.post("/knowledge", response_model=KnowledgeCreated)
async def create_knowledge(body: KnowledgeBody, services: ServicesDep, principal: AccountPrincipalDep):
    base = await run_in_threadpool(services.knowledge.bases.create, principal, body.to_fields())
    return JSONBody(knowledge_created(base))


@router.post("/knowledge/retrieve", response_model=RetrievalPublic)
async def retrieve(body: RetrieveBody, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(retrieval_body(await services.knowledge.retrieval.retrieve(principal, body.to_query())))


@router.get("/knowledge/traces/{request_id}", response_model=RetrievalTracePublic)
async def retrieval_trace(request_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(await run_in_threadpool(services.knowledge.retrieval.get_trace, principal, request_id))


@router.get("/knowledge/{knowledge_id}", response_model=KnowledgePublic)
async def knowledge_detail(knowledge_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    stats = await run_in_threadpool(services.knowledge.bases.get, principal, knowledge_id)
    return JSONBody(knowledge_item(stats))


@router.delete("/knowledge/{knowledge_id}", response_model=Deletion)
async def delete_knowledge(knowledge_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    await run_in_threadpool(services.knowledge.bases.delete, principal, knowledge_id)
    return JSONBody(deletion(knowledge_id))


# documents: upload and list share /files, as on the wire ----------------------------------
@router.post("/files", response_model=FileUploadAnswer)
async def upload_file(request: Request, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(await uploaded(request, services, principal))


@router.get("/files", response_model=FileListAnswer)
async def list_files(services: ServicesDep, principal: AccountPrincipalDep, query: FileListDep):
    """A knowledge base's documents (with `knowledge_id`), else the account's files."""
    return JSONBody(await files_or_documents(services, principal, query))


@router.delete("/document/{document_id}", response_model=Deletion)
async def delete_document(document_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    await run_in_threadpool(services.knowledge.documents.delete, principal, document_id)
    return JSONBody(deletion(document_id))


# fine-tuning ----------------------------------------------------------------------------
@router.post("/fine_tuning/jobs", response_model=FineTuningJobPublic)
async def create_fine_tune(body: FineTuneCreateBody, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(job_object(await services.finetune.create(principal, body.to_spec())))


@router.get("/fine_tuning/jobs", response_model=FineTuningJobsPublic)
async def list_fine_tunes(services: ServicesDep, principal: AccountPrincipalDep, query: CursorQueryDep):
    page = await run_in_threadpool(services.finetune.list, principal, query.after, query.limit)
    return JSONBody(list_page([job_object(r) for r in page.rows], page.has_more))


@router.get("/fine_tuning/jobs/{job_id}", response_model=FineTuningJobPublic)
async def fine_tune_detail(job_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(job_object(await run_in_threadpool(services.finetune.get, principal, job_id)))


@router.get("/fine_tuning/jobs/{job_id}/events", response_model=FineTuningEventsPublic)
async def fine_tune_events(
    job_id: str, services: ServicesDep, principal: AccountPrincipalDep, query: CursorQueryDep
):
    page = await run_in_threadpool(services.finetune.events, principal, job_id, query.after, query.limit)
    return JSONBody(list_page([event_object(r) for r in page.rows], page.has_more))


@router.post("/fine_tuning/jobs/{job_id}/cancel", response_model=FineTuningJobPublic)
async def cancel_fine_tune(job_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(job_object(await run_in_threadpool(services.finetune.cancel, principal, job_id)))
