"""Builds the embeddings, files and knowledge services for `create_app` (one call)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openmaas.billing.meter import Meter
from openmaas.concurrency import run_in_threadpool
from openmaas.config import Settings
from openmaas.embeddings.service import EmbeddingService
from openmaas.files.blobstore import BlobStore, LocalBlobStore
from openmaas.files.service import FileService
from openmaas.jobs.queue import JobQueue
from openmaas.knowledge.bases import KnowledgeBaseService
from openmaas.knowledge.documents import INGEST, DocumentService, fail_given_up_ingestions
from openmaas.knowledge.index import ChunkIndex
from openmaas.knowledge.ingest import IngestService
from openmaas.knowledge.rerank import CrossEncoderReranker
from openmaas.knowledge.retrieval import RetrievalService
from openmaas.knowledge.terms import warm_up
from openmaas.limits.base import Limiter
from openmaas.ocr.engine import OcrEngine, build_ocr_engine
from openmaas.ocr.text import ocr_text_function
from openmaas.store.db import Database, is_sqlite

log = logging.getLogger(__name__)


@dataclass
class KnowledgeServices:
    bases: KnowledgeBaseService
    documents: DocumentService
    ingest: IngestService
    retrieval: RetrievalService
    index: ChunkIndex
    ocr: OcrEngine | None = None  # shared with the tool endpoints (one ONNX session per process)

    def job_handlers(self) -> dict:
        return {INGEST: self.ingest.run_job}

    async def start(self) -> None:
        await run_in_threadpool(warm_up)

    async def close(self) -> None:
        await run_in_threadpool(self.index.close)


def build_index(settings: Settings, db: Database) -> ChunkIndex:
    config = settings.knowledge
    choice = config.index
    if choice == "auto":
        choice = "milvus" if config.milvus_uri else ("sqlite-vec" if is_sqlite(db.engine) else "portable")
    if choice == "sqlite-vec" and not is_sqlite(db.engine):
        raise ValueError("knowledge.index = sqlite-vec needs the SQLite database")
    if choice == "milvus":
        from openmaas.knowledge.milvus_index import MilvusIndex

        if not config.milvus_uri:
            raise ValueError("knowledge.index = milvus needs knowledge.milvus_uri")
        keywords = _database_index(settings, db)
        return MilvusIndex(config.milvus_uri, keywords)
    return _database_index(settings, db)


def _database_index(settings: Settings, db: Database) -> ChunkIndex:
    if is_sqlite(db.engine):
        from openmaas.knowledge.sqlite_index import SqliteVecIndex

        return SqliteVecIndex(db.engine, settings.knowledge)
    from openmaas.knowledge.portable_index import PortableIndex

    return PortableIndex(db, vector_cache_bytes=settings.knowledge.vector_cache_mb * 1024 * 1024)


def build_blob_store(settings: Settings) -> BlobStore:
    return LocalBlobStore(settings.files.blob_dir or settings.data_dir / "blobs")


def build_content_services(
    settings: Settings,
    db: Database,
    meter: Meter,
    limiter: Limiter,
    jobs: JobQueue,
) -> tuple[EmbeddingService, FileService, KnowledgeServices]:
    embeddings = EmbeddingService(settings.embeddings, meter, limiter)
    blobs = build_blob_store(settings)
    files = FileService(db, blobs, settings.files)
    index = build_index(settings, db)
    config = settings.knowledge
    ocr = build_ocr_engine(settings.tools.ocr)
    knowledge = KnowledgeServices(
        bases=KnowledgeBaseService(db, embeddings.catalog, index, blobs, config),
        documents=DocumentService(db, blobs, index, config, settings.files, jobs),
        ingest=IngestService(
            db,
            blobs,
            index,
            embeddings,
            config,
            batch_items=settings.embeddings.batch_max_items,
            ocr=ocr_text_function(ocr, settings.tools.ocr) if ocr else None,
        ),
        retrieval=RetrievalService(db, index, embeddings, CrossEncoderReranker(), config, limiter),
        index=index,
        ocr=ocr,
    )
    jobs.on_give_up(INGEST, fail_given_up_ingestions)
    return embeddings, files, knowledge
