"""Who is calling: the result of authentication, passed to every service call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    api_key_id: str | None
    tier: str = "V0"
    is_admin: bool = False
