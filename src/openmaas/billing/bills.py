"""Bills, histories and exports. Day and month bills read the hourly rollups, never the raw
usage table, so they stay fast however many requests an account makes; per-request detail
and exports read usage rows for a bounded date range.

Days and months are cut at `bill_utc_offset_hours` (Beijing time by default); the hourly
rollups make any whole-hour offset exact.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from openmaas.billing.views import RechargeView, UsageView, recharge_view
from openmaas.errors import InvalidField, RateLimited
from openmaas.store.db import Database
from openmaas.store.tables import LedgerEntry, ResourcePack, UsageRecord, UsageRollup

RECHARGE_KINDS = ("admin_credit", "redeem", "topup")
MAX_EXPORT_DAYS = 366
EXPORT_PAGE_ROWS = 1000  # rows read per short read-only transaction
MAX_EXPORTS_PER_ACCOUNT = 2  # downloads one account may have open at once (per process)
EXPORT_FIELDS = (
    "created_at",
    "request_id",
    "model",
    "endpoint",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_micro",
    "latency_ms",
    "api_key_id",
)
USAGE_COLUMNS = tuple(getattr(UsageRecord, name) for name in EXPORT_FIELDS)  # UsageView's fields


@dataclass(frozen=True)
class BillLine:
    period: str  # YYYY-MM-DD or YYYY-MM
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int


def parse_month(month: str) -> date:
    try:
        return datetime.strptime(month, "%Y-%m").date()
    except ValueError as exc:
        raise InvalidField("month", "expected YYYY-MM") from exc


def check_range(start: date, end: date) -> None:
    if end < start:
        raise InvalidField("end", "must not be before start")
    if (end - start).days > MAX_EXPORT_DAYS:
        raise InvalidField("end", f"ranges are limited to {MAX_EXPORT_DAYS} days")


class TooManyExports(RateLimited):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"导出任务过多，请等待已有导出完成 (this account already has {limit} usage "
            f"exports downloading; finish one first)",
            retry_after=5.0,
        )


class ExportSlots:
    """How many exports each account has open in this process; `take` refuses past the cap."""

    def __init__(self, per_account: int) -> None:
        self._per_account = per_account
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, account_id: str) -> Callable[[], None]:
        """A slot, or TooManyExports; call what it returns (once) when the download ends."""
        with self._lock:
            if self._open.get(account_id, 0) >= self._per_account:
                raise TooManyExports(self._per_account)
            self._open[account_id] = self._open.get(account_id, 0) + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                left = self._open.pop(account_id, 1) - 1
                if left:
                    self._open[account_id] = left

        return release


class Bills:
    def __init__(
        self, db: Database, utc_offset_hours: int, max_exports_per_account: int = MAX_EXPORTS_PER_ACCOUNT
    ) -> None:
        self._db = db
        self._offset = timedelta(hours=utc_offset_hours)
        self.exports = ExportSlots(max_exports_per_account)

    def _utc(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC) - self._offset

    def daily(self, account_id: str, start: date, end: date) -> list[BillLine]:
        check_range(start, end)
        return self._grouped(account_id, start, end + timedelta(days=1), "%Y-%m-%d")

    def monthly(self, account_id: str, month: str) -> list[BillLine]:
        first = parse_month(month)
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return self._grouped(account_id, first, following, "%Y-%m")

    def _grouped(self, account_id: str, start: date, stop: date, fmt: str) -> list[BillLine]:
        query = sa.select(
            UsageRollup.hour,
            UsageRollup.model,
            UsageRollup.requests,
            UsageRollup.prompt_tokens,
            UsageRollup.completion_tokens,
            UsageRollup.cost_micro,
        ).where(
            UsageRollup.account_id == account_id,
            UsageRollup.hour >= self._utc(start),
            UsageRollup.hour < self._utc(stop),
        )
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        with self._db.session() as session:
            for hour, model, *values in session.execute(query):
                bucket = totals[((hour + self._offset).strftime(fmt), model)]
                for i, value in enumerate(values):
                    bucket[i] += value
        return [BillLine(period, model, *values) for (period, model), values in sorted(totals.items())]

    def recharges(self, account_id: str) -> list[RechargeView]:
        with self._db.session() as session:
            rows = session.scalars(
                sa.select(LedgerEntry)
                .where(LedgerEntry.account_id == account_id, LedgerEntry.kind.in_(RECHARGE_KINDS))
                .order_by(LedgerEntry.id.desc())
            )
            return [recharge_view(row) for row in rows]

    def pack_history(self, account_id: str) -> list[dict[str, Any]]:
        """Each pack with what was charged from it and what expired."""
        with self._db.session() as session:
            packs = session.scalars(
                sa.select(ResourcePack)
                .where(ResourcePack.account_id == account_id)
                .order_by(ResourcePack.created_at)
            ).all()
            used = dict(
                session.execute(
                    sa.select(LedgerEntry.pack_id, sa.func.sum(LedgerEntry.pack_tokens))
                    .where(
                        LedgerEntry.account_id == account_id,
                        LedgerEntry.kind == "charge",
                        LedgerEntry.pack_id.is_not(None),
                    )
                    .group_by(LedgerEntry.pack_id)
                ).all()
            )
            expired = dict(
                session.execute(
                    sa.select(LedgerEntry.pack_id, sa.func.sum(LedgerEntry.pack_tokens))
                    .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "expire")
                    .group_by(LedgerEntry.pack_id)
                ).all()
            )
        return [
            {
                "id": p.id,
                "name": p.name,
                "source": p.source,
                "model": p.model,
                "total_tokens": p.total_tokens,
                "remaining_tokens": p.remaining_tokens,
                "used_tokens": -int(used.get(p.id, 0)),
                "expired_tokens": -int(expired.get(p.id, 0)),
                "created_at": p.created_at.isoformat(),
                "expires_at": p.expires_at.isoformat(),
                "expired": p.expired_at is not None,
            }
            for p in packs
        ]

    def usage_rows(self, account_id: str, start: date, end: date) -> Iterator[UsageView]:
        """Validates now, streams later (the rows are read as the response is sent)."""
        check_range(start, end)
        query = sa.select(UsageRecord.id, *USAGE_COLUMNS).where(
            UsageRecord.account_id == account_id,
            UsageRecord.created_at >= self._utc(start),
            UsageRecord.created_at < self._utc(end + timedelta(days=1)),
        )
        return self._pages(query)

    def _pages(self, query: sa.Select[Any]) -> Iterator[UsageView]:
        """The rows in id order, a page per short read-only transaction: nothing is held open
        (no SQLite write lock, no pooled connection) while the client reads, however slowly."""
        after = None
        while True:
            page = query if after is None else query.where(UsageRecord.id > after)
            with self._db.session(read_only=True) as session:
                rows = session.execute(page.order_by(UsageRecord.id).limit(EXPORT_PAGE_ROWS)).all()
            yield from (UsageView(*row[1:]) for row in rows)
            if len(rows) < EXPORT_PAGE_ROWS:
                return
            after = rows[-1].id

    def export(self, account_id: str, start: date, end: date, fmt: str) -> Iterator[bytes]:
        if fmt not in ("csv", "json"):
            raise InvalidField("format", "csv or json")
        rows = self.usage_rows(account_id, start, end)
        return _csv(rows) if fmt == "csv" else _json(rows)


def usage_dict(row: UsageView) -> dict[str, Any]:
    return {
        field: (getattr(row, field).isoformat() if field == "created_at" else getattr(row, field))
        for field in EXPORT_FIELDS
    }


def _csv(rows: Iterator[UsageView]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(usage_dict(row))
        if buffer.tell() > 64_000:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _json(rows: Iterator[UsageView]) -> Iterator[bytes]:
    yield b"["
    for i, row in enumerate(rows):
        yield (b"," if i else b"") + orjson.dumps(usage_dict(row))
    yield b"]"


def bill_dict(line: BillLine) -> dict[str, Any]:
    return asdict(line)
