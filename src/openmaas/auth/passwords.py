"""Console passwords: argon2id hashes (argon2-cffi), strength rules, constant-time misses."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from openmaas.errors import InvalidField

MAX_PASSWORD_LENGTH = 128


class Passwords:
    def __init__(self, profile: str = "RFC_9106_LOW_MEMORY", min_length: int = 8) -> None:
        self._hasher = PasswordHasher.from_parameters(getattr(profiles, profile))
        self._min_length = min_length
        self._dummy_hash = self._hasher.hash("a password nobody has")

    def check_strength(self, password: str) -> None:
        if not self._min_length <= len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidField("password", f"{self._min_length} to {MAX_PASSWORD_LENGTH} characters")
        kinds = (any(c.isalpha() for c in password), any(c.isdigit() for c in password),
                 any(not c.isalnum() for c in password))
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
