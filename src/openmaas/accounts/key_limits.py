"""Per-key limits: checking what a user asks for, and the monthly budget's spend.

A key's budget counts the cash its requests cost this calendar month (in the billing time
zone, like the bills); the check runs before a request does any work. RPM/TPM go to the
limiter through the principal (`limits.base.frequency_limits`); expiry is checked at auth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from openmaas.errors import InvalidField, KeyBudgetExceeded
from openmaas.store.db import Database
from openmaas.store.tables import UsageRecord, utcnow

MAX_BUDGET_MICRO = 10**9 * 10**6  # ¥1,000,000,000: anything above is a typo, not a budget
MAX_PER_MINUTE = 10**9
MAX_EXPIRY = timedelta(days=3660)


@dataclass(frozen=True)
class KeyLimitsInput:
    """What a user asked for; each field None clears that limit."""

    monthly_budget_micro: int | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    expires_at: datetime | None = None


def checked_limits(limits: KeyLimitsInput) -> KeyLimitsInput:
    """The limits, or InvalidField for a negative/zero/huge number or a past expiry."""
    if limits.monthly_budget_micro is not None and not 0 <= limits.monthly_budget_micro <= MAX_BUDGET_MICRO:
        raise InvalidField("monthly_budget", "between 0 and 1,000,000,000 yuan")
    for field, value in (("rpm_limit", limits.rpm_limit), ("tpm_limit", limits.tpm_limit)):
        if value is not None and not 1 <= value <= MAX_PER_MINUTE:
            raise InvalidField(field, f"between 1 and {MAX_PER_MINUTE}")
    if limits.expires_at is not None:
        expires = limits.expires_at if limits.expires_at.tzinfo else limits.expires_at.replace(tzinfo=UTC)
        now = utcnow()
        if expires <= now:
            raise InvalidField("expires_at", "must be in the future")
        if expires > now + MAX_EXPIRY:
            raise InvalidField("expires_at", "at most ten years ahead")
        limits = KeyLimitsInput(limits.monthly_budget_micro, limits.rpm_limit, limits.tpm_limit, expires)
    return limits


def month_start(now: datetime, utc_offset_hours: int) -> datetime:
    """The first moment of the current billing month, in UTC."""
    offset = timedelta(hours=utc_offset_hours)
    local = now + offset
    return datetime(local.year, local.month, 1, tzinfo=UTC) - offset


def month_spend(db: Database, account_id: str, api_key_id: str, utc_offset_hours: int) -> int:
    """The cash (µ元) the key's requests cost this billing month (the account id lets the
    query use the usage rows' (account, created_at) index)."""
    since = month_start(utcnow(), utc_offset_hours)
    with db.session(read_only=True) as session:
        return int(
            session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(UsageRecord.cost_micro), 0)).where(
                    UsageRecord.account_id == account_id,
                    UsageRecord.created_at >= since,
                    UsageRecord.api_key_id == api_key_id,
                )
            )
            or 0
        )


def check_key_budget(
    db: Database, account_id: str, api_key_id: str | None, budget_micro: int, utc_offset_hours: int
) -> None:
    if api_key_id is not None and month_spend(db, account_id, api_key_id, utc_offset_hours) >= budget_micro:
        raise KeyBudgetExceeded()
