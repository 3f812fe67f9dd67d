"""API keys of one account: list, create, delete (revoke) and leaked-key rotation, all audited.

Another account's key id behaves exactly like an unknown one: NotFound, nothing changes.
"""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.accounts.key_limits import KeyLimitsInput, checked_limits
from openmaas.accounts.views import KeyView, key_view
from openmaas.auth.key_cache import KeyCache
from openmaas.auth.keys import IssuedKey, find_live_key, issue_key, rotate_key
from openmaas.auth.principal import Principal
from openmaas.auth.sealing import SecretSealer
from openmaas.billing.audit import audit
from openmaas.errors import InvalidField, PermissionDenied, QuotaExceeded
from openmaas.store.db import Database
from openmaas.store.tables import Account, ApiKey, utcnow

MAX_NAME_LENGTH = 200
DEFAULT_MAX_KEYS = 50
SCOPE_REFUSED = (
    "无权创建该权限的 API Key (creating a {scope!r} key needs a console session or a "
    "key of that scope; admin keys only for administrators)"
)


def apply_limits(row: ApiKey, limits: KeyLimitsInput) -> None:
    row.monthly_budget_micro = limits.monthly_budget_micro
    row.rpm_limit, row.tpm_limit, row.expires_at = limits.rpm_limit, limits.tpm_limit, limits.expires_at


def lock_account_keys(session, account_id: str) -> None:
    """Serialises key creation per account (the cap is a count, then an insert)."""
    session.execute(sa.select(Account.id).where(Account.id == account_id).with_for_update())


def key_name(name: str) -> str:
    text = name.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidField("name", f"at most {MAX_NAME_LENGTH} characters")
    return text


class KeyService:
    def __init__(
        self,
        db: Database,
        sealer: SecretSealer,
        cache: KeyCache | None = None,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._cache = cache  # the authenticator's: a key revoked here stops working at once
        self._max_keys = max_keys

    def list(self, account_id: str, include_revoked: bool = False) -> list[KeyView]:
        query = sa.select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self._db.session() as session:
            return [key_view(row) for row in session.scalars(query)]

    def create(
        self,
        account_id: str,
        name: str = "",
        actor_id: str | None = None,
        scope: str = "inference",
        creator: Principal | None = None,
        limits: KeyLimitsInput | None = None,
    ) -> IssuedKey:
        """A new key of `scope`; `creator` (the API caller) may not grant more than it holds."""
        if creator is not None and not creator.may_grant(scope):
            raise PermissionDenied(SCOPE_REFUSED.format(scope=scope))
        checked = checked_limits(limits) if limits is not None else None  # before anything is written
        with self._db.session() as session:
            self._check_cap(session, account_id)
            issued = issue_key(session, self._sealer, account_id, key_name(name), scope)
            if checked is not None:
                apply_limits(session.get_one(ApiKey, issued.id), checked)
            audit(
                session,
                actor_id or account_id,
                account_id,
                "api_key.create",
                key_id=issued.id,
                name=issued.name,
                scope=scope,
            )
            return issued

    def _check_cap(self, session, account_id: str) -> None:
        lock_account_keys(session, account_id)
        live = session.scalar(
            sa.select(sa.func.count())
            .select_from(ApiKey)
            .where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None))
        )
        if live >= self._max_keys:
            raise QuotaExceeded(
                "api_key", f"at most {self._max_keys} live API keys per account: delete one first"
            )

    def set_limits(
        self, account_id: str, key_id: str, limits: KeyLimitsInput, actor_id: str | None = None
    ) -> KeyView:
        """Replaces the key's budget, RPM/TPM and expiry (None clears one); takes effect at once."""
        checked = checked_limits(limits)
        with self._db.session() as session:
            row = find_live_key(session, account_id, key_id)
            apply_limits(row, checked)
            audit(
                session,
                actor_id or account_id,
                account_id,
                "api_key.limits",
                key_id=key_id,
                monthly_budget_micro=checked.monthly_budget_micro,
                rpm_limit=checked.rpm_limit,
                tpm_limit=checked.tpm_limit,
                expires_at=checked.expires_at.isoformat() if checked.expires_at else None,
            )
            view = key_view(row)
        self._forget(key_id)
        return view

    def delete(self, account_id: str, key_id: str, actor_id: str | None = None) -> None:
        with self._db.session() as session:
            find_live_key(session, account_id, key_id).revoked_at = utcnow()
            audit(session, actor_id or account_id, account_id, "api_key.delete", key_id=key_id)
        self._forget(key_id)

    def rotate(self, account_id: str, key_id: str, actor_id: str | None = None) -> IssuedKey:
        with self._db.session() as session:
            issued = rotate_key(session, self._sealer, account_id, key_id)
            audit(
                session,
                actor_id or account_id,
                account_id,
                "api_key.rotate",
                old_key_id=key_id,
                new_key_id=issued.id,
                name=issued.name,
            )
        self._forget(key_id)
        return issued

    def _forget(self, key_id: str) -> None:
        if self._cache is not None:
            self._cache.forget(key_id)
