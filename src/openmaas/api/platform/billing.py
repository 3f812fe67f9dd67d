"""The account's money: balance, packs, top-up, alerts, bills, histories, exports.

Platform-management API (not part of the Zhipu wire); amounts are given both in µ元
(exact integers) and as 元 strings for display.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from typing import Any, overload

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool

from openmaas.api.deps import AccountPrincipalDep as PrincipalDep
from openmaas.api.deps import AdminPrincipalDep, ManagePrincipalDep, ServicesDep
from openmaas.api.platform.auth import count_attempt
from openmaas.api.public.billing import (
    EXPORT_CONTENT,
    AccountCredited,
    BalancePublic,
    CodesCreated,
    DailyBillsPublic,
    MonthlyBillPublic,
    NotificationsPublic,
    OffersPublic,
    PackBought,
    PackHistoryPublic,
    PriceHistoryPublic,
    PricePublic,
    PricesPublic,
    RechargesPublic,
    Redeemed,
    UsageRowsPublic,
)
from openmaas.api.public.billing import AlertPublic as AlertsSet
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.billing.bills import bill_dict, usage_dict
from openmaas.billing.money import Price, micro_to_yuan, yuan_to_micro
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InvalidField

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/api/platform/billing", tags=["platform: billing"])


def money(micro: int | None) -> dict[str, Any] | None:
    return None if micro is None else {"micro": micro, "yuan": micro_to_yuan(micro)}


@overload
def parse_yuan(field: str, text: str) -> int: ...
@overload
def parse_yuan(field: str, text: None) -> None: ...
@overload
def parse_yuan(field: str, text: str | None) -> int | None: ...


def parse_yuan(field: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return yuan_to_micro(text)
    except (ValueError, ArithmeticError) as exc:
        raise InvalidField(field, "a 元 amount with at most 6 decimals") from exc


class RedeemBody(BaseModel):
    code: str = Field(min_length=4, max_length=64)


class PurchaseBody(BaseModel):
    offer_id: str = Field(min_length=1, max_length=40)


# Alert thresholds are stored in BIGINT columns (at most 2**63 - 1): bounded well below it,
# so an absurd value is a 400 (1214), never an overflow 500.
MAX_ALERT_YUAN = 10**12
MAX_ALERT_PACK_TOKENS = 10**15


class AlertBody(BaseModel):
    threshold_yuan: str | None = Field(default=None, max_length=32)
    pack_tokens: int | None = Field(default=None, ge=0, le=MAX_ALERT_PACK_TOKENS)


def alert_threshold(text: str | None) -> int | None:
    micro = parse_yuan("threshold_yuan", text)
    if micro is not None and not 0 <= micro <= yuan_to_micro(MAX_ALERT_YUAN):
        raise InvalidField("threshold_yuan", f"between 0 and {MAX_ALERT_YUAN} 元")
    return micro


@router.get("/balance", response_model=BalancePublic)
async def balance(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    view = await run_in_threadpool(services.billing.balance, principal.account_id)
    packs = [
        {
            "id": p.id,
            "name": p.name,
            "source": p.source,
            "model": p.model,
            "total_tokens": p.total_tokens,
            "remaining_tokens": p.remaining_tokens,
            "held_tokens": p.held_tokens,
            "expires_at": p.expires_at.isoformat(),
            "expired": p.expired,
        }
        for p in view.packs
    ]
    return JSONBody(
        {
            "cash": money(view.cash_micro + view.held_micro),
            "available": money(view.cash_micro),
            "held": money(view.held_micro),
            "packs": packs,
            "alert": {"threshold": money(view.alert_threshold_micro), "pack_tokens": view.alert_pack_tokens},
        }
    )


@router.get("/offers", response_model=OffersPublic)
async def offers(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    rows = await run_in_threadpool(services.billing.offers)
    return JSONBody(
        {
            "data": [
                {
                    "id": o.id,
                    "name": o.name,
                    "model": o.model,
                    "tokens": o.tokens,
                    "price": money(o.price_micro),
                    "valid_days": o.valid_days,
                }
                for o in rows
            ]
        }
    )


@router.post("/packs", response_model=PackBought)
async def buy_pack(body: PurchaseBody, services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    pack_id = await run_in_threadpool(services.billing.purchase_pack, principal.account_id, body.offer_id)
    return JSONBody({"pack_id": pack_id})


@router.post("/redeem", response_model=Redeemed)
async def redeem(
    body: RedeemBody, request: Request, services: ServicesDep, principal: ManagePrincipalDep
) -> JSONBody:
    await count_attempt(services, request, "redeem", principal.account_id)
    amount = await run_in_threadpool(services.billing.redeem, principal.account_id, body.code)
    return JSONBody({"credited": money(amount)})


@router.put("/alerts", response_model=AlertsSet)
async def set_alerts(body: AlertBody, services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    threshold = alert_threshold(body.threshold_yuan)
    await run_in_threadpool(services.billing.set_alert, principal.account_id, threshold, body.pack_tokens)
    return JSONBody({"threshold": money(threshold), "pack_tokens": body.pack_tokens})


@router.get("/bills/daily", response_model=DailyBillsPublic)
async def daily_bills(start: date, end: date, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    lines = await run_in_threadpool(services.bills.daily, principal.account_id, start, end)
    return JSONBody({"data": [bill_dict(line) for line in lines]})


@router.get("/bills/monthly", response_model=MonthlyBillPublic)
async def monthly_bill(
    services: ServicesDep, principal: PrincipalDep, month: str = Query(pattern=r"^\d{4}-\d{2}$")
) -> JSONBody:
    lines = await run_in_threadpool(services.bills.monthly, principal.account_id, month)
    total = sum(line.cost_micro for line in lines)
    return JSONBody({"month": month, "total": money(total), "data": [bill_dict(line) for line in lines]})


@router.get("/recharges", response_model=RechargesPublic)
async def recharges(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    rows = await run_in_threadpool(services.bills.recharges, principal.account_id)
    return JSONBody(
        {
            "data": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "amount": money(r.cash_micro),
                    "note": r.note,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]
        }
    )


@router.get("/packs/history", response_model=PackHistoryPublic)
async def pack_history(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody({"data": await run_in_threadpool(services.bills.pack_history, principal.account_id)})


@router.get("/usage", response_model=UsageRowsPublic)
async def usage_detail(
    start: date,
    end: date,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: int = Query(default=100, ge=1, le=1000),
) -> JSONBody:
    def first_rows() -> list[dict[str, Any]]:
        rows = services.bills.usage_rows(principal.account_id, start, end)
        return [usage_dict(row) for _, row in zip(range(limit), rows, strict=False)]

    return JSONBody({"data": await run_in_threadpool(first_rows)})


@router.get("/export", response_model=None, response_class=Response, responses=EXPORT_CONTENT)
async def export(
    start: date,
    end: date,
    services: ServicesDep,
    principal: PrincipalDep,
    format: str = Query(default="csv", pattern="^(csv|json)$"),
) -> StreamingResponse:
    chunks = services.bills.export(principal.account_id, start, end, format)
    release = services.bills.exports.take(principal.account_id)  # 1302 past the account's cap
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    filename = f"usage-{start}-{end}.{format}"
    return StreamingResponse(
        _released_when_done(chunks, release),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _released_when_done(chunks: Iterator[bytes], release: Callable[[], None]) -> AsyncIterator[bytes]:
    """The export's chunks (read in a thread); its slot is given back when it ends, the
    client's disconnect included."""
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        release()


@router.get("/notifications", response_model=NotificationsPublic)
async def notifications(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    rows = await run_in_threadpool(services.billing.notifications, principal.account_id)
    return JSONBody(
        {
            "data": [
                {"id": n.id, "kind": n.kind, "message": n.message, "created_at": n.created_at.isoformat()}
                for n in rows
            ]
        }
    )


@router.get("/prices", response_model=PricesPublic)
async def prices(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    rows = await run_in_threadpool(services.billing.current_prices)
    return JSONBody(
        {
            "data": [
                {
                    "model": model,
                    "input_per_1k": money(p.input_per_1k),
                    "output_per_1k": money(p.output_per_1k),
                    "per_image": money(p.per_image),
                }
                for model, p in rows
            ]
        }
    )


# --- admin: prices, redemption codes, credits (each audited) ---------------------------------
admin_router = APIRouter(
    prefix="/api/platform/admin/billing", tags=["platform: admin billing"], route_class=OffLoopJSONRoute
)


class PriceBody(BaseModel):
    input_per_1k: str = Field(max_length=32)
    output_per_1k: str | None = Field(default=None, max_length=32)
    per_image: str = Field(default="0", max_length=32)


class CodesBody(BaseModel):
    amount_yuan: str = Field(max_length=32)
    count: int = Field(default=1, ge=1, le=1000)


class CreditBody(BaseModel):
    amount_yuan: str = Field(max_length=32)
    reason: str = Field(min_length=1, max_length=500)


@admin_router.get("/prices", response_model=PriceHistoryPublic)
async def price_history(
    services: ServicesDep, admin: AdminPrincipalDep, model: str | None = None
) -> JSONBody:
    rows = await run_in_threadpool(services.billing.price_history, model)
    return JSONBody(
        {
            "data": [
                {
                    "model": r.model,
                    "input_per_1k": money(r.price.input_per_1k),
                    "output_per_1k": money(r.price.output_per_1k),
                    "per_image": money(r.price.per_image),
                    "changed_by": r.changed_by,
                    "effective_from": r.effective_from.isoformat(),
                }
                for r in rows
            ]
        }
    )


@admin_router.put("/prices/{model}", response_model=PricePublic)
async def set_model_price(
    model: str, body: PriceBody, services: ServicesDep, admin: AdminPrincipalDep
) -> JSONBody:
    price = Price(
        parse_yuan("input_per_1k", body.input_per_1k),
        parse_yuan("output_per_1k", body.output_per_1k or body.input_per_1k),
        parse_yuan("per_image", body.per_image),
    )
    await run_in_threadpool(services.billing.set_price, admin.account_id, model, price)
    return JSONBody(
        {
            "model": model,
            "input_per_1k": money(price.input_per_1k),
            "output_per_1k": money(price.output_per_1k),
            "per_image": money(price.per_image),
        }
    )


@admin_router.post("/redemption-codes", response_model=CodesCreated)
async def create_codes(body: CodesBody, services: ServicesDep, admin: AdminPrincipalDep) -> JSONBody:
    amount = parse_yuan("amount_yuan", body.amount_yuan)
    codes = await run_in_threadpool(
        services.billing.create_redemption_codes, admin.account_id, amount, body.count
    )
    return JSONBody({"amount": money(amount), "codes": codes})


@admin_router.post("/accounts/{account_id}/credit", response_model=AccountCredited)
async def credit_account(
    account_id: str, body: CreditBody, services: ServicesDep, admin: AdminPrincipalDep
) -> JSONBody:
    amount = parse_yuan("amount_yuan", body.amount_yuan)
    await run_in_threadpool(services.billing.admin_credit, admin.account_id, account_id, amount, body.reason)
    return JSONBody({"account_id": account_id, "credited": money(amount)})
