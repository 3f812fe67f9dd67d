"""Crash recovery for the meter: charge what a dead process delivered, release what it held.

Every metering process registers a `MeterOwner` (host, pid, heartbeat) and stamps its holds
(`Reservation.owner`) and its running calls' progress rows (`MeterInflight`) with it. An
owner is dead when its pid is gone on this host (known at once: a restart after `kill -9`
recovers on start-up) or its heartbeat is older than `dead_after` (another host). Then, in
one transaction per dead owner: each in-flight call is charged what it delivered (an exact
hold settled on those tokens; a call on a funds lease charged from the released lease), with
a usage row of status `recovered`; every hold it still has is released; its rows are
deleted. The owner row is deleted first, so two recoverers cannot both charge a call.

Holds without an owner (fine-tuning jobs' holds, rows from before this table) are never
released here.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.billing import ledger
from openmaas.billing.alerts import check_alerts
from openmaas.billing.lease import LEASE_PREFIX
from openmaas.billing.money import Price
from openmaas.billing.plan import plan_spend
from openmaas.billing.service import BillingService
from openmaas.billing.usage import bump_rollups
from openmaas.store.db import Database, changed_rows
from openmaas.store.tables import MeterInflight, MeterOwner, Reservation, UsageRecord, new_id, utcnow

log = logging.getLogger(__name__)
RECOVERED = "recovered"  # usage rows (and ledger request ids' suffix) of charges made after a crash


def register_owner(db: Database, owner: str) -> None:
    with db.session() as session:
        session.merge(
            MeterOwner(
                owner=owner,
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=utcnow(),
                heartbeat_at=utcnow(),
            )
        )


def heartbeat(db: Database, owner: str) -> None:
    with db.session() as session:
        updated = changed_rows(
            session.execute(
                sa.update(MeterOwner).where(MeterOwner.owner == owner).values(heartbeat_at=utcnow())
            )
        )
    if not updated:  # declared dead by a peer (a long stall): its holds are gone; start afresh
        log.error("meter owner %s was declared dead by another process; registering again", owner)
        register_owner(db, owner)


def unregister_owner(db: Database, owner: str) -> None:
    with db.session() as session:
        session.execute(sa.delete(MeterOwner).where(MeterOwner.owner == owner))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_owners(session: Session, me: str, dead_after: float, now: datetime) -> list[str]:
    host = socket.gethostname()[:255]
    dead = []
    for owner, owner_host, pid, beat in session.execute(
        sa.select(MeterOwner.owner, MeterOwner.host, MeterOwner.pid, MeterOwner.heartbeat_at).where(
            MeterOwner.owner != me
        )
    ):
        if beat < now - timedelta(seconds=dead_after) or (owner_host == host and not _pid_alive(pid)):
            dead.append(owner)
    known = sa.select(MeterOwner.owner)
    for table in (MeterInflight, Reservation):  # owners whose row is gone (a graceful stop)
        query = (
            sa.select(table.owner)
            .distinct()
            .where(table.owner.is_not(None), table.owner != me, table.owner.not_in(known))
        )
        if table is Reservation:
            query = query.where(Reservation.state == "held")
        dead += [o for o in session.scalars(query) if o is not None and o not in dead]
    return dead


def recover_dead(db: Database, billing: BillingService, me: str, dead_after: float) -> int:
    """Charge and release what dead owners left; returns the calls charged."""
    with db.session(read_only=True) as session:
        dead = dead_owners(session, me, dead_after, utcnow())
    charged = 0
    for owner in dead:
        try:
            charged += _recover_owner(db, billing, owner)
        except Exception:
            log.exception("could not recover meter owner %s; retrying next round", owner)
    return charged


def _recover_owner(db: Database, billing: BillingService, owner: str) -> int:
    with db.session() as session:
        claimed = changed_rows(session.execute(sa.delete(MeterOwner).where(MeterOwner.owner == owner)))
        calls = list(
            session.scalars(
                sa.select(MeterInflight)
                .where(MeterInflight.owner == owner)
                .order_by(MeterInflight.account_id, MeterInflight.id)
            )
        )
        held = list(
            session.execute(
                sa.select(Reservation.id, Reservation.account_id).where(
                    Reservation.state == "held",
                    sa.or_(
                        Reservation.owner == owner, Reservation.request_id.like(f"{LEASE_PREFIX}{owner}:%")
                    ),
                )
            )
        )
        if not claimed and not calls and not held:
            return 0
        accounts = sorted({c.account_id for c in calls} | {account_id for _, account_id in held})
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for account_id in accounts:  # one lock order: wallets by account id
            ledger.lock_wallet(session, account_id)
            mine = [c for c in calls if c.account_id == account_id]
            for call in mine:  # exact holds: settled on the delivered tokens, capped at the hold
                if call.reservation_id:
                    cost = billing.settle(
                        session, call.reservation_id, call.prompt_tokens, call.completion_tokens, account_id
                    )
                    rows.append(_row(call, cost, now))
            for reservation_id, holder in held:  # leases, and holds with nothing delivered
                if holder == account_id:
                    billing.release(session, reservation_id, account_id)
            for call in mine:  # calls on a lease: charged from the funds the lease gave back
                if not call.reservation_id:
                    rows.append(_row(call, _charge_lease_call(session, call, now), now))
        if rows:
            session.execute(sa.insert(UsageRecord), rows)
        bump_rollups(session, rows)
        session.execute(sa.delete(MeterInflight).where(MeterInflight.owner == owner))
    if calls or held:
        log.warning(
            "recovered meter owner %s: %d in-flight calls charged, %d holds released",
            owner,
            len(calls),
            len(held),
        )
    return len(calls)


def _charge_lease_call(session: Session, call: MeterInflight, now: datetime) -> int:
    price = Price(call.price_in, call.price_out)
    completion = min(call.completion_tokens, call.max_tokens)
    if price.free or (call.prompt_tokens == 0 and completion == 0):
        return 0
    wallet = ledger.lock_wallet(session, call.account_id)
    packs = ledger.spendable_packs(session, call.account_id, call.model, now)
    plan = plan_spend(ledger.funds_of(packs), call.prompt_tokens, completion, price)
    reservation = Reservation(
        id=new_id("res_")[:36],
        account_id=call.account_id,
        api_key_id=call.api_key_id,
        request_id=f"{call.request_id}:{RECOVERED}"[:128],
        model=call.model,
        max_tokens=completion,
        price_in=price.input_per_1k,
        price_out=price.output_per_1k,
        state="settled",
    )
    session.add(reservation)
    session.flush()
    ledger.apply_charge(session, wallet, packs, reservation, plan)
    check_alerts(session, wallet)
    return plan.cash


def _row(call: MeterInflight, cost: int, now: datetime) -> dict[str, Any]:
    return {
        "account_id": call.account_id,
        "api_key_id": call.api_key_id,
        "request_id": call.request_id,
        "endpoint": call.endpoint,
        "model": call.model,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": min(call.completion_tokens, call.max_tokens),
        "latency_ms": 0,
        "status": RECOVERED,
        "error_code": None,
        "cost_micro": cost,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "created_at": now,
    }
