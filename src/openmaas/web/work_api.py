"""Console routes for the account's files, batches, async results and assistants.

Like `console_api`, each puts the session principal (cookie, CSRF on unsafe methods) in front
of the service call the API's route makes, shaped as the API shapes it, so tenancy, error codes
and page defaults are the API's own; the async-results list is read from the account's job rows
(the wire has no list call).
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from openmaas.api.assistants import (
    CONVERSATIONS_PAGE_SIZE,
    AssistantsPublic,
    ConversationListResponse,
    assistants_page,
    conversations_body,
)
from openmaas.api.async_chat import async_task_body
from openmaas.api.batches import BatchCreateBody, batch_object
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.files import file_deleted, file_download
from openmaas.api.pagination import CursorQueryDep, list_page
from openmaas.api.public.batches import BatchesPublic, BatchPublic
from openmaas.api.public.chat import AsyncResult
from openmaas.api.public.files import FileDeleted
from openmaas.api.responses import JSONBody
from openmaas.api.tool_endpoints.media import task_response
from openmaas.concurrency import run_in_threadpool
from openmaas.web.async_results import list_async_results
from openmaas.web.console_api import CONSOLE_API_PREFIX

router = APIRouter(prefix=CONSOLE_API_PREFIX, include_in_schema=False)


# files: the list is console_api's GET /files (purpose filter) -------------------------------
@router.get("/files/{file_id}/content", response_model=None, response_class=Response)  # the bytes
async def file_content(file_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return file_download(*await run_in_threadpool(services.files.open_content, principal, file_id))


@router.delete("/files/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(file_deleted(await run_in_threadpool(services.files.delete, principal, file_id)))


# batches --------------------------------------------------------------------------------
@router.get("/batches", response_model=BatchesPublic)
async def list_batches(services: ServicesDep, principal: AccountPrincipalDep, query: CursorQueryDep):
    page = await run_in_threadpool(services.batches.list, principal, query.after, query.limit)
    return JSONBody(list_page([batch_object(b) for b in page.rows], page.has_more, with_ids=True))


@router.post("/batches", response_model=BatchPublic)
async def create_batch(body: BatchCreateBody, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(batch_object(await run_in_threadpool(services.batches.create, principal, body.to_spec())))


@router.post("/batches/{batch_id}/cancel", response_model=BatchPublic)
async def cancel_batch(batch_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(batch_object(await run_in_threadpool(services.batches.cancel, principal, batch_id)))


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
    media = await services.tools.media.fetch(principal, task_id)  # async images and videos
    if media is not None:
        return JSONBody(task_response(media, request).model_dump(exclude_none=True))
    return JSONBody(async_task_body(await services.async_chat.fetch(principal, task_id)))


# assistants -----------------------------------------------------------------------------------
@router.get("/assistants", response_model=AssistantsPublic)
async def list_assistants(services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(assistants_page(await services.agents.assistants.listed(principal)))


@router.get("/assistants/{assistant_id}/conversations", response_model=ConversationListResponse)
async def conversations(
    assistant_id: str,
    services: ServicesDep,
    principal: AccountPrincipalDep,
    page: int = Query(default=1, ge=1),
    size: int = Query(default=CONVERSATIONS_PAGE_SIZE, ge=1, le=100),
):
    found, more = await services.agents.assistants.conversations(principal, assistant_id, page, size)
    return JSONBody(conversations_body(assistant_id, found, more))
