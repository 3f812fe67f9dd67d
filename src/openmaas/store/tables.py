"""ORM tables. Every tenant-owned row carries `account_id`; services always filter on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (stored naive) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: sa.JSON()}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    tier: Mapped[str] = mapped_column(sa.String(4), default="V0")
    is_admin: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)  # public part of id.secret
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    secret_hash: Mapped[str] = mapped_column(sa.String(64))  # sha256 hex of the secret
    secret_sealed: Mapped[str] = mapped_column(sa.Text)  # Fernet-sealed, only for JWT HMAC checks
    secret_hint: Mapped[str] = mapped_column(sa.String(8))  # last 4 characters, for display
    # inference (model APIs only) | manage (+ keys, account, billing actions) | admin (+ admin)
    scope: Mapped[str] = mapped_column(sa.String(16), default="inference", server_default="inference")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # optional per-key limits (None: none beyond the account's): cash per calendar month (µ元),
    # requests and tokens per minute (at most the tier's), and a moment after which it is refused
    monthly_budget_micro: Mapped[int | None] = mapped_column(sa.BigInteger)
    rpm_limit: Mapped[int | None]
    tpm_limit: Mapped[int | None]
    expires_at: Mapped[datetime | None]


class UsageRecord(Base):
    """One row per API request, successful or not (billing and bills build on these)."""

    __tablename__ = "usage_records"
    __table_args__ = (sa.Index("ix_usage_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[str] = mapped_column(sa.String(40))
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))
    request_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(128))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    latency_ms: Mapped[int] = mapped_column(default=0)
    cost_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    status: Mapped[str] = mapped_column(sa.String(16))  # success | error | cancelled | recovered
    # breakdowns (both already inside prompt/completion): prompt tokens served from the
    # engine's prefix cache (billed at the cache rate), completion tokens spent reasoning
    cached_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    reasoning_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    error_code: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """Durable background work (async chat now; ingestion, fine-tunes and batches later)."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_claimable", "state", "lease_until"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))
    kind: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")  # queued|running|succeeded|failed
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error_code: Mapped[str | None] = mapped_column(sa.String(16))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    worker_id: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- billing ---------------------------------------------------------------------------
# Money is integer micro-yuan (µ元, 1e-6 元) everywhere; tokens are integers.

BigInt = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Wallet(Base):
    """Cached cash position of an account; always equal to the ledger's sums (see reconcile)."""

    __tablename__ = "wallets"

    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), primary_key=True)
    cash_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # available (holds deducted)
    held_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    alert_threshold_micro: Mapped[int | None] = mapped_column(sa.BigInteger)
    alert_pack_tokens: Mapped[int | None] = mapped_column(sa.BigInteger)
    alert_armed: Mapped[bool] = mapped_column(default=True)
    pack_alert_armed: Mapped[bool] = mapped_column(default=True)
    # set by a process that found too little outside other processes' funds leases: they
    # give their headroom back at their next flush (billing/lease.py)
    lease_recall_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ResourcePack(Base):
    """Tokens granted or bought; `model` None means usable for every model."""

    __tablename__ = "resource_packs"
    __table_args__ = (sa.Index("ix_packs_account_expiry", "account_id", "expires_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(16))  # grant | purchase | admin
    model: Mapped[str | None] = mapped_column(sa.String(128))
    total_tokens: Mapped[int] = mapped_column(sa.BigInteger)
    remaining_tokens: Mapped[int] = mapped_column(sa.BigInteger)  # available (holds deducted)
    held_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    expires_at: Mapped[datetime]
    expired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """Append-only. Cash deltas in µ元 and pack-token deltas; never updated or deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (sa.Index("ix_ledger_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    kind: Mapped[str] = mapped_column(sa.String(24))
    # topup | admin_credit | redeem | pack_purchase | pack_grant | hold | release | charge | expire
    cash_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # delta of available cash
    pack_id: Mapped[str | None] = mapped_column(sa.String(40))
    pack_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # delta of pack available
    reservation_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    model: Mapped[str | None] = mapped_column(sa.String(128))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reservation(Base):
    """A hold taken before generation; settled once on real usage or released."""

    __tablename__ = "reservations"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "request_id", name="uq_reservation_request"),
        sa.Index("ix_reservations_state_created", "state", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))
    request_id: Mapped[str] = mapped_column(sa.String(128))
    model: Mapped[str] = mapped_column(sa.String(128))
    state: Mapped[str] = mapped_column(sa.String(12), default="held")  # held | settled | released
    held_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    held_packs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # pack_id -> tokens
    max_tokens: Mapped[int] = mapped_column(default=0)  # completion allowance granted
    price_in: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # µ元 per 1k, snapshot at hold
    price_out: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    charged_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    charged_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
    # the meter that holds it (billing/meter.py, `MeterOwner.owner`): released as soon as that
    # process is known dead, never while it lives; None for holds owned by a job (fine-tuning)
    owner: Mapped[str | None] = mapped_column(sa.String(40), index=True)


class MeterOwner(Base):
    """A process that meters calls: found dead (its pid gone on the same host, or no
    heartbeat for a while), its in-flight calls are charged and its holds released."""

    __tablename__ = "meter_owners"

    owner: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeterInflight(Base):
    """A metered call's delivered tokens, flushed about every second while it runs (and its
    final counts until its usage row is written): what a restart charges after a crash."""

    __tablename__ = "meter_inflight"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(40), index=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))
    request_id: Mapped[str] = mapped_column(sa.String(128))
    endpoint: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(128))
    reservation_id: Mapped[str | None] = mapped_column(sa.String(40))  # None: held on a lease
    price_in: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    price_out: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    max_tokens: Mapped[int] = mapped_column(default=0)  # the completion allowance held
    prompt_tokens: Mapped[int] = mapped_column(default=0)  # billable (cache discount applied)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelPrice(Base):
    """Price history: the newest row per model whose effective_from has passed applies."""

    __tablename__ = "model_prices"
    __table_args__ = (sa.Index("ix_prices_model_from", "model", "effective_from"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(sa.String(128))
    input_micro_per_1k: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    output_micro_per_1k: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    image_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    effective_from: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(sa.String(40))


class PackOffer(Base):
    """The purchasable pack catalog."""

    __tablename__ = "pack_offers"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    model: Mapped[str | None] = mapped_column(sa.String(128))
    tokens: Mapped[int] = mapped_column(sa.BigInteger)
    price_micro: Mapped[int] = mapped_column(sa.BigInteger)
    valid_days: Mapped[int] = mapped_column(default=30)
    active: Mapped[bool] = mapped_column(default=True)


class RedemptionCode(Base):
    __tablename__ = "redemption_codes"

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    amount_micro: Mapped[int] = mapped_column(sa.BigInteger)
    created_by: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    redeemed_by: Mapped[str | None] = mapped_column(sa.String(40))
    redeemed_at: Mapped[datetime | None]


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    message: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)  # sent by notify.dispatcher


class AuditEntry(Base):
    """Every admin or money action: who, what, on which account, with what details."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    actor_id: Mapped[str | None] = mapped_column(sa.String(40))
    account_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    action: Mapped[str] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageRollup(Base):
    """Hourly usage per account and model, maintained off the request path by the recorder."""

    __tablename__ = "usage_rollups"

    account_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    model: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    cost_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0)


# --- files and knowledge bases (files/, knowledge/) -------------------------------------
_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite: the rowid itself


class StoredFile(Base):
    """An uploaded file's metadata; the bytes live in the blob store under `blob_key`."""

    __tablename__ = "files"
    __table_args__ = (sa.Index("ix_files_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    purpose: Mapped[str] = mapped_column(sa.String(32))
    filename: Mapped[str] = mapped_column(sa.String(512))
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(128))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    blob_key: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16), default="processed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeBase(Base):
    __tablename__ = "knowledge_bases"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    embedding_id: Mapped[int | None]
    embedding_model: Mapped[str] = mapped_column(sa.String(128))
    dimensions: Mapped[int]
    customer_identifier: Mapped[str | None] = mapped_column(sa.String(64))
    background: Mapped[str | None] = mapped_column(sa.String(16))
    icon: Mapped[str | None] = mapped_column(sa.String(16))
    bucket_id: Mapped[str | None] = mapped_column(sa.String(64))
    index_version: Mapped[int] = mapped_column(default=0)  # bumped with every chunk change
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KnowledgeDocument(Base):
    __tablename__ = "knowledge_documents"
    __table_args__ = (sa.Index("ix_kdocs_knowledge_created", "knowledge_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    knowledge_id: Mapped[str] = mapped_column(sa.ForeignKey("knowledge_bases.id"))
    name: Mapped[str] = mapped_column(sa.String(512))
    blob_key: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(128))
    length: Mapped[int] = mapped_column(sa.BigInteger)  # bytes
    word_num: Mapped[int] = mapped_column(default=0)
    knowledge_type: Mapped[int] = mapped_column(default=1)
    sentence_size: Mapped[int | None]
    custom_separator: Mapped[list[str] | None] = mapped_column(sa.JSON)
    # queued | parsing | embedding | indexed | failed
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    fail_code: Mapped[int | None]
    fail_reason: Mapped[str | None] = mapped_column(sa.Text)
    chunk_count: Mapped[int] = mapped_column(default=0)
    generation: Mapped[int] = mapped_column(default=0)  # bumped per (re)ingestion; stale jobs stop
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KnowledgeChunk(Base):
    """One indexed passage; `id` is also its rowid in the SQLite vector and FTS5 tables."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        sa.Index("ix_kchunks_knowledge", "knowledge_id"),
        sa.Index("ix_kchunks_document", "document_id"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_PK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    knowledge_id: Mapped[str] = mapped_column(sa.String(32))
    document_id: Mapped[str] = mapped_column(sa.String(32))
    ordinal: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text)
    terms: Mapped[str] = mapped_column(sa.Text)  # BM25 tokens (jieba for Chinese), space-joined
    embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # float32 little-endian


class RetrievalTrace(Base):
    """What one retrieval saw (candidates, scores before/after fusion and rerank), for debugging."""

    __tablename__ = "retrieval_traces"
    __table_args__ = (sa.Index("ix_rtraces_account_request", "account_id", "request_id"),)

    id: Mapped[int] = mapped_column(_BIGINT_PK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    request_id: Mapped[str] = mapped_column(sa.String(128))
    knowledge_id: Mapped[str] = mapped_column(sa.String(32))
    trace: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- accounts: passwords, one-time codes, console sessions, real-name verification -------


class AccountCredential(Base):
    """An account's console password (argon2id); accounts made by the CLI may have none."""

    __tablename__ = "account_credentials"

    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VerificationCode(Base):
    """A one-time code sent to an email address or phone number, stored only as an HMAC."""

    __tablename__ = "verification_codes"
    __table_args__ = (sa.Index("ix_vcodes_target_created", "target", "created_at"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(sa.String(8))  # email | phone
    target: Mapped[str] = mapped_column(sa.String(320))
    purpose: Mapped[str] = mapped_column(sa.String(16))  # register
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A console login; the cookie's token and its CSRF token are stored only as SHA-256 hashes."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    csrf_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class VerificationApplication(Base):
    """A real-name verification request (personal ID card or enterprise licence) and its review."""

    __tablename__ = "verification_applications"
    __table_args__ = (sa.Index("ix_vapps_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # personal | enterprise
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending|approved|rejected
    subject_name: Mapped[str] = mapped_column(sa.String(200))  # the person or the company
    identifier_sealed: Mapped[str] = mapped_column(sa.Text)  # ID number / credit code, Fernet-sealed
    identifier_masked: Mapped[str] = mapped_column(sa.String(32))
    licence_blob: Mapped[str | None] = mapped_column(sa.String(255))  # relative to data_dir
    licence_content_type: Mapped[str | None] = mapped_column(sa.String(64))
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(40))
    reviewed_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GrantClaim(Base):
    """One free grant per person: a keyed digest of the normalised email/phone (registration)
    or of the ID number (real-name verification); the first account to claim it is paid."""

    __tablename__ = "grant_claims"

    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # HMAC-SHA256 hex
    kind: Mapped[str] = mapped_column(sa.String(16))  # registration | verification
    account_id: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- batches ---------------------------------------------------------------------------
class Batch(Base):
    """A Batch API job (reference §13): one durable job runs its input file's lines in order."""

    __tablename__ = "batches"
    __table_args__ = (sa.Index("ix_batches_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))
    endpoint: Mapped[str] = mapped_column(sa.String(64))
    input_file_id: Mapped[str] = mapped_column(sa.String(64))
    completion_window: Mapped[str | None] = mapped_column(sa.String(16))
    model: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16), default="validating")
    auto_delete_input_file: Mapped[bool] = mapped_column(default=False)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", sa.JSON)
    total: Mapped[int] = mapped_column(default=0)
    completed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    next_index: Mapped[int] = mapped_column(default=0)  # requests done: the resume cursor
    prompt_tokens: Mapped[int] = mapped_column(BigInt, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInt, default=0)
    output_file_id: Mapped[str | None] = mapped_column(sa.String(64))
    error_file_id: Mapped[str | None] = mapped_column(sa.String(64))
    errors: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    in_progress_at: Mapped[datetime | None]
    finalizing_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    cancelling_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class BatchResult(Base):
    """One finished request of a running batch (its output or error line); the key makes a
    line impossible to record twice. Rows are folded into the output files, then deleted."""

    __tablename__ = "batch_results"

    batch_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ok: Mapped[bool]
    line: Mapped[str] = mapped_column(sa.Text)


# --- fine-tuning -----------------------------------------------------------------------
class FineTuningJob(Base):
    """A fine-tuning job (reference §12); its durable `jobs` row shares the id."""

    __tablename__ = "fine_tuning_jobs"
    __table_args__ = (sa.Index("ix_fine_tuning_jobs_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    model: Mapped[str] = mapped_column(sa.String(128))  # the name the caller used
    base_model: Mapped[str] = mapped_column(sa.String(128))  # the catalog's canonical name
    training_file: Mapped[str] = mapped_column(sa.String(64))
    validation_file: Mapped[str | None] = mapped_column(sa.String(64))
    suffix: Mapped[str | None] = mapped_column(sa.String(64))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)  # resolved values
    status: Mapped[str] = mapped_column(sa.String(24), default="validating_files")
    fine_tuned_model: Mapped[str | None] = mapped_column(sa.String(255))
    train_examples: Mapped[int] = mapped_column(default=0)
    validation_examples: Mapped[int] = mapped_column(default=0)
    estimated_tokens: Mapped[int] = mapped_column(BigInt, default=0)  # dataset tokens × epochs
    trained_tokens: Mapped[int] = mapped_column(BigInt, default=0)
    hold_id: Mapped[str | None] = mapped_column(sa.String(40))  # billing reservation
    error: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class FineTuningEvent(Base):
    """Progress of a fine-tuning job: messages and per-step metrics (step, loss, val loss)."""

    __tablename__ = "fine_tuning_events"
    __table_args__ = (sa.Index("ix_fine_tuning_events_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(sa.String(64))
    level: Mapped[str] = mapped_column(sa.String(8), default="info")
    type: Mapped[str] = mapped_column(sa.String(16), default="message")  # message | metrics
    message: Mapped[str] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FineTunedModel(Base):
    """A fine-tuned model of one account: served as its base model plus a LoRA adapter."""

    __tablename__ = "fine_tuned_models"
    __table_args__ = (sa.Index("ix_fine_tuned_models_account", "account_id"),)

    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)  # ft:<base>:<suffix>:<job>
    account_id: Mapped[str] = mapped_column(sa.String(40))
    base_model: Mapped[str] = mapped_column(sa.String(128))
    job_id: Mapped[str] = mapped_column(sa.String(64))
    adapter_path: Mapped[str] = mapped_column(sa.Text)  # GGUF LoRA adapter
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- agent APIs: stored Responses, assistants and their conversations -------------------


class StoredResponse(Base):
    """One OpenAI Responses API answer kept for GET, `input_items` and `previous_response_id`."""

    __tablename__ = "agent_responses"
    __table_args__ = (sa.Index("ix_agent_responses_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    model: Mapped[str] = mapped_column(sa.String(128))
    previous_response_id: Mapped[str | None] = mapped_column(sa.String(64))
    input_items: Mapped[list[Any]] = mapped_column(sa.JSON)
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the response object as returned
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class McpCallTrace(Base):
    """One MCP tool call the platform made for a request (chat, Responses, assistants): the
    request's trace, read back by its account (console request detail)."""

    __tablename__ = "mcp_call_traces"
    __table_args__ = (
        sa.Index("ix_mcp_traces_account_request", "account_id", "request_id"),
        sa.Index("ix_mcp_traces_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_PK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    request_id: Mapped[str] = mapped_column(sa.String(128))  # the id the caller got back
    endpoint: Mapped[str] = mapped_column(sa.String(64))
    server_label: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(64))
    arguments: Mapped[str] = mapped_column(sa.Text)
    output: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentAssistant(Base):
    """An assistant an account defines: instructions, model and tools (assistant API)."""

    __tablename__ = "agent_assistants"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    instructions: Mapped[str] = mapped_column(sa.Text, default="")
    model: Mapped[str] = mapped_column(sa.String(128))
    tools: Mapped[list[Any]] = mapped_column(sa.JSON)
    starter_prompts: Mapped[list[Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AgentConversation(Base):
    """A conversation with an assistant; its history lives here, server-side."""

    __tablename__ = "agent_conversations"
    __table_args__ = (sa.Index("ix_agent_conversations_assistant", "account_id", "assistant_id"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    assistant_id: Mapped[str] = mapped_column(sa.String(64))
    messages: Mapped[list[Any]] = mapped_column(sa.JSON)  # [{role, content}] in order
    prompt_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AccountPreference(Base):
    """Per-account console preferences; a missing row means the defaults (bodies not kept)."""

    __tablename__ = "account_preferences"

    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), primary_key=True)
    store_bodies: Mapped[bool] = mapped_column(default=False)
    body_retention_days: Mapped[int] = mapped_column(default=7)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RequestBody(Base):
    """A request's body and its answer, kept only for accounts that opted in, until expires_at."""

    __tablename__ = "request_bodies"
    __table_args__ = (sa.Index("ix_request_bodies_account_request", "account_id", "request_id"),)

    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(40))
    request_id: Mapped[str] = mapped_column(sa.String(128))
    request: Mapped[Any] = mapped_column(sa.JSON)
    response: Mapped[Any] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
