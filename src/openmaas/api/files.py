"""Files (reference §11) and knowledge document upload/list, which share /files.

POST /files (multipart: purpose, file; with purpose=retrieval + knowledge_id it is a
knowledge document upload answering `successInfos`/`failedInfos`), GET /files (with
knowledge_id: the document page `{list, object, total}`; otherwise `{object, data,
has_more}` paged by `after`), GET /files/{id}, GET /files/{id}/content (raw bytes),
DELETE /files/{id}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
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
from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InvalidField, MissingField
from openmaas.files.service import FileView, Upload
from openmaas.knowledge.documents import ChunkingRequest, DocumentUpload
from openmaas.services import Services

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


def file_download(row: FileView, stream: BinaryIO) -> StreamingResponse:
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


def file_deleted(row: FileView) -> dict[str, Any]:
    return {"id": row.id, "object": "file", "deleted": True}


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


class FileListQuery(BaseModel):
    purpose: str | None = None
    limit: int | None = None  # 1 to 100; a knowledge base's documents: 10, files: 20
    after: str | None = None  # files: the last id of the previous page
    order: str | None = None  # asc | desc (the default)
    knowledge_id: str | None = None  # a knowledge base's documents, paged by `page`
    page: int = 1

    @property
    def ascending(self) -> bool:
        return (self.order or "").lower() == "asc"


FileListDep = Annotated[FileListQuery, Query()]


class UploadForm:
    """A /files upload's fields; with purpose=retrieval + knowledge_id, knowledge documents."""

    def __init__(self, form: FormData) -> None:
        self._form = form
        self.purpose, self.knowledge_id = _text(form, "purpose"), _text(form, "knowledge_id")
        self.uploads = _uploads(form)
        if not self.uploads:
            raise MissingField("file")

    @property
    def knowledge_base(self) -> str | None:
        """The knowledge base whose documents these are (purpose=retrieval), else None."""
        return self.knowledge_id if self.purpose == "retrieval" else None

    def documents(self) -> list[DocumentUpload]:
        return [DocumentUpload(u.filename or "", u.content_type or "", u.file, u.size) for u in self.uploads]

    def chunking(self) -> ChunkingRequest:
        return _chunking(self._form)

    def file(self) -> Upload:
        if len(self.uploads) > 1:
            raise InvalidField("file", "one file per upload")
        upload = self.uploads[0]
        return Upload(
            self.purpose or "", upload.filename or "", upload.content_type or "", upload.file, upload.size
        )


@asynccontextmanager
async def upload_form(request: Request) -> AsyncIterator[UploadForm]:
    """The multipart form, read and (when the block ends) closed."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidField(
            "file", "send the file as multipart/form-data (URL import through upload_detail is not supported)"
        )
    form = await request.form(max_files=MAX_FILES_PER_UPLOAD)
    try:
        yield UploadForm(form)
    finally:
        await form.close()


@router.post("/files", response_model=FileUploadAnswer)
async def upload_file(request: Request, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(await uploaded(request, services, principal))


async def uploaded(request: Request, services: Services, principal: Principal) -> dict[str, Any]:
    """A file, or with `knowledge_id` a knowledge base's documents, from the multipart form
    (the API's and the console's `POST /files`)."""
    async with upload_form(request) as form:
        if (knowledge_id := form.knowledge_base) is not None:
            documents = services.knowledge.documents
            outcome = await run_in_threadpool(
                documents.upload, principal, knowledge_id, form.documents(), form.chunking()
            )
            return document_object(outcome)
        return file_object(await run_in_threadpool(services.files.create, principal, form.file()))


@router.get("/files", response_model=FileListAnswer)
async def list_files(services: ServicesDep, principal: PrincipalDep, query: FileListDep) -> JSONBody:
    return JSONBody(await files_or_documents(services, principal, query))


async def files_or_documents(
    services: Services, principal: Principal, query: FileListQuery
) -> dict[str, Any]:
    """A knowledge base's documents (with `knowledge_id`), else the account's files (the API's
    and the console's `GET /files`)."""
    if query.knowledge_id:
        documents = services.knowledge.documents
        views, total = await run_in_threadpool(
            documents.list, principal, query.knowledge_id, query.page, query.limit or 10, query.ascending
        )
        return document_page(views, total)
    listed = await run_in_threadpool(
        services.files.list, principal, query.purpose, query.limit or 20, query.after, query.ascending
    )
    return list_page([file_object(f) for f in listed.rows], listed.has_more)


@router.get("/files/{file_id}", response_model=FilePublic)
async def retrieve_file(file_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(file_object(await run_in_threadpool(services.files.get, principal, file_id)))


@router.get("/files/{file_id}/content", response_model=None, response_class=Response, responses=FILE_CONTENT)
async def file_content(file_id: str, services: ServicesDep, principal: PrincipalDep) -> StreamingResponse:
    return file_download(*await run_in_threadpool(services.files.open_content, principal, file_id))


@router.delete("/files/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(file_deleted(await run_in_threadpool(services.files.delete, principal, file_id)))
