"""The in-process key cache (auth/key_cache.py): a cached key still has its secret or JWT
signature checked on every request; revocation here is immediate, elsewhere within the TTL."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from openmaas.accounts.keys import KeyService
from openmaas.auth.authenticate import Authenticator
from openmaas.auth.key_cache import KeyCache
from openmaas.auth.principal import Principal
from openmaas.errors import ExpiredToken, InvalidToken, TokenVerificationFailed
from openmaas.store.tables import ApiKey, utcnow
from tests.unit.test_keys import account_id, issue, ms_jwt, sealer  # noqa: F401 (fixtures)


def revoke_behind_the_cache(db, key_id: str) -> None:
    """As another process (or the CLI) would: straight in the database."""
    with db.session() as session:
        session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))


def test_a_cached_key_skips_the_database_until_its_ttl(db, sealer, account_id):  # noqa: F811
    issued = issue(db, sealer, account_id)
    auth = Authenticator(db, sealer, KeyCache(0.3))
    header = f"Bearer {issued.api_key}"
    assert auth.from_cache(header) is None  # a miss: the caller reads the database
    assert auth.authenticate(header).api_key_id == issued.id
    revoke_behind_the_cache(db, issued.id)
    assert auth.from_cache(header).api_key_id == issued.id  # served from memory
    time.sleep(0.35)
    assert auth.from_cache(header) is None
    with pytest.raises(InvalidToken):
        asyncio.run(auth.authenticate_async(header))


def test_a_cached_key_still_checks_the_secret_and_the_signature(db, sealer, account_id):  # noqa: F811
    issued = issue(db, sealer, account_id)
    auth = Authenticator(db, sealer, KeyCache(60))
    auth.authenticate(f"Bearer {ms_jwt(issued.api_key)}")  # caches the key with its secret
    with pytest.raises(InvalidToken):
        auth.from_cache(f"Bearer {issued.id}.not-the-secret")
    forged = ms_jwt(f"{issued.id}.some-other-secret")
    with pytest.raises(TokenVerificationFailed):
        auth.from_cache(f"Bearer {forged}")
    with pytest.raises(ExpiredToken):
        auth.from_cache(f"Bearer {ms_jwt(issued.api_key, -60_000)}")
    assert auth.from_cache(f"Bearer {ms_jwt(issued.api_key)}").account_id == account_id


def test_revoking_through_this_process_is_immediate(db, sealer, account_id):  # noqa: F811
    cache = KeyCache(60)
    auth, keys = Authenticator(db, sealer, cache), KeyService(db, sealer, cache)
    deleted, rotated = issue(db, sealer, account_id), issue(db, sealer, account_id)
    for issued in (deleted, rotated):
        assert asyncio.run(auth.authenticate_async(f"Bearer {issued.api_key}")).api_key_id == issued.id
    keys.delete(account_id, deleted.id)
    fresh = keys.rotate(account_id, rotated.id)
    for issued in (deleted, rotated):
        with pytest.raises(InvalidToken):
            asyncio.run(auth.authenticate_async(f"Bearer {issued.api_key}"))
    assert asyncio.run(auth.authenticate_async(f"Bearer {fresh.api_key}")).api_key_id == fresh.id


def test_a_lookup_that_raced_a_revocation_is_not_cached():
    cache = KeyCache(60)
    cache.forget("k1")  # revoked while a request was reading the row
    cache.put("k1", Principal("acct", "k1"), "hash", None, None)
    assert cache.get("k1") is None
    cache.put("k2", Principal("acct", "k2"), "hash", None, None)
    assert cache.get("k2").principal.api_key_id == "k2"
