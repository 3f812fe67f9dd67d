"""/files: file objects, their pages, deletion (knowledge documents: public/knowledge.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from openmaas.api.public.common import binary_answer
from openmaas.api.public.knowledge import DocumentPagePublic, DocumentUploadPublic

FILE_CONTENT = binary_answer("the file's bytes, as uploaded", "application/octet-stream")


class FilePublic(BaseModel):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    status_details: None


class FilesPublic(BaseModel):
    object: Literal["list"]
    data: list[FilePublic]
    has_more: bool


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"]
    deleted: bool


FileUploadAnswer = FilePublic | DocumentUploadPublic  # a knowledge upload answers the latter
FileListAnswer = FilesPublic | DocumentPagePublic  # with knowledge_id: a document page
