"""The account's money (/api/platform/billing) and the administrators' billing actions."""

from __future__ import annotations

from pydantic import BaseModel

from openmaas.api.public.common import Money, binary_answer


class PackPublic(BaseModel):
    id: str
    name: str
    source: str
    model: str | None
    total_tokens: int
    remaining_tokens: int
    held_tokens: int
    expires_at: str
    expired: bool


class AlertPublic(BaseModel):
    threshold: Money | None
    pack_tokens: int | None


class BalancePublic(BaseModel):
    cash: Money  # available + held
    available: Money
    held: Money
    packs: list[PackPublic]
    alert: AlertPublic


class OfferPublic(BaseModel):
    id: str
    name: str
    model: str | None
    tokens: int
    price: Money
    valid_days: int


class OffersPublic(BaseModel):
    data: list[OfferPublic]


class PackBought(BaseModel):
    pack_id: str


class Redeemed(BaseModel):
    credited: Money


class BillLinePublic(BaseModel):
    period: str  # YYYY-MM-DD or YYYY-MM
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int


class DailyBillsPublic(BaseModel):
    data: list[BillLinePublic]


class MonthlyBillPublic(BaseModel):
    month: str
    total: Money
    data: list[BillLinePublic]


class RechargePublic(BaseModel):
    id: int
    kind: str
    amount: Money
    note: str
    created_at: str


class RechargesPublic(BaseModel):
    data: list[RechargePublic]


class PackHistoryItem(BaseModel):
    id: str
    name: str
    source: str
    model: str | None
    total_tokens: int
    remaining_tokens: int
    used_tokens: int
    expired_tokens: int
    created_at: str
    expires_at: str
    expired: bool


class PackHistoryPublic(BaseModel):
    data: list[PackHistoryItem]


class UsageRowPublic(BaseModel):
    created_at: str
    request_id: str
    model: str
    endpoint: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int
    latency_ms: int
    api_key_id: str | None


class UsageRowsPublic(BaseModel):
    data: list[UsageRowPublic]


class NotificationPublic(BaseModel):
    id: int
    kind: str
    message: str
    created_at: str


class NotificationsPublic(BaseModel):
    data: list[NotificationPublic]


class PricePublic(BaseModel):
    model: str
    input_per_1k: Money
    output_per_1k: Money
    per_image: Money


class PricesPublic(BaseModel):
    data: list[PricePublic]


class PriceChangePublic(PricePublic):
    changed_by: str | None
    effective_from: str


class PriceHistoryPublic(BaseModel):
    data: list[PriceChangePublic]


class CodesCreated(BaseModel):
    amount: Money
    codes: list[str]


class AccountCredited(BaseModel):
    account_id: str
    credited: Money


EXPORT_CONTENT = binary_answer("the usage rows of the range (format=csv or json)", "text/csv")
EXPORT_CONTENT[200]["content"]["application/json"] = {
    "schema": {"type": "array", "items": UsageRowPublic.model_json_schema()}
}
