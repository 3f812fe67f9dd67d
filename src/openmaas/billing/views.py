"""What the billing services hand routers, the console and the CLI: plain copies, never ORM
rows (the balance's `BalanceView`/`PackView` sit beside the service in service.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openmaas.billing.money import Price
from openmaas.store.tables import LedgerEntry, ModelPrice, Notification, PackOffer


@dataclass(frozen=True)
class OfferView:
    """A pack on sale."""

    id: str
    name: str
    model: str | None
    tokens: int
    price_micro: int
    valid_days: int


def offer_view(row: PackOffer) -> OfferView:
    return OfferView(row.id, row.name, row.model, row.tokens, row.price_micro, row.valid_days)


@dataclass(frozen=True)
class RechargeView:
    """Cash put into an account (a top-up, a redeemed code, an admin credit)."""

    id: int
    kind: str
    cash_micro: int
    note: str
    created_at: datetime


def recharge_view(row: LedgerEntry) -> RechargeView:
    return RechargeView(row.id, row.kind, row.cash_micro, row.note, row.created_at)


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    message: str
    created_at: datetime


def notification_view(row: Notification) -> NotificationView:
    return NotificationView(row.id, row.kind, row.message, row.created_at)


@dataclass(frozen=True)
class PriceChange:
    """One row of a model's price history."""

    model: str
    price: Price
    changed_by: str | None
    effective_from: datetime


def price_change(row: ModelPrice) -> PriceChange:
    price = Price(row.input_micro_per_1k, row.output_micro_per_1k, row.image_micro)
    return PriceChange(row.model, price, row.changed_by, row.effective_from)


@dataclass(frozen=True, slots=True)
class UsageView:
    """One request's usage row as bills show and export it (`bills.EXPORT_FIELDS`, in order)."""

    created_at: datetime
    request_id: str
    model: str
    endpoint: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int
    latency_ms: int
    api_key_id: str | None
