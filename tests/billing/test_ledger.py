"""The money path through the billing service, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.billing import ledger
from openmaas.billing.service import BillingService
from openmaas.errors import DuplicateRequest, InsufficientBalance, InvalidField, NotFound
from openmaas.store.tables import LedgerEntry, Notification, ResourcePack, utcnow


def new_account(billing: BillingService, grant: bool = True) -> str:
    with billing.db.session() as session:
        account = create_account(session, "payer")
        if grant:
            billing.grant_registration(session, account.id)
    return account.id


def settle(billing, reservation_id, prompt, completion) -> int:
    with billing.db.session() as session:
        return billing.settle(session, reservation_id, prompt, completion)


def reserve(billing, account, request_id, prompt=10, max_tokens=20, model="glm-4", flexible=False):
    return billing.reserve(account, None, request_id, model, "fake-chat", prompt, max_tokens, flexible)


def test_registration_grant_is_spent_before_cash(billing):
    account = new_account(billing)
    billing.admin_credit("admin", account, 1_000_000, "welcome")
    hold = reserve(billing, account, "r1")
    assert settle(billing, hold.reservation_id, 10, 5) == 0
    view = billing.balance(account)
    assert view.cash_micro == 1_000_000
    assert view.packs[0].remaining_tokens == 1_000_000 - 15
    assert billing.reconcile(account) == []


def test_spend_order_grants_then_soonest_expiry_then_cash(billing):
    account = new_account(billing, grant=False)
    now = utcnow()
    with billing.db.session() as session:
        ledger.lock_wallet(session, account)
        ledger.add_pack(
            session,
            account,
            name="late",
            source="purchase",
            tokens=10,
            expires_at=now + timedelta(days=90),
            pack_id="p-late",
        )
        ledger.add_pack(
            session,
            account,
            name="soon",
            source="purchase",
            tokens=10,
            expires_at=now + timedelta(days=5),
            pack_id="p-soon",
        )
        ledger.add_pack(
            session,
            account,
            name="gift",
            source="grant",
            tokens=10,
            expires_at=now + timedelta(days=60),
            pack_id="p-grant",
        )
    billing.admin_credit("admin", account, 10_000_000, "cash")
    hold = reserve(billing, account, "order", prompt=25, max_tokens=10)
    cost = settle(billing, hold.reservation_id, 25, 10)
    charges = _charges(billing, hold.reservation_id)
    assert [c.pack_id for c in charges if c.pack_id] == ["p-grant", "p-soon", "p-late"]
    assert cost == 500  # 5 completion tokens at 0.1 元/1k = 500 µ元
    assert billing.reconcile(account) == []


def test_model_specific_pack_only_pays_for_its_model(billing):
    account = new_account(billing, grant=False)
    with billing.db.session() as session:
        ledger.lock_wallet(session, account)
        ledger.add_pack(
            session,
            account,
            name="glm3 only",
            source="purchase",
            tokens=100,
            model="glm-3-turbo",
            expires_at=utcnow() + timedelta(days=9),
            pack_id="p3",
        )
    with pytest.raises(InsufficientBalance):
        reserve(billing, account, "x", model="glm-4")
    hold = reserve(billing, account, "y", model="glm-3-turbo")
    settle(billing, hold.reservation_id, 10, 20)
    assert billing.balance(account).packs[0].remaining_tokens == 70


def test_insufficient_funds_is_1113_and_writes_nothing(billing):
    account = new_account(billing, grant=False)
    billing.admin_credit("admin", account, 1_000, "a little")  # 10 tokens of glm-4
    entries_before = _entry_count(billing, account)
    with pytest.raises(InsufficientBalance) as caught:
        reserve(billing, account, "too-big", prompt=10, max_tokens=100)
    assert caught.value.code == "1113" and caught.value.http_status == 429
    assert _entry_count(billing, account) == entries_before
    assert billing.balance(account).cash_micro == 1_000


def test_flexible_request_shrinks_to_what_is_affordable(billing):
    account = new_account(billing, grant=False)
    billing.admin_credit("admin", account, 2_000, "20 tokens worth")
    hold = reserve(billing, account, "flex", prompt=10, max_tokens=4000, flexible=True)
    assert hold.max_tokens == 10
    settle(billing, hold.reservation_id, 10, 10)
    assert billing.balance(account).cash_micro == 0


def test_free_model_needs_no_hold(billing):
    account = new_account(billing, grant=False)
    assert reserve(billing, account, "free", model="glm-4-flash") is None


def test_settle_is_idempotent_and_request_id_unique(billing):
    account = new_account(billing)
    hold = reserve(billing, account, "once")
    settle(billing, hold.reservation_id, 10, 20)
    assert settle(billing, hold.reservation_id, 10, 20) == 0
    assert len(_charges(billing, hold.reservation_id)) == 1
    with pytest.raises(DuplicateRequest):
        reserve(billing, account, "once")
    assert billing.reconcile(account) == []


def test_charge_is_capped_at_the_hold(billing):
    account = new_account(billing, grant=False)
    billing.admin_credit("admin", account, 10_000, "cash")
    hold = reserve(billing, account, "cap", prompt=10, max_tokens=20)
    assert settle(billing, hold.reservation_id, 10, 500) == 3000
    assert billing.balance(account).cash_micro == 7000


def test_release_charges_nothing(billing):
    account = new_account(billing, grant=False)
    billing.admin_credit("admin", account, 10_000, "cash")
    hold = reserve(billing, account, "rel")
    assert billing.balance(account).cash_micro == 7000
    with billing.db.session() as session:
        billing.release(session, hold.reservation_id)
    assert billing.balance(account).cash_micro == 10_000
    assert billing.reconcile(account) == []


def test_expired_pack_remainder_is_recorded(billing):
    account = new_account(billing)
    with billing.db.session() as session:
        session.execute(
            sa.update(ResourcePack)
            .where(ResourcePack.account_id == account)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert billing.expire_packs() == 1
    view = billing.balance(account)
    assert view.packs[0].expired and view.packs[0].remaining_tokens == 0
    with billing.db.session() as session:
        expiry = session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.account_id == account, LedgerEntry.kind == "expire")
        ).all()
    assert [e.pack_tokens for e in expiry] == [-1_000_000]
    assert billing.reconcile(account) == []
    with pytest.raises(InsufficientBalance):
        reserve(billing, account, "after-expiry")


def test_balance_alert_fires_once_and_rearms_after_topup(billing):
    account = new_account(billing, grant=False)
    billing.admin_credit("admin", account, 10_000, "cash")
    billing.set_alert(account, threshold_micro=5_000, pack_tokens=None)
    for i in range(4):  # 3000 µ元 each: 7000, 4000 (alert), 1000, then 1113
        try:
            hold = reserve(billing, account, f"a{i}")
        except InsufficientBalance:
            break
        settle(billing, hold.reservation_id, 10, 20)
    assert _alerts(billing, account) == 1
    billing.admin_credit("admin", account, 100_000, "top-up")
    hold = reserve(billing, account, "after")
    settle(billing, hold.reservation_id, 10, 20)
    assert _alerts(billing, account) == 1  # above the threshold again: re-armed, no alert
    billing.set_alert(account, threshold_micro=200_000, pack_tokens=None)
    assert _alerts(billing, account) == 2


def test_redemption_codes_are_single_use(billing):
    account, other = new_account(billing), new_account(billing)
    [code] = billing.create_redemption_codes("admin", 5_000_000, 1)
    assert billing.redeem(account, code.lower()) == 5_000_000
    with pytest.raises(InvalidField):
        billing.redeem(other, code)
    with pytest.raises(InvalidField):
        billing.redeem(account, "NOPE-NOPE")
    assert billing.balance(other).cash_micro == 0


def test_bad_money_input_changes_nothing(billing):
    account = new_account(billing)
    for amount in (0, -5):
        with pytest.raises(InvalidField):
            billing.admin_credit("admin", account, amount, "negative")
    with pytest.raises(InvalidField):
        billing.admin_credit("admin", account, 5, " ")
    with pytest.raises(NotFound):
        billing.purchase_pack(account, "forged-offer")
    with pytest.raises(InsufficientBalance):
        billing.purchase_pack(account, "general-180m")
    assert billing.balance(account).cash_micro == 0 and len(billing.balance(account).packs) == 1


def test_buying_a_pack_from_balance(billing):
    account = new_account(billing, grant=False)
    billing.admin_credit("admin", account, 100_000_000, "cash")
    billing.purchase_pack(account, "general-180m")
    view = billing.balance(account)
    assert view.cash_micro == 1_000_000
    assert view.packs[0].total_tokens == 180_000_000
    assert billing.reconcile(account) == []


def _charges(billing, reservation_id):
    with billing.db.session() as session:
        return session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.reservation_id == reservation_id, LedgerEntry.kind == "charge")
            .order_by(LedgerEntry.id)
        ).all()


def _entry_count(billing, account):
    with billing.db.session() as session:
        return session.scalar(
            sa.select(sa.func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == account)
        )


def _alerts(billing, account):
    with billing.db.session() as session:
        return session.scalar(
            sa.select(sa.func.count()).select_from(Notification).where(Notification.account_id == account)
        )
