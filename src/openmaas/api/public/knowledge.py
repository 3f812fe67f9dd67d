"""The knowledge surface (reference §14.1): bases, documents, capacity, retrieval."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.public.common import ZhipuEnvelope


class KnowledgeInfo(BaseModel):
    id: str
    embedding_id: int | None
    embedding_model: str
    name: str
    customer_identifier: str | None
    description: str
    background: str | None
    icon: str | None
    bucket_id: str | None
    created_at: int


class KnowledgePublic(KnowledgeInfo):
    document_size: int
    length: int
    word_num: int


class KnowledgesPublic(BaseModel):
    items: list[KnowledgePublic] = Field(alias="list")  # the platform's name for the page
    object: Literal["list"]
    total: int


class KnowledgeId(BaseModel):
    id: str


class KnowledgeCreated(KnowledgeInfo, ZhipuEnvelope):
    data: KnowledgeId


class KnowledgeModified(KnowledgeInfo, ZhipuEnvelope):
    pass


class Deletion(ZhipuEnvelope):
    id: str
    deleted: bool


class DocumentEdited(ZhipuEnvelope):
    id: str


class Size(BaseModel):
    word_num: int
    length: int


class CapacityPublic(BaseModel):
    used: Size
    total: Size


class PassageMetadata(BaseModel):
    id: str = Field(alias="_id")
    knowledge_id: str
    doc_id: str
    doc_name: str
    doc_url: str
    contextual_text: str


class PassagePublic(BaseModel):
    text: str
    score: float
    metadata: PassageMetadata


class RetrievalPublic(BaseModel):
    data: list[PassagePublic]
    request_id: str


class RetrievalTracePublic(BaseModel):
    """The stored trace of one retrieval (its steps; shape owned by knowledge/retrieval.py)."""

    model_config = ConfigDict(extra="allow")


class FailInfo(BaseModel):
    embedding_code: int
    embedding_msg: str | None


class DocumentPublic(BaseModel):
    id: str
    knowledge_id: str
    name: str
    url: str
    length: int
    word_num: int
    knowledge_type: int
    sentence_size: int | None
    custom_separator: list[str]
    embedding_stat: int
    failInfo: FailInfo | None  # the platform's name
    status: str
    chunk_count: int
    created_at: int


class DocumentPagePublic(BaseModel):
    items: list[DocumentPublic] = Field(alias="list")
    object: Literal["list"]
    total: int


class UploadSucceeded(BaseModel):
    documentId: str
    filename: str
    fileName: str


class UploadFailed(BaseModel):
    failReason: str
    filename: str
    fileName: str
    documentId: None


class DocumentUploadPublic(BaseModel):
    """One document alone is also readable as a file object (id, object, filename, ...)."""

    successInfos: list[UploadSucceeded]
    failedInfos: list[UploadFailed]
    id: str | None = None
    object: Literal["file"] | None = None
    filename: str | None = None
    purpose: Literal["retrieval"] | None = None
    status: str | None = None
    created_at: int | None = None
