"""File metadata + blobs, every read and write scoped to the caller's account.

Upload order: blob first (temp file renamed into place), then the row; a failed insert
removes the blob. Delete order: the row first (commit), then the blob, so a crash
between the two leaves an unreferenced blob, never a row without bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import BinaryIO

import sqlalchemy as sa

from openmaas.auth.codes import lock_target
from openmaas.auth.principal import Principal
from openmaas.errors import FileTooLarge, InvalidField, NotFound, QuotaExceeded, UnsupportedFileType
from openmaas.files.blobstore import BlobStore
from openmaas.files.settings import FilesSettings
from openmaas.store.db import Database
from openmaas.store.paging import Page, keyset_page
from openmaas.store.tables import StoredFile, new_id, utcnow

log = logging.getLogger(__name__)
MAX_FILENAME = 255
PLATFORM_PURPOSES = frozenset({"batch_output"})  # written by the platform: counted, not refused


@dataclass(frozen=True)
class Upload:
    purpose: str
    filename: str
    content_type: str
    stream: BinaryIO
    size: int | None = None  # known size (spooled upload), checked before copying


@dataclass(frozen=True)
class FileView:
    """A stored file as callers see it (never the row: its blob key stays in here)."""

    id: str
    purpose: str
    filename: str
    bytes: int
    content_type: str
    status: str
    created_at: datetime


def file_view(row: StoredFile) -> FileView:
    return FileView(
        row.id, row.purpose, row.filename, row.bytes, row.content_type, row.status, row.created_at
    )


def clean_filename(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return (base or "upload.bin")[:MAX_FILENAME]


def extension_of(filename: str) -> str:
    return PurePath(filename).suffix.lower()


class FileService:
    def __init__(self, db: Database, blobs: BlobStore, settings: FilesSettings) -> None:
        self._db = db
        self.blobs = blobs
        self.settings = settings

    def check_purpose(self, purpose: str | None) -> str:
        if not purpose:
            raise InvalidField("purpose", "required")
        if purpose not in self.settings.purposes:
            raise InvalidField("purpose", f"one of {self.settings.purposes}")
        return purpose

    def check_type(self, purpose: str, filename: str) -> None:
        allowed = self.settings.extensions_by_purpose.get(purpose)
        if allowed and extension_of(filename) not in allowed:
            raise UnsupportedFileType(filename, ", ".join(allowed))

    def check_size(self, purpose: str, size: int | None) -> int:
        limit = self.settings.limit_for(purpose)
        if size is not None and size > limit:
            raise FileTooLarge(limit, purpose)
        return limit

    def create(self, principal: Principal, upload: Upload, max_bytes: int | None = None) -> FileView:
        """`max_bytes`: a file the platform writes itself (a batch's output, which the runner
        bounds as its lines complete) is held to that instead of the upload limit."""
        purpose = self.check_purpose(upload.purpose)
        filename = clean_filename(upload.filename)
        self.check_type(purpose, filename)
        limit = max_bytes if max_bytes is not None else self.check_size(purpose, upload.size)
        enforce = purpose not in PLATFORM_PURPOSES
        if enforce:  # cheap refusal before any byte is written
            with self._db.session(read_only=True) as session:
                self._check_quota(session, principal.account_id, upload.size or 0)
        file_id = new_id("file-")[:37]
        key = f"{principal.account_id}/files/{file_id}"
        info = self.blobs.put(key, upload.stream, limit, purpose)
        row = StoredFile(
            id=file_id,
            account_id=principal.account_id,
            purpose=purpose,
            filename=filename,
            bytes=info.size,
            sha256=info.sha256,
            blob_key=key,
            content_type=(upload.content_type or "application/octet-stream")[:128],
            created_at=utcnow(),
        )
        try:
            with self._db.session() as session:
                if enforce:  # exact: one upload of this account at a time past this point
                    lock_target(session, f"files:{principal.account_id}")
                    self._check_quota(session, principal.account_id, info.size)
                session.add(row)
        except BaseException:
            self.blobs.delete(key)
            raise
        return file_view(row)

    def _check_quota(self, session, account_id: str, adding_bytes: int) -> None:
        count, stored = session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(StoredFile.bytes), 0)).where(
                StoredFile.account_id == account_id
            )
        ).one()
        if count >= self.settings.max_files_per_account:
            raise QuotaExceeded(
                "file", f"at most {self.settings.max_files_per_account} files per account: delete some first"
            )
        if stored + adding_bytes > self.settings.max_bytes_per_account:
            raise QuotaExceeded(
                "file",
                f"at most {self.settings.max_bytes_per_account} bytes stored "
                f"per account ({stored} used): delete some first",
            )

    def get(self, principal: Principal, file_id: str) -> FileView:
        return file_view(self._row(principal, file_id))

    def _row(self, principal: Principal, file_id: str) -> StoredFile:
        with self._db.session() as session:
            row = session.scalar(
                sa.select(StoredFile).where(
                    StoredFile.id == file_id, StoredFile.account_id == principal.account_id
                )
            )
        if row is None:
            raise NotFound("file")
        return row

    def open_content(self, principal: Principal, file_id: str) -> tuple[FileView, BinaryIO]:
        row = self._row(principal, file_id)
        return file_view(row), self.blobs.open(row.blob_key)

    def list(
        self,
        principal: Principal,
        purpose: str | None = None,
        limit: int = 20,
        after: str | None = None,
        ascending: bool = False,
    ) -> Page[FileView]:
        owned = StoredFile.account_id == principal.account_id
        query = sa.select(StoredFile).where(owned)
        if purpose:
            query = query.where(StoredFile.purpose == purpose)
        order = (StoredFile.created_at, StoredFile.id)
        with self._db.session() as session:
            page = keyset_page(
                session,
                query,
                order,
                limit,
                after or None,
                scope=owned,
                unknown="unknown file id",
                ascending=ascending,
            )
        return page.map(file_view)

    def delete(self, principal: Principal, file_id: str) -> FileView:
        with self._db.session() as session:
            row = session.scalar(
                sa.select(StoredFile).where(
                    StoredFile.id == file_id, StoredFile.account_id == principal.account_id
                )
            )
            if row is None:
                raise NotFound("file")
            session.delete(row)
        try:
            self.blobs.delete(row.blob_key)
        except OSError:
            log.exception("file %s: row deleted, blob %s left behind", file_id, row.blob_key)
        return file_view(row)
