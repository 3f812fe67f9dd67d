"""Security review finding 21 (authentication details): a Zhipu JWT's `exp` had no upper bound
and could be NaN/Infinity (never expiring); a key revoked through another process kept working
there for up to 2 s (`auth_cache_seconds`); every console request opened a write transaction
just to read its session. (Redeem and login rate limits: test_05_argon2_and_attempt_limits.py.)

Now: `exp` must be finite and at most `jwt_max_lifetime_seconds` ahead; the key cache lives at
most 1 s, so a revocation reaches every process within a second; console sessions are read in
read-only transactions. Each test fails on 99cbb66."""

from __future__ import annotations

import asyncio
import threading
import time

import jwt
import pytest
from pydantic import ValidationError

from openmaas.accounts.keys import KeyService
from openmaas.auth import zhipu_jwt
from openmaas.auth.authenticate import Authenticator
from openmaas.auth.key_cache import KeyCache
from openmaas.config import Settings
from openmaas.errors import InvalidToken
from tests.conftest import add_tenant

KEY_ID, SECRET = "3f2a9c0e5b7d4e1fa0c2b4d6e8f01234", "s3cr3t-value-of-the-key"
NOW_MS = 1_750_000_000_000


def signed(exp) -> str:
    return jwt.encode(
        {"api_key": KEY_ID, "exp": exp, "timestamp": NOW_MS},
        SECRET,
        algorithm="HS256",
        headers={"alg": "HS256", "sign_type": "SIGN"},
    )


@pytest.mark.parametrize("exp", [float("nan"), float("inf"), 1e300, NOW_MS + 400 * 86_400_000, True])
def test_non_finite_or_far_future_exp_is_refused(exp):
    with pytest.raises(InvalidToken):
        zhipu_jwt.verify(signed(exp), SECRET, now_ms=NOW_MS)


def test_a_day_ahead_is_the_default_maximum_and_is_configurable():
    zhipu_jwt.verify(signed(NOW_MS + 23 * 3_600_000), SECRET, now_ms=NOW_MS)
    with pytest.raises(InvalidToken):
        zhipu_jwt.verify(signed(NOW_MS + 3_600_000), SECRET, now_ms=NOW_MS, max_lifetime_ms=600_000)


def test_a_forever_jwt_is_refused_over_http(harness):
    key_id, secret = harness.tenant.api_key.split(".")
    token = jwt.encode(
        {"api_key": key_id, "exp": float("inf"), "timestamp": 0},
        secret,
        algorithm="HS256",
        headers={"alg": "HS256", "sign_type": "SIGN"},
    )
    response = harness.client.get("/api/paas/v4/models", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "1002"


def test_the_key_cache_lives_at_most_one_second():
    assert Settings().auth_cache_seconds <= 1.0
    with pytest.raises(ValidationError):
        Settings(auth_cache_seconds=2.0)


def test_a_key_revoked_by_another_process_stops_within_one_second(harness):
    services = harness.services
    tenant = add_tenant(services, "revoked")
    here = Authenticator(services.db, services.sealer, KeyCache(Settings().auth_cache_seconds))
    elsewhere = KeyService(services.db, services.sealer, KeyCache(1.0))  # another process's view
    header = f"Bearer {tenant.api_key}"
    assert asyncio.run(here.authenticate_async(header)).api_key_id == tenant.key_id  # now cached
    elsewhere.delete(tenant.account_id, tenant.key_id)
    time.sleep(1.05)
    with pytest.raises(InvalidToken):
        asyncio.run(here.authenticate_async(header))


def test_console_session_reads_do_not_wait_for_the_write_lock(platform):
    """A console request authenticates while another connection holds SQLite's write lock."""
    import sqlite3

    platform.register("reader@example.com")
    assert platform.login("reader@example.com").status_code == 200
    token = platform.client.cookies["openmaas_session"]
    path = platform.services.settings.resolved_database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # a long write elsewhere
    done: list = []
    try:
        thread = threading.Thread(
            target=lambda: done.append(platform.services.accounts.sessions.authenticate(token)), daemon=True
        )
        thread.start()
        thread.join(5)
        assert done and done[0].principal.scope == "console"
    finally:
        writer.rollback()
        writer.close()
