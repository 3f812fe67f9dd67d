"""Ledger operations inside a caller's transaction. The only code that writes money.

Every change is an append-only `LedgerEntry`; `Wallet` and `ResourcePack` hold cached
sums of those entries (available cash / tokens, and what is held), updated in the same
transaction, and `reconcile` proves the caches equal the ledger. All operations on an
account first lock its wallet row (FOR UPDATE on PostgreSQL; SQLite transactions are
already serialised by BEGIN IMMEDIATE), so concurrent requests cannot overspend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.billing.plan import PackFunds, Plan
from openmaas.errors import InvalidField, NotFound
from openmaas.store.tables import LedgerEntry, Reservation, ResourcePack, Wallet, utcnow

LOCKED_WALLETS = "openmaas_locked_wallets"  # session.info key: wallets locked in this transaction


def lock_wallet(session: Session, account_id: str) -> Wallet:
    """The account's wallet, locked for the rest of the transaction (read once per transaction:
    a settlement batch touches the same wallet many times)."""
    locked: dict[str, Wallet] = session.info.setdefault(LOCKED_WALLETS, {})
    if account_id in locked:
        return locked[account_id]
    wallet = session.scalar(
        sa.select(Wallet)
        .where(Wallet.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if wallet is None:
        raise NotFound("account wallet")
    locked[account_id] = wallet
    return wallet


def append(session: Session, account_id: str, kind: str, **fields: Any) -> None:
    session.add(LedgerEntry(account_id=account_id, kind=kind, **fields))


def expire_and_list_spendable(
    session: Session, account_id: str, model: str | None, now: datetime
) -> list[ResourcePack]:
    """`expire_due_packs` then `spendable_packs`, reading the account's live packs once."""
    live = session.scalars(
        sa.select(ResourcePack)
        .where(ResourcePack.account_id == account_id, ResourcePack.expired_at.is_(None))
        .with_for_update()
    ).all()
    _expire(session, account_id, [p for p in live if p.expires_at <= now], now)
    spendable = [
        p
        for p in live
        if p.expires_at > now and p.remaining_tokens > 0 and (p.model is None or p.model == model)
    ]
    return sorted(spendable, key=lambda p: (p.source != "grant", p.expires_at, p.id))


def spendable_packs(
    session: Session, account_id: str, model: str | None, now: datetime
) -> list[ResourcePack]:
    """Unexpired packs usable for `model`, in spend order: grants, then soonest expiry."""
    query = (
        sa.select(ResourcePack)
        .where(
            ResourcePack.account_id == account_id,
            ResourcePack.expired_at.is_(None),
            ResourcePack.expires_at > now,
            ResourcePack.remaining_tokens > 0,
        )
        .order_by(
            sa.case((ResourcePack.source == "grant", 0), else_=1), ResourcePack.expires_at, ResourcePack.id
        )
        .with_for_update()
    )
    packs = session.scalars(query).all()
    return [p for p in packs if p.model is None or p.model == model]


def expire_due_packs(session: Session, account_id: str, now: datetime) -> int:
    """Record the remainder of every pack past its expiry as an `expire` entry."""
    due = session.scalars(
        sa.select(ResourcePack).where(
            ResourcePack.account_id == account_id,
            ResourcePack.expired_at.is_(None),
            ResourcePack.expires_at <= now,
        )
    ).all()
    return _expire(session, account_id, list(due), now)


def _expire(session: Session, account_id: str, due: list[ResourcePack], now: datetime) -> int:
    for pack in due:
        if pack.held_tokens:
            continue  # a request still holds part of it; expire once it settles
        if pack.remaining_tokens:
            append(
                session,
                account_id,
                "expire",
                pack_id=pack.id,
                pack_tokens=-pack.remaining_tokens,
                note=f"pack {pack.name} expired",
            )
        pack.remaining_tokens = 0
        pack.expired_at = now
    return len(due)


def credit_cash(session: Session, wallet: Wallet, amount: int, kind: str, note: str) -> None:
    if amount <= 0:
        raise InvalidField("amount", "must be positive")
    wallet.cash_micro += amount
    append(session, wallet.account_id, kind, cash_micro=amount, note=note)


def debit_cash(session: Session, wallet: Wallet, amount: int, kind: str, note: str) -> None:
    wallet.cash_micro -= amount
    append(session, wallet.account_id, kind, cash_micro=-amount, note=note)


def add_pack(
    session: Session,
    account_id: str,
    *,
    name: str,
    source: str,
    tokens: int,
    expires_at: datetime,
    model: str | None = None,
    pack_id: str,
) -> ResourcePack:
    if tokens <= 0:
        raise InvalidField("tokens", "must be positive")
    pack = ResourcePack(
        id=pack_id,
        account_id=account_id,
        name=name,
        source=source,
        model=model,
        total_tokens=tokens,
        remaining_tokens=tokens,
        held_tokens=0,
        expires_at=expires_at,
    )
    session.add(pack)
    kind = "pack_grant" if source == "grant" else f"pack_{source}"
    append(session, account_id, kind, pack_id=pack_id, pack_tokens=tokens, note=name)
    return pack


def apply_hold(
    session: Session, wallet: Wallet, packs: dict[str, ResourcePack], reservation: Reservation, plan: Plan
) -> None:
    for pack_id, tokens in plan.pack_takes:
        packs[pack_id].remaining_tokens -= tokens
        packs[pack_id].held_tokens += tokens
        append(
            session,
            wallet.account_id,
            "hold",
            pack_id=pack_id,
            pack_tokens=-tokens,
            reservation_id=reservation.id,
            request_id=reservation.request_id,
            model=reservation.model,
        )
    if plan.cash:
        wallet.cash_micro -= plan.cash
        wallet.held_micro += plan.cash
        append(
            session,
            wallet.account_id,
            "hold",
            cash_micro=-plan.cash,
            reservation_id=reservation.id,
            request_id=reservation.request_id,
            model=reservation.model,
        )
    reservation.held_micro = plan.cash
    reservation.held_packs = dict(plan.pack_takes)


def release_hold(session: Session, wallet: Wallet, reservation: Reservation) -> list[ResourcePack]:
    """Give back everything the reservation holds; returns its packs in their spend order."""
    packs = {
        p.id: p
        for p in session.scalars(
            sa.select(ResourcePack).where(ResourcePack.id.in_(list(reservation.held_packs))).with_for_update()
        )
    }
    ordered = [packs[pack_id] for pack_id in reservation.held_packs]
    for pack in ordered:
        tokens = reservation.held_packs[pack.id]
        pack.remaining_tokens += tokens
        pack.held_tokens -= tokens
        append(
            session,
            wallet.account_id,
            "release",
            pack_id=pack.id,
            pack_tokens=tokens,
            reservation_id=reservation.id,
            request_id=reservation.request_id,
            model=reservation.model,
        )
    if reservation.held_micro:
        wallet.cash_micro += reservation.held_micro
        wallet.held_micro -= reservation.held_micro
        append(
            session,
            wallet.account_id,
            "release",
            cash_micro=reservation.held_micro,
            reservation_id=reservation.id,
            request_id=reservation.request_id,
            model=reservation.model,
        )
    return ordered


def apply_charge(
    session: Session, wallet: Wallet, packs: list[ResourcePack], reservation: Reservation, plan: Plan
) -> None:
    by_id = {p.id: p for p in packs}
    for pack_id, tokens in plan.pack_takes:
        by_id[pack_id].remaining_tokens -= tokens
        append(
            session,
            wallet.account_id,
            "charge",
            pack_id=pack_id,
            pack_tokens=-tokens,
            reservation_id=reservation.id,
            request_id=reservation.request_id,
            model=reservation.model,
        )
    if plan.cash:
        wallet.cash_micro -= plan.cash
        append(
            session,
            wallet.account_id,
            "charge",
            cash_micro=-plan.cash,
            reservation_id=reservation.id,
            request_id=reservation.request_id,
            model=reservation.model,
        )
    reservation.charged_micro = plan.cash
    reservation.charged_tokens = plan.pack_tokens
    reservation.settled_at = utcnow()


def funds_of(packs: list[ResourcePack]) -> list[PackFunds]:
    return [PackFunds(p.id, p.remaining_tokens) for p in packs]


@dataclass(frozen=True)
class Discrepancy:
    what: str
    cached: int
    ledger: int


def reconcile(session: Session, account_id: str) -> list[Discrepancy]:
    """Compare the cached balances with the ledger's sums; empty means consistent."""
    wallet = session.get(Wallet, account_id)
    problems: list[Discrepancy] = []
    cash = (
        session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.cash_micro), 0)).where(
                LedgerEntry.account_id == account_id
            )
        )
        or 0
    )
    if wallet is None or wallet.cash_micro != cash:
        problems.append(Discrepancy("cash", wallet.cash_micro if wallet else 0, int(cash)))
    sums = dict(
        session.execute(
            sa.select(LedgerEntry.pack_id, sa.func.sum(LedgerEntry.pack_tokens))
            .where(LedgerEntry.account_id == account_id, LedgerEntry.pack_id.is_not(None))
            .group_by(LedgerEntry.pack_id)
        ).all()
    )
    for pack in session.scalars(sa.select(ResourcePack).where(ResourcePack.account_id == account_id)):
        if pack.remaining_tokens != int(sums.get(pack.id, 0)):
            problems.append(Discrepancy(f"pack {pack.id}", pack.remaining_tokens, int(sums.get(pack.id, 0))))
    held = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Reservation.held_micro), 0)).where(
            Reservation.account_id == account_id, Reservation.state == "held"
        )
    )
    if wallet is not None and wallet.held_micro != int(held or 0):
        problems.append(Discrepancy("held cash", wallet.held_micro, int(held or 0)))
    return problems
