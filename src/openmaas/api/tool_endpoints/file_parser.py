"""File parser (the SDKs' `file_parser`): POST /files/parser/create (async task), GET
/files/parser/result/{task_id}/{text|download_link}, POST /files/parser/sync."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.tool_endpoints.common import form_file, form_text, read_form
from openmaas.services import Services
from openmaas.tools_api.file_parser import check_tool_type, file_kind_of

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: file parser"])


class ParserTaskCreated(BaseModel):
    task_id: str
    message: str
    success: bool


class ParserResult(BaseModel):
    task_id: str
    message: str
    status: str  # processing | succeeded | failed
    content: str
    parsing_result_url: str
    pages: int


class ParserSyncResult(BaseModel):
    task_id: str
    message: str
    status: bool
    content: str
    parsing_result_url: str
    pages: int


async def _upload(request: Request, services: Services) -> tuple[str, bytes]:
    form = await read_form(request)
    try:
        check_tool_type(form_text(form, "tool_type"))
        filename, data = await form_file(form, services.tools.parser.settings.max_bytes)
        kind = file_kind_of(form_text(form, "file_type"), filename)
    finally:
        await form.close()
    return kind, data


@router.post("/files/parser/create", response_model=ParserTaskCreated)
async def create_parser_task(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
) -> ParserTaskCreated:
    kind, data = await _upload(request, services)
    task_id = await services.tools.parser.submit(principal, kind, data)
    return ParserTaskCreated(task_id=task_id, message="任务创建成功 (task created)", success=True)


@router.post("/files/parser/sync", response_model=ParserSyncResult)
async def parse_sync(request: Request, services: ServicesDep, principal: PrincipalDep) -> ParserSyncResult:
    kind, data = await _upload(request, services)
    parsed = await services.tools.parser.parse_now(principal, kind, data)
    return ParserSyncResult(
        task_id=parsed.task_id,
        message="解析成功 (parsed)",
        status=True,
        content=parsed.content,
        parsing_result_url="",
        pages=len(parsed.pages),
    )


@router.get("/files/parser/result/{task_id}/{format_type}", response_model=ParserResult)
async def parser_result(
    task_id: str,
    format_type: Literal["text", "download_link"],
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
) -> ParserResult:
    task = await services.tools.parser.result(principal, task_id)
    link = str(request.url.replace(path=request.url.path.rsplit("/", 1)[0] + "/text", query=""))
    return ParserResult(
        task_id=task.task_id,
        message=task.message,
        status=task.status,
        content=task.content if format_type == "text" else "",
        parsing_result_url=link if task.status == "succeeded" else "",
        pages=task.pages,
    )
