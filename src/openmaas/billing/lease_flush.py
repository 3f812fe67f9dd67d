"""Writing a lease (billing/lease.py) inside the usage recorder's transaction.

One call: release the lease's hold, charge what its settled requests used (one ledger entry
per pack and one for cash, on the lease's reservation), and hold what is still needed — the
in-flight requests' holds plus, when growing, new headroom — as a fresh lease reservation.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.billing import ledger
from openmaas.billing.alerts import check_alerts
from openmaas.billing.lease import GROW, LEASE_PREFIX, Funds, LeaseCommit, LeaseSnapshot
from openmaas.billing.plan import PackFunds, Plan, plan_hold
from openmaas.store.tables import Reservation, ResourcePack, Wallet, new_id

log = logging.getLogger(__name__)


def write_lease(
    session: Session, snap: LeaseSnapshot, request_id: str, now: datetime, recall_seconds: float
) -> LeaseCommit:
    wallet = ledger.lock_wallet(session, snap.account_id)
    old, held, packs = _release(session, wallet, snap, now)
    spent = Funds()
    for charge in snap.charges:
        spent.give(charge.plan)
    if old is not None and not spent.empty():
        plan = Plan(tuple((p, t) for p, t in spent.packs.items() if t), spent.cash, 0)
        packs |= _packs(session, [p for p in spent.packs if p not in packs])
        ledger.apply_charge(session, wallet, list(packs.values()), old, plan)
    required = held.copy()
    required.add(spent, -1)
    required.add(snap.trim, -1)
    required = Funds({p: t for p, t in required.packs.items() if t > 0}, max(required.cash, 0))
    recalled = _recalled(wallet, now, recall_seconds)
    added = Funds()
    spend_order: list[str] = []
    if snap.mode == GROW and not recalled:
        added, spend_order, spendable = _headroom(session, wallet, snap, required, now)
        packs |= spendable
    hold = required.copy()
    hold.add(added)
    reservation_id = _hold(session, wallet, snap, request_id, hold, packs, spend_order)
    check_alerts(session, wallet)
    return LeaseCommit(reservation_id, added, recalled, tuple(spend_order))


def _release(
    session: Session, wallet: Wallet, snap: LeaseSnapshot, now: datetime
) -> tuple[Reservation | None, Funds, dict[str, ResourcePack]]:
    """Give back the lease's hold; (its reservation, what it held, its packs)."""
    if snap.reservation_id is None:
        return None, Funds(), {}
    old = session.scalar(
        sa.select(Reservation)
        .where(Reservation.id == snap.reservation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if old is None or old.state != "held":
        # released behind our back (an operator, the stale-hold sweeper): the requests'
        # charges are still owed and are taken from what is available
        log.warning(
            "lease %s was no longer held; charging its requests from available funds", snap.reservation_id
        )
        return old, Funds(), {}
    held = Funds(dict(old.held_packs), old.held_micro)
    packs = {p.id: p for p in ledger.release_hold(session, wallet, old)}
    old.state = "settled"
    old.settled_at = now
    return old, held, packs


def _packs(session: Session, pack_ids: list[str]) -> dict[str, ResourcePack]:
    if not pack_ids:
        return {}
    return {
        p.id: p
        for p in session.scalars(
            sa.select(ResourcePack).where(ResourcePack.id.in_(pack_ids)).with_for_update()
        )
    }


def _recalled(wallet: Wallet, now: datetime, recall_seconds: float) -> bool:
    recall_at = wallet.lease_recall_at
    return recall_at is not None and now - recall_at < timedelta(seconds=recall_seconds)


def _headroom(
    session: Session, wallet: Wallet, snap: LeaseSnapshot, required: Funds, now: datetime
) -> tuple[Funds, list[str], dict[str, ResourcePack]]:
    """New headroom: `grow_tokens` worth, at most half of what stays outside the leases, and
    none when that is below `floor_tokens` (near exhaustion every request holds exactly)."""
    spendable = ledger.expire_and_list_spendable(session, snap.account_id, snap.model, now)
    order, by_id = [p.id for p in spendable], {p.id: p for p in spendable}
    outside = [PackFunds(p.id, p.remaining_tokens - required.packs.get(p.id, 0)) for p in spendable]
    cash = wallet.cash_micro - required.cash
    capacity = sum(max(f.available, 0) for f in outside)
    if snap.price.output_per_1k:
        capacity += max(cash, 0) * 1000 // snap.price.output_per_1k
    if capacity < snap.floor_tokens:
        return Funds(), order, by_id
    plan = plan_hold(
        [f for f in outside if f.available > 0],
        max(cash, 0),
        0,
        min(snap.grow_tokens, capacity // 2),
        snap.price,
        flexible=True,
    )
    added = Funds(dict(plan.pack_takes), plan.cash) if plan else Funds()
    return added, order, by_id


def _hold(
    session: Session,
    wallet: Wallet,
    snap: LeaseSnapshot,
    request_id: str,
    hold: Funds,
    packs: dict[str, ResourcePack],
    spend_order: list[str],
) -> str | None:
    if hold.empty():
        return None
    rank = {pack_id: i for i, pack_id in enumerate(spend_order)}
    takes = tuple(sorted(((p, t) for p, t in hold.packs.items() if t), key=lambda pt: rank.get(pt[0], -1)))
    packs |= _packs(session, [p for p, _ in takes if p not in packs])
    reservation = Reservation(
        id=new_id("res_")[:36],
        account_id=snap.account_id,
        api_key_id=None,
        request_id=request_id,
        model=snap.model,
        max_tokens=0,
        price_in=snap.price.input_per_1k,
        price_out=snap.price.output_per_1k,
    )
    session.add(reservation)
    ledger.apply_hold(session, wallet, packs, reservation, Plan(takes, hold.cash, 0))
    return reservation.id


def recall_leases(session: Session, account_id: str, owner: str, now: datetime) -> bool:
    """Ask every other process to give back its leases of this account's funds; True when
    some are held."""
    others = session.scalar(
        sa.select(sa.func.count())
        .select_from(Reservation)
        .where(
            Reservation.account_id == account_id,
            Reservation.state == "held",
            Reservation.request_id.like(f"{LEASE_PREFIX}%"),
            Reservation.request_id.not_like(f"{LEASE_PREFIX}{owner}:%"),
        )
    )
    if others:
        ledger.lock_wallet(session, account_id).lease_recall_at = now
    return bool(others)
