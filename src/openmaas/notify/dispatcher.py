"""Delivers pending Notification rows (balance and pack alerts) through the notifier.

Each row is claimed by setting `delivered_at` with a conditional UPDATE, so several server
processes never send it twice; a failed send clears the claim and is retried next round.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from openmaas.concurrency import run_in_threadpool
from openmaas.notify.base import Channel, Notifier, OutgoingMessage
from openmaas.store.db import Database, changed_rows
from openmaas.store.tables import Account, Notification, utcnow

log = logging.getLogger(__name__)

SUBJECTS = {
    "balance_alert": "余额不足提醒 (balance alert)",
    "pack_alert": "资源包余量提醒 (resource pack alert)",
}


class NotificationDispatcher:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self._db = db
        self._notifier = notifier

    def deliver_pending(self, batch: int = 50) -> int:
        """Sends up to `batch` undelivered notifications; returns how many went out."""
        return sum(self._deliver_one(notification_id) for notification_id in self._pending(batch))

    def _pending(self, batch: int) -> list[int]:
        with self._db.session() as session:
            query = (
                sa.select(Notification.id)
                .where(Notification.delivered_at.is_(None))
                .order_by(Notification.id)
                .limit(batch)
            )
            return list(session.scalars(query))

    def _deliver_one(self, notification_id: int) -> bool:
        claimed, message = self._claim(notification_id)
        if not claimed or message is None:
            return False
        try:
            self._notifier.send(message)
        except Exception:
            log.exception("notification %s not delivered; retrying later", notification_id)
            self._release(notification_id)
            return False
        return True

    def _claim(self, notification_id: int) -> tuple[bool, OutgoingMessage | None]:
        with self._db.session() as session:
            claimed = (
                changed_rows(
                    session.execute(
                        sa.update(Notification)
                        .where(Notification.id == notification_id, Notification.delivered_at.is_(None))
                        .values(delivered_at=utcnow())
                    )
                )
                == 1
            )
            row = session.get(Notification, notification_id) if claimed else None
            if row is None:
                return False, None
            return True, message_for(row, session.get(Account, row.account_id))

    def _release(self, notification_id: int) -> None:
        with self._db.session() as session:
            session.execute(
                sa.update(Notification).where(Notification.id == notification_id).values(delivered_at=None)
            )


def message_for(row: Notification, account: Account | None) -> OutgoingMessage | None:
    """None when the account has no address: the alert then stays visible in the console only."""
    if account is None or not (account.email or account.phone):
        log.info("notification %s: account %s has no email or phone", row.id, row.account_id)
        return None
    channel: Channel = "email" if account.email else "phone"
    return OutgoingMessage(
        channel=channel,
        target=account.email or account.phone or "",
        subject=SUBJECTS.get(row.kind, "OpenMaaS 通知 (notification)"),
        body=row.message,
        kind=row.kind,
    )


async def run_notification_dispatcher(dispatcher: NotificationDispatcher, interval: float) -> None:
    while True:
        try:
            await run_in_threadpool(dispatcher.deliver_pending)
        except Exception:
            log.exception("notification dispatch failed; retrying next round")
        await asyncio.sleep(interval)
