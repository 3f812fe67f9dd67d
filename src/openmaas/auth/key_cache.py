"""A short-lived in-process cache of API keys, so that a request does not read the database
(in a worker thread) to authenticate.

A key's secret never changes (rotation issues a new key id), so a cached entry only has to
notice revocation: this process's `KeyService` forgets a key the moment it revokes it, and
every entry expires after `ttl_seconds`, which bounds how long a key revoked by another
process (another worker, the CLI) keeps working here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from openmaas.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class CachedKey:
    principal: Principal
    secret_hash: str
    secret: str | None  # the unsealed secret, once a JWT needed it
    last_used_at: datetime | None
    expires_at: float  # time.monotonic()


class KeyCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, CachedKey] = {}
        # key id -> when it was forgotten: a lookup that read the row before the revocation
        # committed must not put it back
        self._forgotten: dict[str, float] = {}

    def get(self, key_id: str) -> CachedKey | None:
        entry = self._entries.get(key_id)
        if entry is not None and entry.expires_at <= time.monotonic():
            self._entries.pop(key_id, None)
            return None
        return entry

    def put(
        self,
        key_id: str,
        principal: Principal,
        secret_hash: str,
        secret: str | None,
        last_used_at: datetime | None,
    ) -> None:
        if self.ttl_seconds <= 0 or key_id in self._forgotten:
            return
        self._entries[key_id] = CachedKey(
            principal, secret_hash, secret, last_used_at, time.monotonic() + self.ttl_seconds
        )

    def forget(self, key_id: str) -> None:
        now = time.monotonic()
        self._forgotten = {k: t for k, t in self._forgotten.items() if t > now - self.ttl_seconds}
        self._forgotten[key_id] = now
        self._entries.pop(key_id, None)
