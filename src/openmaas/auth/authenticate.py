"""Turns an `Authorization` header into a Principal (raw `id.secret` or Zhipu JWT).

`authenticate` reads the database (run it in a worker thread). `authenticate_async` first
tries the in-process `KeyCache` on the event loop — the secret or the JWT signature is still
checked on every request, only the key's row is remembered — and falls back to
`authenticate` in a thread on a miss.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from openmaas.auth import zhipu_jwt
from openmaas.auth.key_cache import CachedKey, KeyCache
from openmaas.auth.keys import find_active_key, hash_secret, key_expired, key_limits, secret_matches
from openmaas.auth.principal import Principal
from openmaas.auth.sealing import SecretSealer
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import ExpiredToken, InvalidToken, MissingCredentials, TokenVerificationFailed
from openmaas.store.db import Database
from openmaas.store.tables import Account, ApiKey, utcnow

log = logging.getLogger(__name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoid a write per request


class Authenticator:
    def __init__(
        self,
        db: Database,
        sealer: SecretSealer,
        cache: KeyCache | None = None,
        jwt_max_lifetime_seconds: float = zhipu_jwt.DEFAULT_MAX_LIFETIME_MS / 1000,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self.cache = cache if cache is not None else KeyCache(0)
        self._jwt_max_ms = jwt_max_lifetime_seconds * 1000

    async def authenticate_async(self, authorization: str | None) -> Principal:
        principal = self.from_cache(authorization)
        if principal is None:
            principal = await run_in_threadpool(self.authenticate, authorization)
        return principal

    def from_cache(self, authorization: str | None) -> Principal | None:
        """The principal when the key is cached (None on a miss, or when its `last_used_at`
        is due for an update, which `authenticate` writes); raises for a wrong secret."""
        token = _bearer_token(authorization)
        dots = token.count(".")
        if dots == 1:
            key_id, secret = token.split(".")
            entry = self._fresh_entry(key_id)
            if entry is not None and not hmac.compare_digest(entry.secret_hash, hash_secret(secret)):
                raise InvalidToken()
        elif dots == 2:
            entry = self._fresh_entry(zhipu_jwt.read_key_id(token).key_id)
            if entry is None or entry.secret is None:
                return None
            zhipu_jwt.verify(token, entry.secret, max_lifetime_ms=self._jwt_max_ms)
        else:
            raise InvalidToken()
        if (
            entry is not None
            and entry.principal.key_limits is not None
            and key_expired(entry.principal.key_limits.expires_at)
        ):  # expired while cached
            raise ExpiredToken("API Key 已过期 (this API key expired: create a new one or extend it)")
        return entry.principal if entry is not None else None

    def _fresh_entry(self, key_id: str) -> CachedKey | None:
        entry = self.cache.get(key_id)
        if entry is None or _touch_due(entry.last_used_at, utcnow()):
            return None
        return entry

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
        return self._principal(key, account, None)

    def _from_jwt(self, token: str) -> Principal:
        claims = zhipu_jwt.read_key_id(token)
        with self._db.session(read_only=True) as session:
            key, account = find_active_key(session, claims.key_id)
        try:
            secret = self._sealer.unseal(key.secret_sealed)
        except Exception as exc:  # sealed with another server key
            raise TokenVerificationFailed() from exc
        zhipu_jwt.verify(token, secret, max_lifetime_ms=self._jwt_max_ms)
        return self._principal(key, account, secret)

    def _principal(self, key: ApiKey, account: Account, secret: str | None) -> Principal:
        now, last_used = utcnow(), key.last_used_at
        if _touch_due(last_used, now):
            self._touch(key.id, now)
            last_used = now
        principal = Principal(
            account_id=account.id,
            api_key_id=key.id,
            tier=account.tier,
            is_admin=account.is_admin,
            scope=key.scope or "inference",
            key_limits=key_limits(key),
        )
        self.cache.put(key.id, principal, key.secret_hash, secret, last_used)
        return principal

    def _touch(self, key_id: str, now: datetime) -> None:
        """Best effort: a missed `last_used_at` update (lock contention) must not fail a request."""
        try:
            with self._db.session() as session:
                session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        except sa.exc.OperationalError:
            log.warning("could not record last use of key %s", key_id)


def _touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION


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
