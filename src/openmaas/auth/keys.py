"""API keys: `id.secret`, the secret shown once, stored as a SHA-256 hash (+ sealed copy).

The secret is 192 bits of randomness, so a fast hash is the right tool for verifying it
(slow password hashes guard low-entropy inputs and would cost milliseconds per request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import KEY_SCOPES, KeyLimits
from openmaas.auth.sealing import SecretSealer
from openmaas.errors import ExpiredToken, InvalidField, InvalidToken, NotFound
from openmaas.store.tables import Account, ApiKey, utcnow


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: the only moment the full secret exists outside the client."""

    id: str
    name: str
    api_key: str  # "id.secret"
    created_at: datetime
    scope: str = "inference"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(
    session: Session, sealer: SecretSealer, account_id: str, name: str = "", scope: str = "inference"
) -> IssuedKey:
    if scope not in KEY_SCOPES:
        raise InvalidField("scope", f"one of {', '.join(KEY_SCOPES)}")
    key_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")
    row = ApiKey(
        id=key_id,
        account_id=account_id,
        name=name,
        secret_hash=hash_secret(secret),
        secret_sealed=sealer.seal(secret),
        secret_hint=secret[-4:],
        scope=scope,
    )
    session.add(row)
    session.flush()
    return IssuedKey(
        id=key_id, name=name, api_key=f"{key_id}.{secret}", created_at=row.created_at, scope=scope
    )


def list_keys(session: Session, account_id: str) -> list[ApiKey]:
    query = sa.select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at)
    return list(session.scalars(query))


def revoke_key(session: Session, account_id: str, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or row.account_id != account_id:
        raise NotFound("api key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def find_active_key(session: Session, key_id: str) -> tuple[ApiKey, Account]:
    """The live key and its account, or InvalidToken (unknown, revoked, inactive account)."""
    found = session.execute(
        sa.select(ApiKey, Account).join(Account, Account.id == ApiKey.account_id).where(ApiKey.id == key_id)
    ).first()
    if found is None or found[0].revoked_at is not None or found[1].status != "active":
        raise InvalidToken()
    if key_expired(found[0].expires_at):
        raise ExpiredToken("API Key 已过期 (this API key expired: create a new one or extend it)")
    return found[0], found[1]


def key_expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= utcnow()


def key_limits(row: ApiKey) -> KeyLimits | None:
    limits = KeyLimits(row.monthly_budget_micro, row.rpm_limit, row.tpm_limit, row.expires_at)
    return limits if limits.is_set else None


def secret_matches(row: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(row.secret_hash, hash_secret(secret))


def find_live_key(session: Session, account_id: str, key_id: str) -> ApiKey:
    """The account's unrevoked key, locked for update; NotFound for anyone else's or a revoked one."""
    row = session.get(ApiKey, key_id, with_for_update=True)
    if row is None or row.account_id != account_id or row.revoked_at is not None:
        raise NotFound("api key")
    return row


def rotate_key(session: Session, sealer: SecretSealer, account_id: str, key_id: str) -> IssuedKey:
    """Leaked-key rotation: revoke the key and issue a new one under the same name and scope."""
    old = find_live_key(session, account_id, key_id)
    old.revoked_at = utcnow()
    return issue_key(session, sealer, account_id, old.name, old.scope or "inference")
