"""Helpers for tests that drive a live server: waiting, reading usage rows and jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from openmaas.services import Services
from openmaas.store.tables import Job, UsageRecord

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Calls `probe` until it returns something truthy; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {probe}"
        time.sleep(interval)


def usage_rows(services: Services, **where: str) -> list[UsageRecord]:
    """Usage rows already written (the recorder writes off the request path)."""
    query = sa.select(UsageRecord).filter_by(**where).order_by(UsageRecord.id)
    with services.db.session() as session:
        return list(session.scalars(query))


def job_row(services: Services, job_id: str) -> Job | None:
    with services.db.session() as session:
        return session.get(Job, job_id)
