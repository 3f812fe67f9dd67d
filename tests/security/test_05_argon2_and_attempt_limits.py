"""Security review findings 5 and 21 (rate limits): login and register ran argon2id in the
shared threadpool with no rate limit, and register hashed the password before it checked the
code, so junk sign-ups and logins from anyone could occupy every worker thread.

Now: attempts are limited per client address and per target (429, code 1303, Retry-After);
argon2 runs on a small pool of its own; register checks the code before hashing. Each test
fails on 99cbb66."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from openmaas.auth.throttle import Rule, build_throttle
from openmaas.errors import TooManyAttempts
from tests.accounts.conftest import PASSWORD, account_settings, open_platform


def test_register_with_a_wrong_code_never_hashes_the_password(platform):
    calls = []
    passwords = platform.services.accounts.registration._passwords
    original = passwords.hash
    passwords.hash = lambda password: calls.append(password) or original(password)
    platform.send_code("nohash@example.com")
    for _ in range(3):
        response = platform.client.post(
            "/api/platform/auth/register",
            json={"email": "nohash@example.com", "code": "999999", "password": PASSWORD, "name": "N"},
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "1214"
    assert calls == []  # the cheap check ran first


def test_password_hashing_runs_on_its_own_bounded_pool(platform):
    platform.register("pool@example.com")
    threads = []
    passwords = platform.services.accounts.login._passwords
    original = passwords.verify
    passwords.verify = lambda *args: threads.append(threading.current_thread().name) or original(*args)
    assert platform.login("pool@example.com").status_code == 200
    assert threads and all(name.startswith("argon2") for name in threads), threads


def test_logins_are_limited_per_target_with_429_1303(make_settings):
    accounts = {"attempts_per_minute_per_target": 3, "attempts_per_minute_per_address": 100}
    with open_platform(account_settings(make_settings, accounts)) as platform:
        platform.register("brute@example.com")
        statuses = [platform.login("brute@example.com", "wrong-pass-1").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        refused = platform.login("brute@example.com")  # even the right password, for now
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "1303"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert platform.login("other@example.com", "wrong-pass-1").status_code == 401  # per target


def test_logins_and_registrations_are_limited_per_client_address(make_settings):
    accounts = {"attempts_per_minute_per_address": 5, "attempts_per_minute_per_target": 100}
    with open_platform(account_settings(make_settings, accounts)) as platform:
        statuses = [platform.login(f"nobody{n}@example.com", "wrong-pass-1").status_code for n in range(6)]
        assert statuses == [401] * 5 + [429]
        registering = [
            platform.client.post(
                "/api/platform/auth/register",
                json={"email": f"r{n}@example.com", "code": "123456", "password": PASSWORD, "name": "R"},
            ).status_code
            for n in range(6)
        ]
        assert registering[-1] == 429


def test_code_requests_are_limited_per_client_address(make_settings):
    accounts = {"attempts_per_minute_per_address": 100, "code_sends_per_hour_per_address": 3}
    with open_platform(account_settings(make_settings, accounts)) as platform:
        statuses = [platform.send_code(f"pump{n}@example.com").status_code for n in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert len(platform.notifier.messages) == 3


def test_redeem_attempts_are_limited_per_account(make_settings):
    accounts = {"attempts_per_minute_per_target": 3}
    with open_platform(account_settings(make_settings, accounts)) as platform:
        platform.register("redeem@example.com")
        platform.login("redeem@example.com")
        statuses = [
            platform.client.post(
                "/api/platform/billing/redeem", json={"code": f"guess-{n:04d}"}, headers=platform.csrf()
            ).status_code
            for n in range(4)
        ]
        assert statuses[:3] != [429] * 3 and statuses[3] == 429


@pytest.mark.parametrize("redis_url", [None, "redis://127.0.0.1:6379/0"])
def test_attempt_counters_in_memory_and_shared_through_redis(redis_url):
    """With `redis_url` two processes (two throttles) share one count."""
    rule = Rule(f"test-{uuid.uuid4().hex}", 3, 60)
    first, second = build_throttle(redis_url), build_throttle(redis_url)

    async def attempts() -> list[str]:
        outcomes = []
        for throttle in (first, second, first, second, first):
            try:
                await throttle.check(rule, "target@example.com")
                outcomes.append("ok")
            except TooManyAttempts as refused:
                assert 1 <= refused.retry_after <= 60
                outcomes.append("429")
        return outcomes

    outcomes = asyncio.run(attempts())
    if redis_url:
        assert outcomes == ["ok", "ok", "ok", "429", "429"]
    else:  # each process counts for itself
        assert outcomes == ["ok", "ok", "ok", "ok", "ok"]


def test_argon2_runs_at_a_lower_cpu_priority_than_the_event_loop():
    """Hostile tenant bench (logins): argon2's lanes took both cores from the event loop.
    The argon2 pool's threads run niced, and so do the threads argon2 starts from them."""
    import asyncio
    import os
    import threading

    from openmaas.auth.passwords import ARGON2_NICE, Passwords

    passwords = Passwords()
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def pool_thread_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def check() -> int:
        return await passwords._on_pool(pool_thread_nice)

    assert asyncio.run(check()) == min(mine + ARGON2_NICE, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's is untouched
