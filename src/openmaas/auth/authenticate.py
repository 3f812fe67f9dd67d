"""Turns an `Authorization` header into a Principal (raw `id.secret` or Zhipu JWT)."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from openmaas.auth import zhipu_jwt
from openmaas.auth.keys import find_active_key, secret_matches
from openmaas.auth.principal import Principal
from openmaas.auth.sealing import SecretSealer
from openmaas.errors import InvalidToken, MissingCredentials, TokenVerificationFailed
from openmaas.store.db import Database
from openmaas.store.tables import Account, ApiKey, utcnow

log = logging.getLogger(__name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoid a write per request


class Authenticator:
    def __init__(self, db: Database, sealer: SecretSealer) -> None:
        self._db = db
        self._sealer = sealer

    def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer_token(authorization)
        if token.count(".") == 2:
            return self._from_jwt(token)
        if token.count(".") == 1:
            key_id, secret = token.split(".")
            return self._from_raw_key(key_id, secret)
        raise InvalidToken()

    def _from_raw_key(self, key_id: str, secret: str) -> Principal:
        with self._db.session(read_only=True) as session:
            key, account = find_active_key(session, key_id)
            if not secret_matches(key, secret):
                raise InvalidToken()
        return self._principal(key, account)

    def _from_jwt(self, token: str) -> Principal:
        claims = zhipu_jwt.read_key_id(token)
        with self._db.session(read_only=True) as session:
            key, account = find_active_key(session, claims.key_id)
        try:
            secret = self._sealer.unseal(key.secret_sealed)
        except Exception as exc:  # sealed with another server key
            raise TokenVerificationFailed() from exc
        zhipu_jwt.verify(token, secret)
        return self._principal(key, account)

    def _principal(self, key: ApiKey, account: Account) -> Principal:
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            self._touch(key.id, now)
        return Principal(account_id=account.id, api_key_id=key.id, tier=account.tier,
                         is_admin=account.is_admin)

    def _touch(self, key_id: str, now) -> None:
        """Best effort: a missed `last_used_at` update (lock contention) must not fail a request."""
        try:
            with self._db.session() as session:
                session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        except sa.exc.OperationalError:
            log.warning("could not record last use of key %s", key_id)


def _bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise MissingCredentials()
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        # The Zhipu platform also accepts the bare key without a scheme.
        token = authorization.strip()
    token = token.strip()
    if not token:
        raise MissingCredentials()
    return token
