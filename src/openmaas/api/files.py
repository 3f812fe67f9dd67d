"""Files (reference §11) and knowledge document upload/list, which share /files.

POST /files (multipart: purpose, file; with purpose=retrieval + knowledge_id it is a
knowledge document upload answering `successInfos`/`failedInfos`), GET /files (with
knowledge_id: the document page `{list, object, total}`; otherwise `{object, data,
has_more}` paged by `after`), GET /files/{id}, GET /files/{id}/content (raw bytes),
DELETE /files/{id}.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.knowledge import document_object, document_page
from openmaas.api.pagination import list_page
from openmaas.api.public.files import (
    FILE_CONTENT,
    FileDeleted,
    FileListAnswer,
    FilePublic,
    FileUploadAnswer,
)
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.errors import InvalidField, MissingField
from openmaas.files.service import FileView, Upload
from openmaas.knowledge.documents import ChunkingRequest, DocumentUpload

router = APIRouter(route_class=OffLoopJSONRoute, tags=["files"])
MAX_FILES_PER_UPLOAD = 20


def file_object(row: FileView) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": int(row.created_at.timestamp()),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "status_details": None,
    }


def _uploads(form: FormData) -> list[UploadFile]:
    return [
        v for k, v in form.multi_items() if k in ("file", "files", "files[]") and isinstance(v, UploadFile)
    ]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _chunking(form: FormData) -> ChunkingRequest:
    separators = [
        v
        for k, v in form.multi_items()
        if k in ("custom_separator[]", "custom_separator") and isinstance(v, str)
    ]
    size, kind = _text(form, "sentence_size"), _text(form, "knowledge_type")
    for name, value in (("sentence_size", size), ("knowledge_type", kind)):
        if value is not None and not value.isdigit():
            raise InvalidField(name, "an integer")
    return ChunkingRequest(
        knowledge_type=int(kind) if kind else 1,
        sentence_size=int(size) if size else None,
        custom_separator=separators or None,
    )


@router.post("/files", response_model=FileUploadAnswer)
async def upload_file(request: Request, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidField(
            "file", "send the file as multipart/form-data (URL import through upload_detail is not supported)"
        )
    form = await request.form(max_files=MAX_FILES_PER_UPLOAD)
    try:
        purpose, knowledge_id = _text(form, "purpose"), _text(form, "knowledge_id")
        uploads = _uploads(form)
        if not uploads:
            raise MissingField("file")
        if purpose == "retrieval" and knowledge_id:
            documents = [
                DocumentUpload(u.filename or "", u.content_type or "", u.file, u.size) for u in uploads
            ]
            outcome = await run_in_threadpool(
                services.knowledge.documents.upload, principal, knowledge_id, documents, _chunking(form)
            )
            return JSONBody(document_object(outcome))
        if len(uploads) > 1:
            raise InvalidField("file", "one file per upload")
        upload = uploads[0]
        row = await run_in_threadpool(
            services.files.create,
            principal,
            Upload(purpose or "", upload.filename or "", upload.content_type or "", upload.file, upload.size),
        )
        return JSONBody(file_object(row))
    finally:
        await form.close()


@router.get("/files", response_model=FileListAnswer)
async def list_files(
    services: ServicesDep,
    principal: PrincipalDep,
    purpose: str | None = None,
    limit: int | None = None,
    after: str | None = None,
    order: str | None = None,
    knowledge_id: str | None = None,
    page: int = 1,
) -> JSONBody:
    ascending = (order or "").lower() == "asc"
    if knowledge_id:
        views, total = await run_in_threadpool(
            services.knowledge.documents.list, principal, knowledge_id, page, limit or 10, ascending
        )
        return JSONBody(document_page(views, total))
    listed = await run_in_threadpool(services.files.list, principal, purpose, limit or 20, after, ascending)
    return JSONBody(list_page([file_object(f) for f in listed.rows], listed.has_more))


@router.get("/files/{file_id}", response_model=FilePublic)
async def retrieve_file(file_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(file_object(await run_in_threadpool(services.files.get, principal, file_id)))


@router.get("/files/{file_id}/content", response_model=None, response_class=Response, responses=FILE_CONTENT)
async def file_content(file_id: str, services: ServicesDep, principal: PrincipalDep) -> StreamingResponse:
    row, stream = await run_in_threadpool(services.files.open_content, principal, file_id)

    def chunks() -> Iterator[bytes]:
        with stream:
            while block := stream.read(256 * 1024):
                yield block

    disposition = f"attachment; filename*=UTF-8''{quote(row.filename, safe='')}"
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(row.bytes), "Content-Disposition": disposition},
    )


@router.delete("/files/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    row = await run_in_threadpool(services.files.delete, principal, file_id)
    return JSONBody({"id": row.id, "object": "file", "deleted": True})
