"""Finding 2 (security review 2026-12): the usage export streamed from inside a write
transaction. On SQLite a slow reader held the process's writer gate and the write lock, so
every write on the platform stalled (then failed) for as long as the client kept the
download open; on PostgreSQL each export pinned a pooled connection.

Now it reads pages in short read-only transactions, holds nothing between pages, and an
account may have only a few exports open at once (1302 past that)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from openmaas.billing.bills import EXPORT_PAGE_ROWS, Bills, TooManyExports
from openmaas.store.tables import UsageRecord, utcnow

ROWS = EXPORT_PAGE_ROWS * 2 + 7
TODAY = date.today()


def add_usage(db, account_id: str, count: int) -> None:
    now = utcnow()
    with db.session() as session:
        session.execute(
            sa.insert(UsageRecord),
            [
                {
                    "account_id": account_id,
                    "request_id": f"req-{i}",
                    "endpoint": "chat",
                    "model": "glm-4",
                    "status": "success",
                    "created_at": now,
                }
                for i in range(count)
            ],
        )


def write_finishes_within(db, seconds: float) -> bool:
    def write() -> None:
        with db.session() as session:
            session.execute(
                sa.insert(UsageRecord).values(
                    account_id="acct_other", request_id="r", endpoint="chat", model="m", status="success"
                )
            )

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_a_paused_export_blocks_no_writer(db):
    add_usage(db, "acct_a", ROWS)
    bills = Bills(db, 8)
    rows = bills.usage_rows("acct_a", TODAY - timedelta(days=1), TODAY + timedelta(days=1))
    try:
        next(rows)  # the client read a little, then stopped reading
        assert write_finishes_within(db, 3.0), "a write waited for the paused export"
        assert db.engine.pool.checkedout() == 0  # no connection pinned between pages
        assert 1 + sum(1 for _ in rows) == ROWS  # every row, across the pages
    finally:
        rows.close()


def test_the_export_holds_every_row_in_order(db):
    add_usage(db, "acct_a", ROWS)
    add_usage(db, "acct_b", 5)
    chunks = Bills(db, 8).export("acct_a", TODAY - timedelta(days=1), TODAY + timedelta(days=1), "csv")
    data = b"".join(chunks)
    lines = data.decode().splitlines()
    assert len(lines) == ROWS + 1  # the header
    assert [line.split(",")[1] for line in lines[1:]] == [f"req-{i}" for i in range(ROWS)]


def test_an_account_has_a_few_exports_open_at_most(db):
    slots = Bills(db, 8, max_exports_per_account=2).exports
    first, _second = slots.take("acct_a"), slots.take("acct_a")
    with pytest.raises(TooManyExports) as refused:
        slots.take("acct_a")
    assert refused.value.code == "1302" and refused.value.http_status == 429
    slots.take("acct_b")()  # others are not affected
    first()
    first()  # giving a slot back twice frees it once
    slots.take("acct_a")
    with pytest.raises(TooManyExports):
        slots.take("acct_a")
