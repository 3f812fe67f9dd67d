"""Console routes for the account's files, batches, async results and assistants.

Like `console_api`, each puts the session principal (cookie, CSRF on unsafe methods) in front
of the wire handler, so tenancy and error codes are the API's own; the async-results list is
read from the account's job rows (the wire has no list call).
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from openmaas.api import assistants as assistants_routes
from openmaas.api import async_chat as async_chat_routes
from openmaas.api import batches as batches_routes
from openmaas.api import files as files_routes
from openmaas.api.assistants import AssistantsPublic, ConversationListBody, ConversationListResponse
from openmaas.api.batches import BatchCreateBody, batch_object
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.pagination import CursorQueryDep, list_page
from openmaas.api.public.batches import BatchesPublic, BatchPublic
from openmaas.api.public.chat import AsyncResult
from openmaas.api.public.files import FileDeleted
from openmaas.api.responses import JSONBody
from openmaas.web.async_results import list_async_results
from openmaas.web.console_api import CONSOLE_API_PREFIX

router = APIRouter(prefix=CONSOLE_API_PREFIX, include_in_schema=False)


# files: the list is console_api's GET /files (purpose filter) -------------------------------
@router.get("/files/{file_id}/content", response_model=None, response_class=Response)  # the bytes
async def file_content(file_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await files_routes.file_content(file_id, services, principal)


@router.delete("/files/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await files_routes.delete_file(file_id, services, principal)


# batches --------------------------------------------------------------------------------
@router.get("/batches", response_model=BatchesPublic)
async def list_batches(services: ServicesDep, principal: AccountPrincipalDep, query: CursorQueryDep):
    page = await run_in_threadpool(services.batches.list, principal, query.after, query.limit)
    return JSONBody(list_page([batch_object(b) for b in page.rows], page.has_more, with_ids=True))


@router.post("/batches", response_model=BatchPublic)
async def create_batch(body: BatchCreateBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await batches_routes.create_batch(body, services, principal)


@router.post("/batches/{batch_id}/cancel", response_model=BatchPublic)
async def cancel_batch(batch_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return await batches_routes.cancel_batch(batch_id, services, principal)


# async results ------------------------------------------------------------------------------
class AsyncResultOut(BaseModel):
    id: str
    kind: str
    model: str
    request_id: str
    status: str
    created_at: str
    updated_at: str
    error_code: str | None
    error_message: str | None


class AsyncResultsOut(BaseModel):
    data: list[AsyncResultOut]


@router.get("/async-results", response_model=AsyncResultsOut)
async def async_results(
    services: ServicesDep, principal: AccountPrincipalDep, limit: int = Query(default=50, ge=1, le=200)
) -> AsyncResultsOut:
    views = await run_in_threadpool(list_async_results, services.db, principal.account_id, limit)
    return AsyncResultsOut(data=[AsyncResultOut(**asdict(v)) for v in views])


@router.get("/async-result/{task_id}", response_model=AsyncResult)
async def async_result(task_id: str, request: Request, services: ServicesDep, principal: AccountPrincipalDep):
    return await async_chat_routes.async_result(task_id, request, services, principal)


# assistants -----------------------------------------------------------------------------------
@router.get("/assistants", response_model=AssistantsPublic)
async def list_assistants(services: ServicesDep, principal: AccountPrincipalDep):
    return await assistants_routes.list_assistants(services, principal)


@router.get("/assistants/{assistant_id}/conversations", response_model=ConversationListResponse)
async def conversations(
    assistant_id: str,
    services: ServicesDep,
    principal: AccountPrincipalDep,
    page: int = Query(default=1, ge=1),
    size: int = Query(default=20, ge=1, le=100),
):
    body = ConversationListBody(assistant_id=assistant_id, page=page, page_size=size)
    return await assistants_routes.query_conversations(body, services, principal)
