"""The billing service: the one money path (rule 1 of DESIGN.md) and the account's money views.

reserve → (generation) → settle (release the hold, charge real usage) or release.
Each public method is one transaction; errors leave no row behind.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openmaas.billing import ledger
from openmaas.billing.alerts import check_alerts
from openmaas.billing.audit import audit
from openmaas.billing.lease import LEASE_PREFIX, SubHold
from openmaas.billing.money import Price
from openmaas.billing.plan import Plan, plan_hold, plan_spend
from openmaas.billing.pricing import PriceBook, current_price, price_history, seed_prices, set_price
from openmaas.billing.views import NotificationView, OfferView, PriceChange, notification_view, offer_view
from openmaas.config import BillingConfig
from openmaas.errors import DuplicateRequest, InsufficientBalance, InvalidField, NotFound
from openmaas.store.db import Database
from openmaas.store.tables import (
    LedgerEntry,
    ModelPrice,
    Notification,
    PackOffer,
    RedemptionCode,
    Reservation,
    ResourcePack,
    Wallet,
    new_id,
    utcnow,
)


@dataclass(frozen=True)
class Hold:
    reservation_id: str | None  # None for a hold on a funds lease (`lease`)
    max_tokens: int  # the completion allowance actually granted
    lease: SubHold | None = None


@dataclass(frozen=True)
class PackView:
    id: str
    name: str
    source: str
    model: str | None
    total_tokens: int
    remaining_tokens: int
    held_tokens: int
    expires_at: datetime
    expired: bool


@dataclass(frozen=True)
class BalanceView:
    cash_micro: int
    held_micro: int
    alert_threshold_micro: int | None
    alert_pack_tokens: int | None
    packs: list[PackView]


def _leased(session: Session, account_id: str) -> tuple[int, dict[str, int]]:
    """Cash and pack tokens held by funds leases (billing/lease.py) of the account."""
    cash, packs = 0, dict[str, int]()
    leases = sa.select(Reservation.held_micro, Reservation.held_packs).where(
        Reservation.account_id == account_id,
        Reservation.state == "held",
        Reservation.request_id.like(f"{LEASE_PREFIX}%"),
    )
    for held_micro, held_packs in session.execute(leases):
        cash += held_micro
        for pack_id, tokens in held_packs.items():
            packs[pack_id] = packs.get(pack_id, 0) + tokens
    return cash, packs


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class BillingService:
    def __init__(self, db: Database, config: BillingConfig) -> None:
        self._db = db
        self.config = config
        self.prices = PriceBook(db)

    @property
    def db(self) -> Database:
        return self._db

    # setup -------------------------------------------------------------------------------
    def seed(self) -> None:
        """Configured prices and pack offers, once; safe when several processes start together."""
        try:
            self._seed()
        except IntegrityError:
            self._seed()  # another process seeded the same rows first; what is left is a no-op
        self.prices.invalidate()

    def _seed(self) -> None:
        with self._db.session() as session:
            seed_prices(session, self.config.prices)
            known = set(session.scalars(sa.select(PackOffer.id)))
            for offer in self.config.pack_offers:
                if offer.id not in known:
                    from openmaas.billing.money import yuan_to_micro

                    session.add(
                        PackOffer(
                            id=offer.id,
                            name=offer.name,
                            model=offer.model,
                            tokens=offer.tokens,
                            price_micro=yuan_to_micro(offer.price_yuan),
                            valid_days=offer.valid_days,
                        )
                    )

    def grant_registration(self, session: Session, account_id: str) -> None:
        self._grant(
            session, account_id, self.config.registration_grant_tokens, "注册赠送 (registration grant)"
        )

    def grant_verification(self, session: Session, account_id: str) -> None:
        self._grant(
            session, account_id, self.config.verification_grant_tokens, "实名认证赠送 (verification grant)"
        )

    def _grant(self, session: Session, account_id: str, tokens: int, name: str) -> None:
        if tokens <= 0:
            return
        ledger.lock_wallet(session, account_id)
        ledger.add_pack(
            session,
            account_id,
            name=name,
            source="grant",
            tokens=tokens,
            expires_at=utcnow() + timedelta(days=self.config.grant_valid_days),
            pack_id=new_id("pack_")[:37],
        )

    # the money path ----------------------------------------------------------------------
    def price_of(self, model: str, canonical: str) -> Price:
        return self.prices.price(model, canonical)

    def reserve(
        self,
        account_id: str,
        api_key_id: str | None,
        request_id: str,
        model: str,
        canonical: str,
        prompt_tokens: int,
        max_tokens: int,
        flexible: bool,
        price_percent: int = 100,
        owner: str | None = None,
    ) -> Hold | None:
        """Hold funds for the request's upper bound; None when the model is free.

        `price_percent` discounts the cash price (the Batch API pays 50%). `owner`: the meter
        (process) the hold dies with (billing/recovery.py); None for a job's hold."""
        if not self.config.enabled:
            return None
        price = self.prices.price(model, canonical).scaled(price_percent)
        if price.free:
            return None  # no write transaction for free models
        with self._db.session() as session:
            wallet = ledger.lock_wallet(session, account_id)
            now = utcnow()
            packs = ledger.expire_and_list_spendable(session, account_id, model, now)
            plan = plan_hold(
                ledger.funds_of(packs), wallet.cash_micro, prompt_tokens, max_tokens, price, flexible
            )
            if plan is None:
                raise InsufficientBalance()
            reservation = Reservation(
                id=new_id("res_")[:36],
                account_id=account_id,
                api_key_id=api_key_id,
                request_id=request_id,
                model=model,
                max_tokens=plan.completion_tokens,
                owner=owner,
                price_in=price.input_per_1k,
                price_out=price.output_per_1k,
            )
            session.add(reservation)
            ledger.apply_hold(session, wallet, {p.id: p for p in packs}, reservation, plan)
            try:
                session.flush()
            except IntegrityError as exc:
                raise DuplicateRequest(request_id) from exc
            return Hold(reservation.id, plan.completion_tokens)

    def reserve_images(
        self,
        account_id: str,
        api_key_id: str | None,
        request_id: str,
        model: str,
        canonical: str,
        count: int,
        owner: str | None = None,
    ) -> Hold | None:
        """Hold `count` images at the per-image price, in cash (resource packs hold tokens, not
        images); None when images of this model are free.

        The reservation prices an image as one completion "token" (`price_out` = per-image
        price × 1000 per 1k, `max_tokens` = count), so the usual `settle` with
        completion_tokens = images made charges exactly images × price and releases the rest."""
        if not self.config.enabled:
            return None
        price = self.prices.price(model, canonical)
        if not price.per_image:
            return None
        with self._db.session() as session:
            wallet = ledger.lock_wallet(session, account_id)
            plan = Plan((), price.per_image * count, count)
            if plan.cash > wallet.cash_micro:
                raise InsufficientBalance()
            reservation = Reservation(
                id=new_id("res_")[:36],
                account_id=account_id,
                api_key_id=api_key_id,
                request_id=request_id,
                model=model,
                max_tokens=count,
                price_in=0,
                price_out=price.per_image * 1000,
                owner=owner,
            )
            session.add(reservation)
            ledger.apply_hold(session, wallet, {}, reservation, plan)
            try:
                session.flush()
            except IntegrityError as exc:
                raise DuplicateRequest(request_id) from exc
            return Hold(reservation.id, count)

    def settle(
        self,
        session: Session,
        reservation_id: str,
        prompt_tokens: int,
        completion_tokens: int,
        account_id: str | None = None,
    ) -> int:
        """Release the hold and charge real usage (capped at the hold); returns µ元 charged."""
        reservation, wallet = self._held(session, reservation_id, account_id)
        if reservation is None:
            return 0
        packs = ledger.release_hold(session, wallet, reservation)
        completion = min(completion_tokens, reservation.max_tokens)
        price = Price(reservation.price_in, reservation.price_out)
        plan = plan_spend(ledger.funds_of(packs), prompt_tokens, completion, price)
        ledger.apply_charge(session, wallet, packs, reservation, plan)
        reservation.state = "settled"
        check_alerts(session, wallet)
        return plan.cash

    def release(self, session: Session, reservation_id: str, account_id: str | None = None) -> None:
        reservation, wallet = self._held(session, reservation_id, account_id)
        if reservation is not None:
            ledger.release_hold(session, wallet, reservation)
            reservation.state = "released"
            reservation.settled_at = utcnow()

    def charge_tokens(
        self,
        account_id: str,
        api_key_id: str | None,
        request_id: str,
        model: str,
        canonical: str,
        tokens: int,
        hold_id: str | None = None,
    ) -> int:
        """Release `hold_id` (if still held) and charge `tokens` at the model's input price, in
        one transaction; once per `request_id` (a repeat charges nothing). For work billed
        after it ran, such as fine-tuning (dataset tokens × epochs). Returns µ元 charged."""
        with self._db.session() as session:
            if hold_id:
                self.release(session, hold_id)
            price = self.prices.price(model, canonical) if self.config.enabled else Price()
            wallet = ledger.lock_wallet(session, account_id)
            charged = session.scalar(
                sa.select(Reservation.id).where(
                    Reservation.account_id == account_id, Reservation.request_id == request_id
                )
            )
            if tokens <= 0 or price.free or not self.config.enabled or charged:
                return 0
            packs = ledger.spendable_packs(session, account_id, model, utcnow())
            plan = plan_spend(ledger.funds_of(packs), tokens, 0, price)
            reservation = Reservation(
                id=new_id("res_")[:36],
                account_id=account_id,
                api_key_id=api_key_id,
                request_id=request_id,
                model=model,
                max_tokens=0,
                price_in=price.input_per_1k,
                price_out=price.output_per_1k,
            )
            session.add(reservation)
            session.flush()
            ledger.apply_charge(session, wallet, packs, reservation, plan)
            reservation.state = "settled"
            check_alerts(session, wallet)
            audit(
                session,
                account_id,
                account_id,
                "tokens.charge",
                request_id=request_id,
                model=model,
                tokens=tokens,
                cash_micro=plan.cash,
                pack_tokens=plan.pack_tokens,
            )
            return plan.cash

    @staticmethod
    def _held(
        session: Session, reservation_id: str, account_id: str | None = None
    ) -> tuple[Reservation | None, Wallet]:
        """The reservation if still held, with its account's wallet locked first (the lock
        order). `account_id`, when the caller knows it, saves a lookup; it is checked."""
        if account_id is None:
            account_id = session.scalar(
                sa.select(Reservation.account_id).where(Reservation.id == reservation_id)
            )
            if account_id is None:
                raise NotFound("reservation")
        wallet = ledger.lock_wallet(session, account_id)
        reservation = session.scalar(
            sa.select(Reservation)
            .where(Reservation.id == reservation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if reservation is None or reservation.account_id != account_id:
            raise NotFound("reservation")
        if reservation.state != "held":
            return None, wallet  # settled already: settling twice is a no-op
        return reservation, wallet

    # sweepers ----------------------------------------------------------------------------
    def release_stale_holds(self, older_than: timedelta | None = None) -> int:
        """Holds from before owners were recorded (no owner, not a job's): released after
        `stale_hold_minutes`. A hold with an owner is released only when its owner is known
        dead (billing/recovery.py), never while its work is alive (a slow stream, a long
        fine-tune)."""
        age = older_than or timedelta(minutes=self.config.stale_hold_minutes)
        with self._db.session() as session:
            stale = session.scalars(
                sa.select(Reservation.id).where(
                    Reservation.state == "held",
                    Reservation.created_at < utcnow() - age,
                    Reservation.owner.is_(None),
                    Reservation.request_id.not_like(f"{LEASE_PREFIX}%"),
                    Reservation.request_id.not_like("%:hold"),
                )
            ).all()
            for reservation_id in stale:
                self.release(session, reservation_id)
            return len(stale)

    def expire_packs(self) -> int:
        with self._db.session() as session:
            now = utcnow()
            accounts = session.scalars(
                sa.select(ResourcePack.account_id)
                .distinct()
                .where(ResourcePack.expired_at.is_(None), ResourcePack.expires_at <= now)
            ).all()
            return sum(self._expire_one(session, account_id, now) for account_id in accounts)

    @staticmethod
    def _expire_one(session: Session, account_id: str, now: datetime) -> int:
        ledger.lock_wallet(session, account_id)
        return ledger.expire_due_packs(session, account_id, now)

    # top-ups and packs -------------------------------------------------------------------
    def admin_credit(self, actor_id: str, account_id: str, amount_micro: int, reason: str) -> None:
        if not reason.strip():
            raise InvalidField("reason", "an admin credit needs a reason")
        with self._db.session() as session:
            wallet = ledger.lock_wallet(session, account_id)
            ledger.credit_cash(session, wallet, amount_micro, "admin_credit", reason)
            check_alerts(session, wallet)
            audit(
                session,
                actor_id,
                account_id,
                "balance.admin_credit",
                amount_micro=amount_micro,
                reason=reason,
            )

    def credit_topup(self, account_id: str, payment_id: str, amount_micro: int) -> bool:
        """Credit a verified gateway payment once; False if this payment was credited already."""
        if amount_micro <= 0:
            raise InvalidField("amount", "must be positive")
        with self._db.session() as session:
            wallet = ledger.lock_wallet(session, account_id)
            seen = session.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerEntry)
                .where(
                    LedgerEntry.account_id == account_id,
                    LedgerEntry.kind == "topup",
                    LedgerEntry.request_id == payment_id,
                )
            )
            if seen:
                return False
            wallet.cash_micro += amount_micro
            ledger.append(
                session, account_id, "topup", cash_micro=amount_micro, request_id=payment_id, note="payment"
            )
            check_alerts(session, wallet)
            audit(
                session,
                account_id,
                account_id,
                "balance.topup",
                payment_id=payment_id,
                amount_micro=amount_micro,
            )
            return True

    def create_redemption_codes(self, actor_id: str, amount_micro: int, count: int) -> list[str]:
        if amount_micro <= 0:
            raise InvalidField("amount", "must be positive")
        if not 1 <= count <= 1000:
            raise InvalidField("count", "between 1 and 1000")
        codes = ["-".join(secrets.token_hex(2).upper() for _ in range(4)) for _ in range(count)]
        with self._db.session() as session:
            session.add_all(
                RedemptionCode(code_hash=_code_hash(c), amount_micro=amount_micro, created_by=actor_id)
                for c in codes
            )
            audit(session, actor_id, None, "redemption_codes.create", amount_micro=amount_micro, count=count)
        return codes

    def redeem(self, account_id: str, code: str) -> int:
        with self._db.session() as session:
            wallet = ledger.lock_wallet(session, account_id)
            claimed = session.execute(
                sa.update(RedemptionCode)
                .where(RedemptionCode.code_hash == _code_hash(code), RedemptionCode.redeemed_by.is_(None))
                .values(redeemed_by=account_id, redeemed_at=utcnow())
                .returning(RedemptionCode.amount_micro)
            ).scalar()
            if claimed is None:
                raise InvalidField("code", "unknown or already redeemed")
            ledger.credit_cash(session, wallet, claimed, "redeem", "redemption code")
            check_alerts(session, wallet)
            audit(session, account_id, account_id, "balance.redeem", amount_micro=claimed)
            return claimed

    def purchase_pack(self, account_id: str, offer_id: str) -> str:
        with self._db.session() as session:
            offer = session.get(PackOffer, offer_id)
            if offer is None or not offer.active:
                raise NotFound("pack offer")
            wallet = ledger.lock_wallet(session, account_id)
            if wallet.cash_micro < offer.price_micro:
                raise InsufficientBalance()
            ledger.debit_cash(session, wallet, offer.price_micro, "pack_purchase", offer.name)
            pack_id = new_id("pack_")[:37]
            ledger.add_pack(
                session,
                account_id,
                name=offer.name,
                source="purchase",
                tokens=offer.tokens,
                model=offer.model,
                pack_id=pack_id,
                expires_at=utcnow() + timedelta(days=offer.valid_days),
            )
            wallet.pack_alert_armed = True
            audit(
                session,
                account_id,
                account_id,
                "pack.purchase",
                offer_id=offer_id,
                price_micro=offer.price_micro,
            )
            return pack_id

    def offers(self) -> list[OfferView]:
        with self._db.session() as session:
            query = sa.select(PackOffer).where(PackOffer.active).order_by(PackOffer.price_micro)
            return [offer_view(row) for row in session.scalars(query)]

    # views -------------------------------------------------------------------------------
    def set_alert(self, account_id: str, threshold_micro: int | None, pack_tokens: int | None) -> None:
        if any(v is not None and v < 0 for v in (threshold_micro, pack_tokens)):
            raise InvalidField("threshold", "must not be negative")
        with self._db.session() as session:
            wallet = ledger.lock_wallet(session, account_id)
            wallet.alert_threshold_micro, wallet.alert_pack_tokens = threshold_micro, pack_tokens
            wallet.alert_armed = wallet.pack_alert_armed = True
            check_alerts(session, wallet)
            audit(
                session,
                account_id,
                account_id,
                "alert.set",
                threshold_micro=threshold_micro,
                pack_tokens=pack_tokens,
            )

    def balance(self, account_id: str) -> BalanceView:
        """A read: writes nothing (pack expiry is recorded by `expire_packs`, the maintenance
        task, and by every hold); a pack past its expiry shows as expired already."""
        with self._db.session(read_only=True) as session:
            now = utcnow()
            wallet = session.get(Wallet, account_id) or Wallet(
                account_id=account_id, cash_micro=0, held_micro=0
            )
            packs = session.scalars(
                sa.select(ResourcePack)
                .where(ResourcePack.account_id == account_id)
                .order_by(ResourcePack.expires_at)
            ).all()
            # funds leases are the platform's own headroom, not requests: shown as available
            leased_cash, leased_packs = _leased(session, account_id)
            return BalanceView(
                wallet.cash_micro + leased_cash,
                wallet.held_micro - leased_cash,
                wallet.alert_threshold_micro,
                wallet.alert_pack_tokens,
                [
                    PackView(
                        p.id,
                        p.name,
                        p.source,
                        p.model,
                        p.total_tokens,
                        p.remaining_tokens + leased_packs.get(p.id, 0),
                        p.held_tokens - leased_packs.get(p.id, 0),
                        p.expires_at,
                        p.expired_at is not None or p.expires_at <= now,
                    )
                    for p in packs
                ],
            )

    def set_price(self, actor_id: str, model: str, price: Price) -> None:
        with self._db.session() as session:
            set_price(session, actor_id, model, price)
        self.prices.invalidate()

    def price_history(self, model: str | None = None) -> list[PriceChange]:
        with self._db.session() as session:
            return price_history(session, model)

    def notifications(self, account_id: str, limit: int = 50) -> list[NotificationView]:
        with self._db.session() as session:
            rows = session.scalars(
                sa.select(Notification)
                .where(Notification.account_id == account_id)
                .order_by(Notification.id.desc())
                .limit(limit)
            )
            return [notification_view(row) for row in rows]

    def current_prices(self) -> list[tuple[str, Price]]:
        with self._db.session() as session:
            models = session.scalars(sa.select(ModelPrice.model).distinct().order_by(ModelPrice.model)).all()
            return [(model, current_price(session, model)) for model in models]

    def reconcile(self, account_id: str) -> list[ledger.Discrepancy]:
        with self._db.session() as session:
            return ledger.reconcile(session, account_id)
