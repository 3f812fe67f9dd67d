"""API keys of one account: list, create, delete (revoke) and leaked-key rotation, all audited.

Another account's key id behaves exactly like an unknown one: NotFound, nothing changes.
"""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.accounts.views import KeyView, key_view
from openmaas.auth.key_cache import KeyCache
from openmaas.auth.keys import IssuedKey, find_live_key, issue_key, rotate_key
from openmaas.auth.sealing import SecretSealer
from openmaas.billing.audit import audit
from openmaas.errors import InvalidField
from openmaas.store.db import Database
from openmaas.store.tables import ApiKey, utcnow

MAX_NAME_LENGTH = 200


def key_name(name: str) -> str:
    text = name.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidField("name", f"at most {MAX_NAME_LENGTH} characters")
    return text


class KeyService:
    def __init__(self, db: Database, sealer: SecretSealer, cache: KeyCache | None = None) -> None:
        self._db = db
        self._sealer = sealer
        self._cache = cache  # the authenticator's: a key revoked here stops working at once

    def list(self, account_id: str, include_revoked: bool = False) -> list[KeyView]:
        query = sa.select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self._db.session() as session:
            return [key_view(row) for row in session.scalars(query)]

    def create(self, account_id: str, name: str = "", actor_id: str | None = None) -> IssuedKey:
        with self._db.session() as session:
            issued = issue_key(session, self._sealer, account_id, key_name(name))
            audit(session, actor_id or account_id, account_id, "api_key.create", key_id=issued.id,
                  name=issued.name)
            return issued

    def delete(self, account_id: str, key_id: str, actor_id: str | None = None) -> None:
        with self._db.session() as session:
            find_live_key(session, account_id, key_id).revoked_at = utcnow()
            audit(session, actor_id or account_id, account_id, "api_key.delete", key_id=key_id)
        self._forget(key_id)

    def rotate(self, account_id: str, key_id: str, actor_id: str | None = None) -> IssuedKey:
        with self._db.session() as session:
            issued = rotate_key(session, self._sealer, account_id, key_id)
            audit(session, actor_id or account_id, account_id, "api_key.rotate", old_key_id=key_id,
                  new_key_id=issued.id, name=issued.name)
        self._forget(key_id)
        return issued

    def _forget(self, key_id: str) -> None:
        if self._cache is not None:
            self._cache.forget(key_id)
