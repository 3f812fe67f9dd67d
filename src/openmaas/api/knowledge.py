"""The knowledge surface the zhipuai SDK calls (reference §14.1), flat objects at the top.

/knowledge (create, query), /knowledge/{id} (detail, modify, delete), /knowledge/capacity,
/document/{id} (retrieve, edit, delete); document upload and list live on /files
(api/files.py). Extensions: POST /knowledge/retrieve (direct hybrid retrieval) and
GET /knowledge/traces/{request_id} (the retrieval trace of a chat or retrieve call).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.public.knowledge import (
    CapacityPublic,
    Deletion,
    DocumentEdited,
    DocumentPublic,
    KnowledgeCreated,
    KnowledgeModified,
    KnowledgePublic,
    KnowledgesPublic,
    RetrievalPublic,
    RetrievalTracePublic,
)
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InvalidField
from openmaas.knowledge.bases import Capacity, KnowledgeBaseView, KnowledgeFields, KnowledgeStats
from openmaas.knowledge.documents import ChunkingRequest, DocumentView, UploadOutcome
from openmaas.knowledge.retrieval import Passage, RetrievalQuery, RetrievalResult

router = APIRouter(route_class=OffLoopJSONRoute, tags=["knowledge"])


def _ok(**extra: Any) -> dict[str, Any]:
    return {"code": 200, "message": "success", "timestamp": int(time.time() * 1000), **extra}


# wire shapes ----------------------------------------------------------------------------
def knowledge_info(base: KnowledgeBaseView) -> dict[str, Any]:
    return {
        "id": base.id,
        "embedding_id": base.embedding_id,
        "embedding_model": base.embedding_model,
        "name": base.name,
        "customer_identifier": base.customer_identifier,
        "description": base.description,
        "background": base.background,
        "icon": base.icon,
        "bucket_id": base.bucket_id,
        "created_at": int(base.created_at.timestamp()),
    }


def knowledge_item(stats: KnowledgeStats) -> dict[str, Any]:
    return knowledge_info(stats.base) | {
        "document_size": stats.document_size,
        "length": stats.length,
        "word_num": stats.word_num,
    }


def document_data(view: DocumentView) -> dict[str, Any]:
    document = view.document
    fail = (
        {"embedding_code": view.fail_code, "embedding_msg": view.fail_reason}
        if view.fail_code is not None
        else None
    )
    return {
        "id": document.id,
        "knowledge_id": document.knowledge_id,
        "name": document.name,
        "url": "",
        "length": document.length,
        "word_num": document.word_num,
        "knowledge_type": document.knowledge_type,
        "sentence_size": document.sentence_size,
        "custom_separator": document.custom_separator or [],
        "embedding_stat": view.embedding_stat,
        "failInfo": fail,
        "status": document.status,
        "chunk_count": document.chunk_count,
        "created_at": int(document.created_at.timestamp()),
    }


def document_object(outcome: UploadOutcome) -> dict[str, Any]:
    body: dict[str, Any] = {
        "successInfos": [{"documentId": d, "filename": f, "fileName": f} for d, f in outcome.succeeded],
        "failedInfos": [
            {"failReason": r, "filename": f, "fileName": f, "documentId": None} for f, r in outcome.failed
        ],
    }
    if len(outcome.succeeded) == 1 and not outcome.failed:  # also readable as a FileObject
        document_id, filename = outcome.succeeded[0]
        body |= {
            "id": document_id,
            "object": "file",
            "filename": filename,
            "purpose": "retrieval",
            "status": "processing",
            "created_at": int(time.time()),
        }
    return body


def knowledge_page(items: list[KnowledgeStats], total: int) -> dict[str, Any]:
    return {"list": [knowledge_item(s) for s in items], "object": "list", "total": total}


def knowledge_created(base: KnowledgeBaseView) -> dict[str, Any]:
    return knowledge_info(base) | _ok(data={"id": base.id})


def deletion(object_id: str) -> dict[str, Any]:
    return _ok(id=object_id, deleted=True)


def document_page(views: list[DocumentView], total: int) -> dict[str, Any]:
    return {"list": [document_data(v) for v in views], "object": "list", "total": total}


def capacity_body(capacity: Capacity) -> dict[str, Any]:
    return {
        "used": {"word_num": capacity.used_words, "length": capacity.used_bytes},
        "total": {"word_num": capacity.total_words, "length": capacity.total_bytes},
    }


def retrieval_body(result: RetrievalResult) -> dict[str, Any]:
    return {"data": [passage_body(p) for p in result.passages], "request_id": result.request_id}


def passage_body(passage: Passage) -> dict[str, Any]:
    return {
        "text": passage.text,
        "score": round(passage.score, 6),
        "metadata": {
            "_id": str(passage.chunk_id),
            "knowledge_id": passage.knowledge_id,
            "doc_id": passage.document_id,
            "doc_name": passage.document_name,
            "doc_url": "",
            "contextual_text": "",
        },
    }


# queries and bodies -----------------------------------------------------------------------
class KnowledgePageQuery(BaseModel):
    page: int = 1
    size: int = 10  # 1 to 100, checked by the service


KnowledgePageDep = Annotated[KnowledgePageQuery, Query()]


RECALL_METHODS: dict[str, Literal["dense", "keyword", "hybrid"]] = {
    "embedding": "dense",
    "keyword": "keyword",
    "mixed": "hybrid",
}


class KnowledgeBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | int | None = None
    embedding_id: int | None = None
    name: str | None = None
    customer_identifier: str | None = None
    description: str | None = None
    background: str | None = None
    icon: str | None = None
    bucket_id: str | None = None

    def to_fields(self) -> KnowledgeFields:
        return KnowledgeFields(
            name=self.name,
            description=self.description,
            embedding_id=self.embedding_id,
            customer_identifier=self.customer_identifier,
            background=self.background,
            icon=self.icon,
            bucket_id=self.bucket_id,
        )


class DocumentEditBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    knowledge_type: int | str | None = None
    custom_separator: list[str] | None = None
    sentence_size: int | None = None
    callback_url: str | None = None
    callback_header: dict[str, str] | None = None

    def to_chunking(self) -> ChunkingRequest:
        kind = self.knowledge_type
        if isinstance(kind, str) and not kind.strip().isdigit():
            raise InvalidField("knowledge_type", "an integer 1–7")
        return ChunkingRequest(
            knowledge_type=int(kind) if kind not in (None, "") else 1,
            sentence_size=self.sentence_size,
            custom_separator=self.custom_separator,
        )


class RetrieveBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    query: str = Field(min_length=1)
    knowledge_ids: list[str] | None = None
    knowledge_id: str | None = None
    top_k: int | None = Field(default=None, ge=1, le=100)
    recall_method: Literal["embedding", "keyword", "mixed"] = "mixed"
    rerank_status: int | None = None
    request_id: str | None = Field(default=None, max_length=128)

    def to_query(self) -> RetrievalQuery:
        ids = list(self.knowledge_ids or []) + ([self.knowledge_id] if self.knowledge_id else [])
        method = RECALL_METHODS[self.recall_method]
        rerank = None if self.rerank_status is None else bool(self.rerank_status)
        return RetrievalQuery(
            knowledge_ids=ids,
            query=self.query,
            top_k=self.top_k,
            method=method,
            rerank=rerank,
            request_id=self.request_id,
        )


# routes (fixed paths before /knowledge/{knowledge_id}) ----------------------------------
@router.post("/knowledge", response_model=KnowledgeCreated)
async def create_knowledge(body: KnowledgeBody, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    base = await run_in_threadpool(services.knowledge.bases.create, principal, body.to_fields())
    return JSONBody(knowledge_created(base))


@router.get("/knowledge", response_model=KnowledgesPublic)
async def query_knowledge(
    services: ServicesDep, principal: PrincipalDep, query: KnowledgePageDep
) -> JSONBody:
    items, total = await run_in_threadpool(services.knowledge.bases.list, principal, query.page, query.size)
    return JSONBody(knowledge_page(items, total))


@router.get("/knowledge/capacity", response_model=CapacityPublic)
async def knowledge_capacity(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(capacity_body(await run_in_threadpool(services.knowledge.bases.capacity, principal)))


@router.post("/knowledge/retrieve", response_model=RetrievalPublic)
async def retrieve(body: RetrieveBody, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    result = await services.knowledge.retrieval.retrieve(principal, body.to_query())
    return JSONBody(retrieval_body(result))


@router.get("/knowledge/traces/{request_id}", response_model=RetrievalTracePublic)
async def retrieval_trace(request_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(await run_in_threadpool(services.knowledge.retrieval.get_trace, principal, request_id))


@router.get("/knowledge/{knowledge_id}", response_model=KnowledgePublic)
async def knowledge_detail(knowledge_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    stats = await run_in_threadpool(services.knowledge.bases.get, principal, knowledge_id)
    return JSONBody(knowledge_item(stats))


@router.put("/knowledge/{knowledge_id}", response_model=KnowledgeModified)
async def modify_knowledge(
    knowledge_id: str, body: KnowledgeBody, services: ServicesDep, principal: PrincipalDep
) -> JSONBody:
    base = await run_in_threadpool(services.knowledge.bases.modify, principal, knowledge_id, body.to_fields())
    return JSONBody(knowledge_info(base) | _ok())


@router.delete("/knowledge/{knowledge_id}", response_model=Deletion)
async def delete_knowledge(knowledge_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    await run_in_threadpool(services.knowledge.bases.delete, principal, knowledge_id)
    return JSONBody(deletion(knowledge_id))


@router.get("/document/{document_id}", response_model=DocumentPublic)
async def retrieve_document(document_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    view = await run_in_threadpool(services.knowledge.documents.get, principal, document_id)
    return JSONBody(document_data(view))


@router.put("/document/{document_id}", response_model=DocumentEdited)
async def edit_document(
    document_id: str, body: DocumentEditBody, services: ServicesDep, principal: PrincipalDep
) -> JSONBody:
    await run_in_threadpool(services.knowledge.documents.edit, principal, document_id, body.to_chunking())
    return JSONBody(_ok(id=document_id))


@router.delete("/document/{document_id}", response_model=Deletion)
async def delete_document(document_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    await run_in_threadpool(services.knowledge.documents.delete, principal, document_id)
    return JSONBody(deletion(document_id))
