"""The monthly-bill query over 1,000,000 usage rows on SQLite (goal < 200 ms).

Fills a fresh SQLite database with N usage rows for one account spread over one month,
maintaining the hourly rollups exactly as the server's recorder does (same function),
then times `Bills.monthly` (reads rollups) and, for comparison, the same bill computed
by GROUP BY over the raw usage table.

    .venv/bin/python bench/monthly_bill.py --rows 1000000
    .venv/bin/python bench/monthly_bill.py --smoke      # a few seconds (tests/billing/test_benches.py)
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from openmaas.billing.bills import Bills
from openmaas.billing.usage import bump_rollups
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import UsageRecord

ACCOUNT = "acct_bench"
MODELS = ("glm-4", "glm-3-turbo", "charglm-3", "embedding-2")
START = datetime(2026, 10, 1, tzinfo=UTC) - timedelta(hours=8)  # Beijing month start


def fill(db: Database, rows: int, batch: int = 20_000) -> float:
    """Usage rows as the recorder writes them (plain dicts through Core), with their rollups."""
    rng = random.Random(1)
    began = time.perf_counter()
    seconds = 31 * 24 * 3600
    for offset in range(0, rows, batch):
        records = [
            {
                "account_id": ACCOUNT,
                "api_key_id": "k",
                "request_id": f"r{offset + i}",
                "endpoint": "chat",
                "model": rng.choice(MODELS),
                "prompt_tokens": rng.randint(5, 500),
                "completion_tokens": rng.randint(1, 300),
                "latency_ms": rng.randint(50, 900),
                "status": "success",
                "error_code": None,
                "cost_micro": rng.randint(1, 80_000),
                "cached_tokens": 0,
                "reasoning_tokens": 0,
                "created_at": START + timedelta(seconds=rng.randrange(seconds)),
            }
            for i in range(min(batch, rows - offset))
        ]
        with db.session() as session:
            session.execute(sa.insert(UsageRecord), records)
            bump_rollups(session, records)
    return time.perf_counter() - began


def raw_monthly(db: Database) -> list:
    query = (
        sa.select(
            UsageRecord.model,
            sa.func.count(),
            sa.func.sum(UsageRecord.prompt_tokens),
            sa.func.sum(UsageRecord.completion_tokens),
            sa.func.sum(UsageRecord.cost_micro),
        )
        .where(
            UsageRecord.account_id == ACCOUNT,
            UsageRecord.created_at >= START,
            UsageRecord.created_at < START + timedelta(days=31),
        )
        .group_by(UsageRecord.model)
    )
    with db.session() as session:
        return session.execute(query).all()


def timed_ms(call, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, 3 repeats (seconds; for tests)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat = 2_000, 3
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(db.engine)
        fill_seconds = fill(db, args.rows)
        bills = Bills(db, 8)
        rollup_ms, lines = timed_ms(lambda: bills.monthly(ACCOUNT, "2026-10"), args.repeat)
        raw_ms, raw = timed_ms(lambda: raw_monthly(db), max(3, args.repeat // 5))
        assert sum(line.requests for line in lines) == args.rows == sum(r[1] for r in raw)
        assert sum(line.cost_micro for line in lines) == sum(r[4] for r in raw)
        db.dispose()
    print(
        f"usage rows: {args.rows:,} (filled with rollups in {fill_seconds:.1f} s, "
        f"{args.rows / fill_seconds:,.0f} rows/s)"
    )
    print(f"monthly bill from hourly rollups: {rollup_ms:8.2f} ms (median of {args.repeat})")
    print(f"same bill by GROUP BY over usage: {raw_ms:8.2f} ms")
    print(
        f"ratio raw/rollup: {raw_ms / rollup_ms:,.0f}x; goal < 200 ms: "
        f"{'met' if rollup_ms < 200 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
