"""Knowledge bases: create / modify / query / delete / capacity, scoped to the account."""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import Principal
from openmaas.embeddings.service import EmbeddingCatalog
from openmaas.errors import InvalidField, MissingField, NotFound
from openmaas.files.blobstore import BlobStore
from openmaas.knowledge.index import ChunkIndex
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.store.db import Database
from openmaas.store.tables import KnowledgeBase, KnowledgeChunk, KnowledgeDocument

BACKGROUNDS = {"blue", "red", "orange", "purple", "sky", "green", "yellow"}
ICONS = {"question", "book", "seal", "wrench", "tag", "horn", "house"}


def numeric_id() -> str:
    """Numeric-string ids, like the platform's (about 18 digits, random)."""
    return str(uuid.uuid4().int >> 68)


@dataclass(frozen=True)
class KnowledgeFields:
    name: str | None = None
    description: str | None = None
    embedding_id: int | None = None
    customer_identifier: str | None = None
    background: str | None = None
    icon: str | None = None
    bucket_id: str | None = None


@dataclass(frozen=True)
class KnowledgeBaseView:
    """A knowledge base as callers see it (a copy: no live row leaves the service)."""

    id: str
    name: str
    description: str
    embedding_id: int | None
    embedding_model: str
    dimensions: int
    customer_identifier: str | None
    background: str | None
    icon: str | None
    bucket_id: str | None
    created_at: datetime


def base_view(base: KnowledgeBase) -> KnowledgeBaseView:
    return KnowledgeBaseView(
        base.id,
        base.name,
        base.description,
        base.embedding_id,
        base.embedding_model,
        base.dimensions,
        base.customer_identifier,
        base.background,
        base.icon,
        base.bucket_id,
        base.created_at,
    )


@dataclass(frozen=True)
class KnowledgeStats:
    base: KnowledgeBaseView
    document_size: int
    length: int
    word_num: int


@dataclass(frozen=True)
class Capacity:
    used_words: int
    used_bytes: int
    total_words: int
    total_bytes: int


def owned_base(
    session: Session, principal: Principal, knowledge_id: str, lock: bool = False
) -> KnowledgeBase:
    query = sa.select(KnowledgeBase).where(
        KnowledgeBase.id == str(knowledge_id), KnowledgeBase.account_id == principal.account_id
    )
    base = session.scalar(query.with_for_update() if lock else query)
    if base is None:
        raise NotFound("knowledge")
    return base


def _check_fields(fields: KnowledgeFields) -> None:
    if fields.name is not None and not 1 <= len(fields.name.strip()) <= 100:
        raise InvalidField("name", "1 to 100 characters")
    if fields.description is not None and len(fields.description) > 500:
        raise InvalidField("description", "at most 500 characters")
    if fields.background is not None and fields.background not in BACKGROUNDS:
        raise InvalidField("background", f"one of {sorted(BACKGROUNDS)}")
    if fields.icon is not None and fields.icon not in ICONS:
        raise InvalidField("icon", f"one of {sorted(ICONS)}")
    if fields.customer_identifier is not None and len(fields.customer_identifier) > 32:
        raise InvalidField("customer_identifier", "at most 32 characters")
    if fields.bucket_id is not None and len(fields.bucket_id) > 32:
        raise InvalidField("bucket_id", "at most 32 characters")


class KnowledgeBaseService:
    def __init__(
        self,
        db: Database,
        catalog: EmbeddingCatalog,
        index: ChunkIndex,
        blobs: BlobStore,
        settings: KnowledgeSettings,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._index = index
        self._blobs = blobs
        self.settings = settings

    def create(self, principal: Principal, fields: KnowledgeFields) -> KnowledgeBaseView:
        if not fields.name:
            raise MissingField("name")
        _check_fields(fields)
        model = self._catalog.by_embedding_id(fields.embedding_id)
        embedding_id = model.config.embedding_id if fields.embedding_id is None else fields.embedding_id
        with self._db.session() as session:
            count = session.execute(
                sa.select(sa.func.count())
                .select_from(KnowledgeBase)
                .where(KnowledgeBase.account_id == principal.account_id)
            ).scalar_one()
            if count >= self.settings.max_knowledge_bases:
                raise InvalidField(
                    "knowledge", f"at most {self.settings.max_knowledge_bases} knowledge bases per account"
                )
            base = KnowledgeBase(
                id=numeric_id(),
                account_id=principal.account_id,
                name=fields.name.strip(),
                description=fields.description or "",
                embedding_id=embedding_id,
                embedding_model=model.name,
                dimensions=model.config.dimensions,
                customer_identifier=fields.customer_identifier,
                background=fields.background,
                icon=fields.icon,
                bucket_id=fields.bucket_id,
            )
            session.add(base)
            session.flush()  # created_at (a column default) is set on insert
            return base_view(base)

    def modify(self, principal: Principal, knowledge_id: str, fields: KnowledgeFields) -> KnowledgeBaseView:
        _check_fields(fields)
        with self._db.session() as session:
            base = owned_base(session, principal, knowledge_id, lock=True)
            if fields.embedding_id is not None and fields.embedding_id != base.embedding_id:
                self._change_model(session, base, fields.embedding_id)
            for name in ("name", "description", "background", "icon", "customer_identifier"):
                value = getattr(fields, name)
                if value is not None:
                    setattr(base, name, value.strip() if name == "name" else value)
            session.flush()
            return base_view(base)

    def _change_model(self, session: Session, base: KnowledgeBase, embedding_id: int) -> None:
        model = self._catalog.by_embedding_id(embedding_id)
        if model.name == base.embedding_model:  # another id of the same model: same vectors
            base.embedding_id = embedding_id
            return
        has_docs = session.scalar(
            sa.select(sa.func.count())
            .select_from(KnowledgeDocument)
            .where(KnowledgeDocument.knowledge_id == base.id)
        )
        if has_docs:
            raise InvalidField(
                "embedding_id", "cannot change the embedding model of a knowledge base that has documents"
            )
        base.embedding_id, base.embedding_model = embedding_id, model.name
        base.dimensions = model.config.dimensions

    def get(self, principal: Principal, knowledge_id: str) -> KnowledgeStats:
        with self._db.session() as session:
            base = owned_base(session, principal, knowledge_id)
            return self._stats(session, [base])[0]

    def list(self, principal: Principal, page: int = 1, size: int = 10) -> tuple[list[KnowledgeStats], int]:
        if page < 1 or not 1 <= size <= 100:
            raise InvalidField("page/size", "page ≥ 1, size 1–100")
        with self._db.session() as session:
            where = KnowledgeBase.account_id == principal.account_id
            total = session.execute(
                sa.select(sa.func.count()).select_from(KnowledgeBase).where(where)
            ).scalar_one()
            bases = list(
                session.scalars(
                    sa.select(KnowledgeBase)
                    .where(where)
                    .order_by(KnowledgeBase.created_at.desc(), KnowledgeBase.id)
                    .offset((page - 1) * size)
                    .limit(size)
                )
            )
            return self._stats(session, bases), total

    @staticmethod
    def _stats(session: Session, bases: builtins.list[KnowledgeBase]) -> builtins.list[KnowledgeStats]:
        # `builtins.`: in this class `list` names the method above
        ids = [b.id for b in bases]
        rows = (
            session.execute(
                sa.select(
                    KnowledgeDocument.knowledge_id,
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(KnowledgeDocument.length), 0),
                    sa.func.coalesce(sa.func.sum(KnowledgeDocument.word_num), 0),
                )
                .where(KnowledgeDocument.knowledge_id.in_(ids))
                .group_by(KnowledgeDocument.knowledge_id)
            ).all()
            if ids
            else []
        )
        totals = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
        return [KnowledgeStats(base_view(b), *totals.get(b.id, (0, 0, 0))) for b in bases]

    def delete(self, principal: Principal, knowledge_id: str) -> None:
        with self._db.session() as session:
            base = owned_base(session, principal, knowledge_id, lock=True)
            chunk_ids = list(
                session.scalars(sa.select(KnowledgeChunk.id).where(KnowledgeChunk.knowledge_id == base.id))
            )
            self._index.remove(session, chunk_ids, base.dimensions)
            session.execute(sa.delete(KnowledgeChunk).where(KnowledgeChunk.knowledge_id == base.id))
            keys = list(
                session.scalars(
                    sa.select(KnowledgeDocument.blob_key).where(KnowledgeDocument.knowledge_id == base.id)
                )
            )
            session.execute(sa.delete(KnowledgeDocument).where(KnowledgeDocument.knowledge_id == base.id))
            session.delete(base)
        for key in keys:
            self._blobs.delete(key)

    def capacity(self, principal: Principal) -> Capacity:
        with self._db.session() as session:
            used_bytes, used_words = session.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(KnowledgeDocument.length), 0),
                    sa.func.coalesce(sa.func.sum(KnowledgeDocument.word_num), 0),
                ).where(KnowledgeDocument.account_id == principal.account_id)
            ).one()
        return Capacity(
            int(used_words), int(used_bytes), self.settings.capacity_words, self.settings.capacity_bytes
        )
