"""What the account services hand back: plain dataclasses, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openmaas.store.tables import Account, ApiKey, AuditEntry, VerificationApplication


@dataclass(frozen=True)
class VerificationStatus:
    status: str  # unverified | pending | approved | rejected
    kind: str | None = None
    application_id: str | None = None
    reject_reason: str | None = None


@dataclass(frozen=True)
class AccountView:
    id: str
    name: str
    email: str | None
    phone: str | None
    tier: str
    is_admin: bool
    status: str
    created_at: datetime
    verification: VerificationStatus


def account_view(account: Account, verification: VerificationStatus) -> AccountView:
    return AccountView(
        account.id,
        account.name,
        account.email,
        account.phone,
        account.tier,
        account.is_admin,
        account.status,
        account.created_at,
        verification,
    )


@dataclass(frozen=True)
class KeyView:
    id: str
    name: str
    secret_hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scope: str = "inference"
    monthly_budget_micro: int | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    expires_at: datetime | None = None


def key_view(row: ApiKey) -> KeyView:
    return KeyView(
        row.id,
        row.name,
        f"…{row.secret_hint}",
        row.created_at,
        row.last_used_at,
        row.revoked_at,
        row.scope or "inference",
        row.monthly_budget_micro,
        row.rpm_limit,
        row.tpm_limit,
        row.expires_at,
    )


@dataclass(frozen=True)
class ApplicationView:
    id: str
    account_id: str
    kind: str
    status: str
    subject_name: str
    identifier_masked: str
    has_licence: bool
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    reject_reason: str | None


def application_view(row: VerificationApplication) -> ApplicationView:
    return ApplicationView(
        row.id,
        row.account_id,
        row.kind,
        row.status,
        row.subject_name,
        row.identifier_masked,
        row.licence_blob is not None,
        row.created_at,
        row.reviewed_by,
        row.reviewed_at,
        row.reject_reason,
    )


def verification_status(row: VerificationApplication | None) -> VerificationStatus:
    if row is None:
        return VerificationStatus("unverified")
    return VerificationStatus(row.status, row.kind, row.id, row.reject_reason)


@dataclass(frozen=True)
class AuditView:
    id: int
    actor_id: str | None
    account_id: str | None
    action: str
    details: dict
    created_at: datetime


def audit_view(row: AuditEntry) -> AuditView:
    return AuditView(row.id, row.actor_id, row.account_id, row.action, row.details, row.created_at)
