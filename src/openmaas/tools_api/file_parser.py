"""File parsing (POST /files/parser/create|sync, GET /files/parser/result/{id}/{format}).

Every tool_type of either SDK (lite, expert, prime, prime-sync; simple, doc2x, tencent,
zhipu-pro) runs the local parser: knowledge/parse.py's page parsers, with OCR for images
and scanned PDF pages. Async tasks are durable jobs (kind `file_parser`): the upload waits
in the blob store (as knowledge documents do, so a worker on another host reads it) until a
worker parses it; the result is the job's result row.
Billed per page parsed.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import DocumentRejected, FileTooLarge, InvalidField, NotFound, PlatformError
from openmaas.files.blobstore import BlobStore
from openmaas.jobs.queue import JobQueue
from openmaas.knowledge.parse import IMAGE_KINDS, PAGE_PARSERS, ParseLimits, parse_pages
from openmaas.store.tables import Job
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import FILE_PARSER
from openmaas.tools_api.settings import ParserSettings

KIND = "file_parser"
FILE_TYPES = {
    "PDF": "pdf",
    "DOCX": "docx",
    "XLSX": "xlsx",
    "PPTX": "pptx",
    "HTML": "html",
    "HTM": "html",
    "MD": "md",
    "TXT": "txt",
    "CSV": "csv",
    "PNG": "png",
    "JPG": "jpg",
    "JPEG": "jpeg",
    "BMP": "bmp",
    "GIF": "gif",
    "WEBP": "webp",
    "TIFF": "tiff",
    "TIF": "tiff",
}
TOOL_TYPES = {"lite", "expert", "prime", "prime-sync", "simple", "doc2x", "tencent", "zhipu-pro"}


@dataclass(frozen=True)
class ParsedFile:
    task_id: str
    file_type: str
    pages: list[str]

    @property
    def content(self) -> str:
        return "\n\n".join(page for page in self.pages if page)


@dataclass(frozen=True)
class ParserTask:
    task_id: str
    status: str  # processing | succeeded | failed
    content: str = ""
    message: str = ""
    pages: int = 0


def blob_key(task_id: str) -> str:
    return f"parser/{task_id}.bin"


def file_kind_of(file_type: str | None, filename: str) -> str:
    """The parser for `file_type` (the SDKs' upper-case names), else the file name's suffix."""
    name = (file_type or PurePath(filename).suffix.lstrip(".")).strip().upper()
    kind = FILE_TYPES.get(name)
    if kind is None:
        raise InvalidField(
            "file_type", f"{name or '(none)'} is not supported here; one of {', '.join(sorted(FILE_TYPES))}"
        )
    return kind


def check_tool_type(tool_type: str | None) -> None:
    if tool_type not in TOOL_TYPES:
        raise InvalidField("tool_type", f"one of {', '.join(sorted(TOOL_TYPES))}")


class FileParserService:
    def __init__(
        self,
        settings: ParserSettings,
        meter: ToolMeter,
        jobs: JobQueue,
        blobs: BlobStore,
        ocr: Callable[[bytes], str] | None,
    ) -> None:
        self.settings = settings
        self._meter = meter
        self._jobs = jobs
        self._blobs = blobs
        self._limits = ParseLimits(max_chars=settings.max_chars, max_pages=settings.max_pages, ocr=ocr)

    def check_upload(self, kind: str, data: bytes) -> None:
        limit = self.settings.max_image_bytes if kind in IMAGE_KINDS else self.settings.max_bytes
        if len(data) > limit:
            raise FileTooLarge(limit, "file-extract")
        if not data:
            raise InvalidField("file", "the file is empty")

    async def parse_now(
        self, principal: Principal, kind: str, data: bytes, task_id: str | None = None
    ) -> ParsedFile:
        self.check_upload(kind, data)
        task_id = task_id or uuid.uuid4().hex
        bound = self.settings.max_pages if kind in PAGE_PARSERS else 1
        async with self._meter.metered(principal, FILE_PARSER, bound, "file_parser", task_id) as meter:
            pages = await run_in_threadpool(self._parse, kind, data)
            meter.use(len(pages))
        return ParsedFile(task_id, kind, pages)

    def _parse(self, kind: str, data: bytes) -> list[str]:
        pages = parse_pages(f"upload.{kind}", data, self._limits)
        if sum(len(p) for p in pages) > self.settings.max_chars:
            raise DocumentRejected(f"解析结果过长 (more than {self.settings.max_chars} characters)", 10002)
        return pages

    # async tasks ---------------------------------------------------------------------------
    async def submit(self, principal: Principal, kind: str, data: bytes) -> str:
        self.check_upload(kind, data)
        task_id = uuid.uuid4().hex
        await run_in_threadpool(self._park, task_id, data)
        try:
            await run_in_threadpool(self._jobs.submit, principal, KIND, {"kind": kind}, task_id)
        except BaseException:
            await run_in_threadpool(self._blobs.delete, blob_key(task_id))
            raise
        return task_id

    def _park(self, task_id: str, data: bytes) -> None:
        limit = max(self.settings.max_bytes, self.settings.max_image_bytes)
        self._blobs.put(blob_key(task_id), io.BytesIO(data), limit, "file-extract")

    def _read_parked(self, task_id: str) -> bytes:
        with self._blobs.open(blob_key(task_id)) as stream:
            return stream.read()

    async def run_job(self, job: Job, principal: Principal) -> dict[str, Any]:
        try:
            data = await run_in_threadpool(self._read_parked, job.id)
        except NotFound:
            raise InvalidField("task_id", "the uploaded file is gone (already parsed?)") from None
        try:
            parsed = await self.parse_now(principal, job.payload["kind"], data, task_id=job.id)
        except PlatformError:
            await run_in_threadpool(self._blobs.delete, blob_key(job.id))  # final: not retried
            raise
        await run_in_threadpool(self._blobs.delete, blob_key(job.id))
        return {"content": parsed.content, "pages": len(parsed.pages), "finished_at": int(time.time())}

    async def result(self, principal: Principal, task_id: str) -> ParserTask:
        job = await run_in_threadpool(self._jobs.get, principal.account_id, task_id)
        if job.kind != KIND:
            raise NotFound("task")
        if job.state == "succeeded":
            result = job.result or {}
            return ParserTask(
                task_id,
                "succeeded",
                result.get("content", ""),
                "结果获取成功 (parsed)",
                int(result.get("pages", 0)),
            )
        if job.state == "failed":
            return ParserTask(task_id, "failed", "", f"{job.error_code}: {job.error_message}")
        return ParserTask(task_id, "processing", "", "解析中 (parsing)")
