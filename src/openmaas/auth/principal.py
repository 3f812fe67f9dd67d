"""Who is calling: the result of authentication, passed to every service call.

`scope` says what the credential may do: an `inference` key calls the model APIs only; a
`manage` key also manages keys, the account and billing actions; an `admin` key (of an admin
account) also reaches the admin routes. A console session (`console`) may do what its account
may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

KeyScope = Literal["inference", "manage", "admin"]
KEY_SCOPES: tuple[str, ...] = ("inference", "manage", "admin")
CONSOLE = "console"
MANAGING_SCOPES = frozenset({"manage", "admin", CONSOLE})


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """A key's own limits (each None: none beyond the account's)."""

    monthly_budget_micro: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    expires_at: datetime | None = None

    @property
    def is_set(self) -> bool:
        return any(v is not None for v in (self.monthly_budget_micro, self.rpm, self.tpm, self.expires_at))


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    api_key_id: str | None
    tier: str = "V0"
    is_admin: bool = False
    scope: str = "inference"  # a KeyScope, or "console" for a console session
    key_limits: KeyLimits | None = None  # the API key's own budget, RPM/TPM and expiry

    @property
    def can_manage(self) -> bool:
        """Keys, the account, billing actions: a console session or a manage/admin key."""
        return self.scope in MANAGING_SCOPES

    @property
    def can_administer(self) -> bool:
        """Admin routes: an admin account through its console session or an admin-scope key."""
        return self.is_admin and self.scope in ("admin", CONSOLE)

    def may_grant(self, scope: str) -> bool:
        """Whether this caller may create a key of `scope` (never more than it holds)."""
        if scope == "admin":
            return self.can_administer
        if scope == "manage":
            return self.can_manage
        return True
