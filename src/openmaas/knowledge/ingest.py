"""The ingestion job: blob → parse → chunk → embed → one write transaction.

Idempotent by construction: the write replaces every chunk of the document, so a job
re-run after a crash (its lease lapsed) or a restart simply does the work again. Each
job carries the document's `generation`; a job whose document was deleted or re-queued
since stops without writing. Bad documents end as `failed` with their reason; the
rest of the knowledge base is untouched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.embeddings.service import EmbeddingService
from openmaas.errors import DocumentRejected, InsufficientBalance
from openmaas.files.blobstore import BlobStore
from openmaas.jobs.queue import TakenOver, hold_lease
from openmaas.knowledge.chunk import ChunkOptions, chunk_text, under_title
from openmaas.knowledge.documents import bump_version, remove_document_chunks
from openmaas.knowledge.index import ChunkIndex, IndexedChunk, vector_bytes
from openmaas.knowledge.parse import ParseLimits, file_kind, parse_document
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.knowledge.terms import terms
from openmaas.store.db import Database
from openmaas.store.tables import Job, KnowledgeBase, KnowledgeChunk, KnowledgeDocument

log = logging.getLogger(__name__)
INTERNAL_FAILURE = 10099
_WORD = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]+")


def word_count(text: str) -> int:
    """CJK characters count one each, other words one each (the platform's 字数)."""
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class _Work:
    document_id: str
    generation: int
    knowledge_id: str
    model: str
    dim: int
    name: str
    blob_key: str
    options: ChunkOptions
    payer: Principal  # the account whose ingestion embeddings are billed


@dataclass(frozen=True)
class _Prepared:
    chunks: list[str]
    indexed: list[str]  # what is embedded and tokenised: the chunk under its document's title
    terms: list[list[str]]
    words: int


class IngestService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        index: ChunkIndex,
        embeddings: EmbeddingService,
        settings: KnowledgeSettings,
        batch_items: int = 32,
        ocr: Callable[[bytes], str] | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._index = index
        self._embeddings = embeddings
        self.settings = settings
        self._batch = batch_items
        self._limits = ParseLimits(
            settings.max_document_chars, settings.max_docx_uncompressed, settings.max_docx_ratio, ocr=ocr
        )  # ocr: scans and images

    async def run_job(self, job: Job, principal: Principal) -> dict[str, Any]:
        work = await run_in_threadpool(
            self._claim,
            principal.account_id,
            job.payload["document_id"],
            int(job.payload.get("generation", 0)),
            principal,
        )
        if work is None:
            return {"status": "skipped", "reason": "document deleted or re-queued"}
        try:
            prepared = await run_in_threadpool(self._prepare, work)
            await run_in_threadpool(self._set_status, work, "embedding")
            vectors = await self._embed(work, prepared.indexed)
            written = await run_in_threadpool(self._write, work, prepared, vectors, (job.id, job.attempts))
        except TakenOver:  # claimed again meanwhile: the new attempt writes the document
            raise
        except DocumentRejected as exc:
            await run_in_threadpool(self._fail, work, exc.reason_code, exc.message)
            return {"status": "failed", "reason": exc.message}
        except InsufficientBalance as exc:  # the embeddings are billed: no retry will help
            await run_in_threadpool(self._fail, work, int(exc.code), exc.message)
            return {"status": "failed", "reason": exc.message}
        except Exception as exc:
            log.exception("ingesting document %s failed", work.document_id)
            await run_in_threadpool(
                self._fail, work, INTERNAL_FAILURE, f"内部错误 (internal error: {type(exc).__name__})"
            )
            raise
        return {"status": "indexed" if written else "skipped", "chunks": len(prepared.chunks)}

    # steps ------------------------------------------------------------------------------
    def _claim(self, account_id: str, document_id: str, generation: int, payer: Principal) -> _Work | None:
        with self._db.session() as session:
            document = session.scalar(
                sa.select(KnowledgeDocument).where(
                    KnowledgeDocument.id == document_id,
                    KnowledgeDocument.account_id == account_id,
                    KnowledgeDocument.generation == generation,
                )
            )
            if document is None:
                return None
            base = session.get_one(KnowledgeBase, document.knowledge_id)  # a document has its base
            document.status = "parsing"
            return _Work(
                document.id,
                generation,
                base.id,
                base.embedding_model,
                base.dimensions,
                document.name,
                document.blob_key,
                self._options(document),
                payer,
            )

    def _options(self, document: KnowledgeDocument) -> ChunkOptions:
        size = document.sentence_size or self.settings.chunk_size
        separators = tuple(document.custom_separator or ())
        if document.knowledge_type in (3, 7) or file_kind(document.name) == "csv":
            separators = separators or ("\n",)  # tables: one row per chunk where it fits
        overlap = min(self.settings.chunk_overlap, size // 5)
        return ChunkOptions(size=size, overlap=overlap, separators=separators)

    def _prepare(self, work: _Work) -> _Prepared:
        with self._blobs.open(work.blob_key) as source:
            data = source.read()
        text = parse_document(work.name, data, self._limits)
        chunks = chunk_text(text, work.options)
        if not chunks:
            raise DocumentRejected("文档没有可用的文本 (the document contains no text)", 10005)
        indexed = [under_title(work.name, c) if self.settings.title_in_index else c for c in chunks]
        return _Prepared(chunks, indexed, [terms(c) for c in indexed], word_count(text))

    async def _embed(self, work: _Work, chunks: list[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(chunks), self._batch):  # one batch at a time: API calls interleave
            parts.append(
                await self._embeddings.embed_billed(
                    work.payer, work.model, chunks[start : start + self._batch], "passage", "ingest"
                )
            )
        return np.concatenate(parts)

    def _write(self, work: _Work, prepared: _Prepared, vectors: np.ndarray, lease: tuple[str, int]) -> bool:
        """The chunks and `indexed`, in one transaction fenced by the job's (id, attempt)."""
        with self._db.session() as session:
            hold_lease(session, *lease)
            document = session.scalar(
                sa.select(KnowledgeDocument)
                .where(
                    KnowledgeDocument.id == work.document_id, KnowledgeDocument.generation == work.generation
                )
                .with_for_update()
            )
            if document is None:
                return False
            remove_document_chunks(session, self._index, document.id, work.dim)
            rows = [
                KnowledgeChunk(
                    account_id=document.account_id,
                    knowledge_id=work.knowledge_id,
                    document_id=document.id,
                    ordinal=i,
                    text=text,
                    terms=" ".join(prepared.terms[i]),
                    embedding=vector_bytes(vectors[i]),
                )
                for i, text in enumerate(prepared.chunks)
            ]
            session.add_all(rows)
            session.flush()
            self._index.add(
                session,
                [
                    IndexedChunk(r.id, work.knowledge_id, prepared.terms[i], vectors[i])
                    for i, r in enumerate(rows)
                ],
                work.dim,
            )
            document.status, document.fail_code, document.fail_reason = "indexed", None, None
            document.chunk_count, document.word_num = len(rows), prepared.words
            bump_version(session, work.knowledge_id)
        return True

    def _set_status(self, work: _Work, status: str) -> None:
        with self._db.session() as session:
            session.execute(
                sa.update(KnowledgeDocument)
                .where(
                    KnowledgeDocument.id == work.document_id, KnowledgeDocument.generation == work.generation
                )
                .values(status=status)
            )

    def _fail(self, work: _Work, code: int, reason: str) -> None:
        """Mark the document failed; chunks of an earlier successful run go with it."""
        with self._db.session() as session:
            document = session.scalar(
                sa.select(KnowledgeDocument)
                .where(
                    KnowledgeDocument.id == work.document_id, KnowledgeDocument.generation == work.generation
                )
                .with_for_update()
            )
            if document is None:
                return
            if remove_document_chunks(session, self._index, document.id, work.dim):
                bump_version(session, work.knowledge_id)
            document.status, document.fail_code, document.fail_reason = "failed", code, reason[:2000]
            document.chunk_count = 0
