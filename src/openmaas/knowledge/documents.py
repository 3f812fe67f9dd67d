"""Knowledge documents: upload (→ a durable ingestion job), list, retrieve, edit, delete.

An upload stores the original in the blob store and, in one transaction, the document
row (status `queued`) and its ingestion job, so a document never exists without the
work that indexes it. Editing the chunking re-queues it under a new `generation`;
deleting removes its chunks, vectors and FTS rows in the same transaction as the row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import Principal
from openmaas.errors import FileTooLarge, InvalidField, NotFound
from openmaas.files.blobstore import BlobStore
from openmaas.files.service import clean_filename, extension_of
from openmaas.files.settings import DOCUMENT_EXTENSIONS, FilesSettings
from openmaas.jobs.queue import FailedJob, JobQueue, TooManyJobs
from openmaas.knowledge.bases import numeric_id, owned_base
from openmaas.knowledge.index import ChunkIndex
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.store.db import Database
from openmaas.store.tables import KnowledgeBase, KnowledgeChunk, KnowledgeDocument

log = logging.getLogger(__name__)
INGEST = "knowledge_ingest"
EMBED_PENDING, EMBED_DONE, EMBED_FAILED = 0, 1, 2
FORMAT_UNSUPPORTED = "文件格式不支持 (unsupported file type)"
SIZE_EXCEEDED = "文件大小超出限制 (file larger than the limit)"
CAPACITY_FULL = "知识库容量已满 (knowledge capacity is full)"
TOO_MANY_QUEUED = "待处理文档过多，请稍后再试 (too many documents waiting for ingestion; try again later)"
INGEST_FAILED_CODE = 10004


@dataclass(frozen=True)
class DocumentUpload:
    filename: str
    content_type: str
    stream: BinaryIO
    size: int | None = None


@dataclass(frozen=True)
class ChunkingRequest:
    knowledge_type: int = 1
    sentence_size: int | None = None
    custom_separator: list[str] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.knowledge_type <= 7:
            raise InvalidField("knowledge_type", "1 to 7")
        if self.sentence_size is not None and not 20 <= self.sentence_size <= 2000:
            raise InvalidField("sentence_size", "20 to 2000")
        if self.custom_separator is not None:
            object.__setattr__(
                self,
                "custom_separator",
                [s.replace("\\n", "\n").replace("\\t", "\t") for s in self.custom_separator if s][:16],
            )


@dataclass
class UploadOutcome:
    succeeded: list[tuple[str, str]] = field(default_factory=list)  # (document id, filename)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (filename, reason)


@dataclass(frozen=True)
class DocumentRecord:
    """A document's stored fields as callers see them (a copy of the row)."""

    id: str
    knowledge_id: str
    name: str
    length: int
    word_num: int
    knowledge_type: int
    sentence_size: int | None
    custom_separator: list[str] | None
    status: str
    chunk_count: int
    created_at: datetime


def document_record(document: KnowledgeDocument) -> DocumentRecord:
    return DocumentRecord(
        document.id,
        document.knowledge_id,
        document.name,
        document.length,
        document.word_num,
        document.knowledge_type,
        document.sentence_size,
        document.custom_separator,
        document.status,
        document.chunk_count,
        document.created_at,
    )


@dataclass(frozen=True)
class DocumentView:
    document: DocumentRecord
    embedding_stat: int
    fail_code: int | None
    fail_reason: str | None


def ingest_job_id(document_id: str, generation: int) -> str:
    return f"ingest-{document_id}-{generation}"


class DocumentService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        index: ChunkIndex,
        settings: KnowledgeSettings,
        files: FilesSettings,
        jobs: JobQueue,
    ) -> None:
        self._db = db
        self._jobs = jobs
        self._blobs = blobs
        self._index = index
        self.settings = settings
        self._files = files

    # upload -----------------------------------------------------------------------------
    def upload(
        self,
        principal: Principal,
        knowledge_id: str,
        uploads: list[DocumentUpload],
        chunking: ChunkingRequest,
    ) -> UploadOutcome:
        with self._db.session() as session:
            owned_base(session, principal, knowledge_id)
        outcome = UploadOutcome()
        for upload in uploads:
            name = clean_filename(upload.filename)
            reason = self._refusal(principal, name, upload.size)
            if reason is None:
                try:
                    outcome.succeeded.append(
                        (self._store(principal, knowledge_id, name, upload, chunking), name)
                    )
                    continue
                except FileTooLarge:
                    reason = SIZE_EXCEEDED
                except TooManyJobs:
                    reason = TOO_MANY_QUEUED
            outcome.failed.append((name, reason))
        return outcome

    def _refusal(self, principal: Principal, filename: str, size: int | None) -> str | None:
        if extension_of(filename) not in DOCUMENT_EXTENSIONS:
            return FORMAT_UNSUPPORTED
        if size is not None and size > self._files.limit_for("retrieval"):
            return SIZE_EXCEEDED
        with self._db.session() as session:
            used = session.execute(
                sa.select(sa.func.coalesce(sa.func.sum(KnowledgeDocument.length), 0)).where(
                    KnowledgeDocument.account_id == principal.account_id
                )
            ).scalar_one()
        if int(used) + (size or 0) > self.settings.capacity_bytes:
            return CAPACITY_FULL
        return None

    def _store(
        self,
        principal: Principal,
        knowledge_id: str,
        filename: str,
        upload: DocumentUpload,
        chunking: ChunkingRequest,
    ) -> str:
        document_id = numeric_id()
        key = f"{principal.account_id}/knowledge/{document_id}"
        info = self._blobs.put(key, upload.stream, self._files.limit_for("retrieval"), "retrieval")
        try:
            with self._db.session() as session:
                session.add(
                    KnowledgeDocument(
                        id=document_id,
                        account_id=principal.account_id,
                        knowledge_id=knowledge_id,
                        name=filename,
                        blob_key=key,
                        length=info.size,
                        content_type=(upload.content_type or "application/octet-stream")[:128],
                        knowledge_type=chunking.knowledge_type,
                        sentence_size=chunking.sentence_size,
                        custom_separator=chunking.custom_separator,
                    )
                )
                session.flush()
                self._enqueue(session, principal, document_id, 0)
        except BaseException:
            self._blobs.delete(key)
            raise
        return document_id

    def _enqueue(self, session: Session, principal: Principal, document_id: str, generation: int) -> None:
        self._jobs.enqueue(
            session,
            principal,
            INGEST,
            {"document_id": document_id, "generation": generation},
            ingest_job_id(document_id, generation),
        )

    # read -------------------------------------------------------------------------------
    def get(self, principal: Principal, document_id: str) -> DocumentView:
        with self._db.session(read_only=True) as session:
            document = self._owned(session, principal, document_id)
            return _view(document)

    def list(
        self, principal: Principal, knowledge_id: str, page: int = 1, limit: int = 10, ascending: bool = False
    ) -> tuple[list[DocumentView], int]:
        if page < 1 or not 1 <= limit <= 100:
            raise InvalidField("page/limit", "page ≥ 1, limit 1–100")
        with self._db.session(read_only=True) as session:
            owned_base(session, principal, knowledge_id)
            where = sa.and_(
                KnowledgeDocument.knowledge_id == str(knowledge_id),
                KnowledgeDocument.account_id == principal.account_id,
            )
            total = session.execute(
                sa.select(sa.func.count()).select_from(KnowledgeDocument).where(where)
            ).scalar_one()
            order = KnowledgeDocument.created_at.asc() if ascending else KnowledgeDocument.created_at.desc()
            documents = list(
                session.scalars(
                    sa.select(KnowledgeDocument)
                    .where(where)
                    .order_by(order, KnowledgeDocument.id)
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            )
            return [_view(d) for d in documents], total

    def _owned(
        self, session: Session, principal: Principal, document_id: str, lock: bool = False
    ) -> KnowledgeDocument:
        query = sa.select(KnowledgeDocument).where(
            KnowledgeDocument.id == str(document_id), KnowledgeDocument.account_id == principal.account_id
        )
        document = session.scalar(query.with_for_update() if lock else query)
        if document is None:
            raise NotFound("document")
        return document

    # change -----------------------------------------------------------------------------
    def edit(self, principal: Principal, document_id: str, chunking: ChunkingRequest) -> None:
        """New chunking → re-ingest under a new generation (the old job, if any, stops)."""
        with self._db.session() as session:
            document = self._owned(session, principal, document_id, lock=True)
            document.knowledge_type = chunking.knowledge_type
            if chunking.sentence_size is not None:
                document.sentence_size = chunking.sentence_size
            if chunking.custom_separator is not None:
                document.custom_separator = chunking.custom_separator
            document.generation += 1
            document.status, document.fail_code, document.fail_reason = "queued", None, None
            self._enqueue(session, principal, document.id, document.generation)

    def delete(self, principal: Principal, document_id: str) -> None:
        with self._db.session() as session:
            document = self._owned(session, principal, document_id, lock=True)
            base = session.get(KnowledgeBase, document.knowledge_id)
            remove_document_chunks(session, self._index, document.id, base.dimensions if base else 0)
            session.delete(document)
            if base is not None:
                bump_version(session, base.id)
        self._blobs.delete(document.blob_key)


def _view(document: KnowledgeDocument) -> DocumentView:
    record = document_record(document)
    if document.status == "indexed":
        return DocumentView(record, EMBED_DONE, None, None)
    if document.status == "failed":
        return DocumentView(record, EMBED_FAILED, document.fail_code, document.fail_reason)
    return DocumentView(record, EMBED_PENDING, None, None)


def fail_given_up_ingestions(session: Session, failed: Sequence[FailedJob]) -> None:
    """The ingest kind's give-up hook: the document of a job the queue ended as failed
    fails too (unless that generation was indexed or failed already, or was replaced)."""
    for job in failed:
        document_id, _, generation = job.id.removeprefix("ingest-").rpartition("-")
        session.execute(
            sa.update(KnowledgeDocument)
            .where(
                KnowledgeDocument.id == document_id,
                KnowledgeDocument.generation == int(generation),
                KnowledgeDocument.status.not_in(("indexed", "failed")),
            )
            .values(
                status="failed", fail_code=INGEST_FAILED_CODE, fail_reason=f"ingestion failed: {job.message}"
            )
            .execution_options(synchronize_session=False)
        )


def remove_document_chunks(session: Session, index: ChunkIndex, document_id: str, dim: int) -> int:
    chunk_ids = list(
        session.scalars(sa.select(KnowledgeChunk.id).where(KnowledgeChunk.document_id == document_id))
    )
    if chunk_ids:
        index.remove(session, chunk_ids, dim)
        session.execute(sa.delete(KnowledgeChunk).where(KnowledgeChunk.document_id == document_id))
    return len(chunk_ids)


def bump_version(session: Session, knowledge_id: str) -> None:
    session.execute(
        sa.update(KnowledgeBase)
        .where(KnowledgeBase.id == knowledge_id)
        .values(index_version=KnowledgeBase.index_version + 1)
        .execution_options(synchronize_session=False)
    )
