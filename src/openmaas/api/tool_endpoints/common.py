"""Helpers the tool routers share: multipart fields and uploads."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from openmaas.errors import InvalidField, MissingField


async def read_form(request: Request) -> FormData:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidField("file", "send the file as multipart/form-data")
    return await request.form(max_files=1)


def form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


async def form_file(form: FormData, limit: int, name: str = "file") -> tuple[str, bytes]:
    """The upload's name and bytes, reading at most `limit` + 1 bytes (the caller checks)."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        raise MissingField(name)
    data = await upload.read(limit + 1)
    return upload.filename or "", data
