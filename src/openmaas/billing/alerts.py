"""Balance alerts: one notification when a threshold is crossed downward, re-armed on the way up."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.billing.money import micro_to_yuan
from openmaas.store.tables import Notification, ResourcePack, Wallet


def check_alerts(session: Session, wallet: Wallet) -> None:
    """Call after any change of the wallet or its packs, inside the same transaction."""
    if wallet.alert_threshold_micro is not None:
        balance = wallet.cash_micro + wallet.held_micro
        below = balance < wallet.alert_threshold_micro
        if below and wallet.alert_armed:
            _notify(
                session,
                wallet.account_id,
                "balance_alert",
                f"余额不足提醒: balance {micro_to_yuan(balance)} 元 is below "
                f"{micro_to_yuan(wallet.alert_threshold_micro)} 元",
            )
        wallet.alert_armed = not below
    if wallet.alert_pack_tokens is not None:
        remaining = _pack_tokens_left(session, wallet.account_id)
        below = remaining < wallet.alert_pack_tokens
        if below and wallet.pack_alert_armed:
            _notify(
                session,
                wallet.account_id,
                "pack_alert",
                f"资源包余量提醒: {remaining} tokens left, below {wallet.alert_pack_tokens}",
            )
        wallet.pack_alert_armed = not below


def _pack_tokens_left(session: Session, account_id: str) -> int:
    session.flush()  # a settlement batch runs without autoflush; the sum must see its changes
    total = session.scalar(
        sa.select(
            sa.func.coalesce(sa.func.sum(ResourcePack.remaining_tokens + ResourcePack.held_tokens), 0)
        ).where(ResourcePack.account_id == account_id, ResourcePack.expired_at.is_(None))
    )
    return int(total or 0)


def _notify(session: Session, account_id: str, kind: str, message: str) -> None:
    session.add(Notification(account_id=account_id, kind=kind, message=message))
