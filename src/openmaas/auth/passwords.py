"""Console passwords: argon2id hashes (argon2-cffi), strength rules, constant-time misses.

The API hashes on a small pool of its own (`hash_async`/`verify_async`): argon2id takes
64 MiB and tens of ms per call, and in the shared threadpool a flood of junk logins would
queue every other blocking call of the process behind it. Past `MAX_QUEUED_PER_WORKER`
waiting calls per worker, new ones are refused with 429 instead of queueing without end.
The pool's threads (and the lanes argon2 starts from them) run at a lower CPU priority
(`ARGON2_NICE`): on a box with few cores, sign-in attempts must not take the CPU the event
loop needs to serve everyone's requests; a sign-in waits a little longer instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from openmaas.errors import InvalidField, TooManyAttempts

T = TypeVar("T")

MAX_PASSWORD_LENGTH = 128
MAX_QUEUED_PER_WORKER = 16
ARGON2_NICE = 10  # added to the pool threads' nice value (Linux: per thread)


def lower_thread_priority() -> None:
    """Lowers this thread's CPU priority (Linux; a no-op where that is not possible).
    Threads it starts (argon2's lanes) inherit it."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + ARGON2_NICE)


class Passwords:
    def __init__(
        self, profile: str = "RFC_9106_LOW_MEMORY", min_length: int = 8, concurrency: int = 2
    ) -> None:
        self._hasher = PasswordHasher.from_parameters(getattr(profiles, profile))
        self._min_length = min_length
        self._dummy_hash = self._hasher.hash("a password nobody has")
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="argon2", initializer=lower_thread_priority
        )
        self._max_waiting = concurrency * MAX_QUEUED_PER_WORKER
        self._waiting = 0  # touched on the event loop only

    async def hash_async(self, password: str) -> str:
        return await self._on_pool(self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        return await self._on_pool(self.verify, password_hash, password)

    async def _on_pool(self, function: Callable[..., T], *args: Any) -> T:
        if self._waiting >= self._max_waiting:
            raise TooManyAttempts(
                "服务繁忙，请稍后再试 (too many sign-ins at once: try again shortly)", retry_after=2.0
            )
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        finally:
            self._waiting -= 1

    def check_strength(self, password: str) -> None:
        if not self._min_length <= len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidField("password", f"{self._min_length} to {MAX_PASSWORD_LENGTH} characters")
        kinds = (
            any(c.isalpha() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
        if sum(kinds) < 2:
            raise InvalidField("password", "use at least two of letters, digits and symbols")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """False on a mismatch; with no hash a dummy check runs, so misses take as long as hits."""
        try:
            matched = self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
