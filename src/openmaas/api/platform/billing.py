"""The account's money: balance, packs, top-up, alerts, bills, histories, exports.

Platform-management API (not part of the Zhipu wire); amounts are given both in µ元
(exact integers) and as 元 strings for display.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openmaas.api.deps import AccountPrincipalDep as PrincipalDep
from openmaas.api.deps import AdminPrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.billing.bills import bill_dict, usage_dict
from openmaas.billing.money import Price, micro_to_yuan, yuan_to_micro
from openmaas.errors import InvalidField

router = APIRouter(prefix="/api/platform/billing", tags=["platform: billing"])


def money(micro: int | None) -> dict | None:
    return None if micro is None else {"micro": micro, "yuan": micro_to_yuan(micro)}


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


class AlertBody(BaseModel):
    threshold_yuan: str | None = Field(default=None, max_length=32)
    pack_tokens: int | None = Field(default=None, ge=0)


@router.get("/balance")
async def balance(services: ServicesDep, principal: PrincipalDep):
    view = await run_in_threadpool(services.billing.balance, principal.account_id)
    packs = [{"id": p.id, "name": p.name, "source": p.source, "model": p.model,
              "total_tokens": p.total_tokens, "remaining_tokens": p.remaining_tokens,
              "held_tokens": p.held_tokens, "expires_at": p.expires_at.isoformat(), "expired": p.expired}
             for p in view.packs]
    return JSONBody({"cash": money(view.cash_micro + view.held_micro), "available": money(view.cash_micro),
                     "held": money(view.held_micro), "packs": packs,
                     "alert": {"threshold": money(view.alert_threshold_micro),
                               "pack_tokens": view.alert_pack_tokens}})


@router.get("/offers")
async def offers(services: ServicesDep, principal: PrincipalDep):
    rows = await run_in_threadpool(services.billing.offers)
    return JSONBody({"data": [{"id": o.id, "name": o.name, "model": o.model, "tokens": o.tokens,
                               "price": money(o.price_micro), "valid_days": o.valid_days} for o in rows]})


@router.post("/packs")
async def buy_pack(body: PurchaseBody, services: ServicesDep, principal: PrincipalDep):
    pack_id = await run_in_threadpool(services.billing.purchase_pack, principal.account_id, body.offer_id)
    return JSONBody({"pack_id": pack_id})


@router.post("/redeem")
async def redeem(body: RedeemBody, services: ServicesDep, principal: PrincipalDep):
    amount = await run_in_threadpool(services.billing.redeem, principal.account_id, body.code)
    return JSONBody({"credited": money(amount)})


@router.put("/alerts")
async def set_alerts(body: AlertBody, services: ServicesDep, principal: PrincipalDep):
    threshold = parse_yuan("threshold_yuan", body.threshold_yuan)
    await run_in_threadpool(services.billing.set_alert, principal.account_id, threshold, body.pack_tokens)
    return JSONBody({"threshold": money(threshold), "pack_tokens": body.pack_tokens})


@router.get("/bills/daily")
async def daily_bills(start: date, end: date, services: ServicesDep, principal: PrincipalDep):
    lines = await run_in_threadpool(services.bills.daily, principal.account_id, start, end)
    return JSONBody({"data": [bill_dict(line) for line in lines]})


@router.get("/bills/monthly")
async def monthly_bill(services: ServicesDep, principal: PrincipalDep,
                       month: str = Query(pattern=r"^\d{4}-\d{2}$")):
    lines = await run_in_threadpool(services.bills.monthly, principal.account_id, month)
    total = sum(line.cost_micro for line in lines)
    return JSONBody({"month": month, "total": money(total), "data": [bill_dict(line) for line in lines]})


@router.get("/recharges")
async def recharges(services: ServicesDep, principal: PrincipalDep):
    rows = await run_in_threadpool(services.bills.recharges, principal.account_id)
    return JSONBody({"data": [{"id": r.id, "kind": r.kind, "amount": money(r.cash_micro), "note": r.note,
                               "created_at": r.created_at.isoformat()} for r in rows]})


@router.get("/packs/history")
async def pack_history(services: ServicesDep, principal: PrincipalDep):
    return JSONBody({"data": await run_in_threadpool(services.bills.pack_history, principal.account_id)})


@router.get("/usage")
async def usage_detail(start: date, end: date, services: ServicesDep, principal: PrincipalDep,
                       limit: int = Query(default=100, ge=1, le=1000)):
    def first_rows() -> list[dict]:
        rows = services.bills.usage_rows(principal.account_id, start, end)
        return [usage_dict(row) for _, row in zip(range(limit), rows, strict=False)]

    return JSONBody({"data": await run_in_threadpool(first_rows)})


@router.get("/export")
async def export(start: date, end: date, services: ServicesDep, principal: PrincipalDep,
                 format: str = Query(default="csv", pattern="^(csv|json)$")):
    chunks = services.bills.export(principal.account_id, start, end, format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    filename = f"usage-{start}-{end}.{format}"
    return StreamingResponse(chunks, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/notifications")
async def notifications(services: ServicesDep, principal: PrincipalDep):
    rows = await run_in_threadpool(services.billing.notifications, principal.account_id)
    return JSONBody({"data": [{"id": n.id, "kind": n.kind, "message": n.message,
                               "created_at": n.created_at.isoformat()} for n in rows]})


@router.get("/prices")
async def prices(services: ServicesDep, principal: PrincipalDep):
    rows = await run_in_threadpool(services.billing.current_prices)
    return JSONBody({"data": [{"model": model, "input_per_1k": money(p.input_per_1k),
                               "output_per_1k": money(p.output_per_1k), "per_image": money(p.per_image)}
                              for model, p in rows]})


# --- admin: prices, redemption codes, credits (each audited) ---------------------------------
admin_router = APIRouter(prefix="/api/platform/admin/billing", tags=["platform: admin billing"])


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


@admin_router.get("/prices")
async def price_history(services: ServicesDep, admin: AdminPrincipalDep, model: str | None = None):
    rows = await run_in_threadpool(services.billing.price_history, model)
    return JSONBody({"data": [{"model": r.model, "input_per_1k": money(r.input_micro_per_1k),
                               "output_per_1k": money(r.output_micro_per_1k),
                               "per_image": money(r.image_micro), "changed_by": r.changed_by,
                               "effective_from": r.effective_from.isoformat()} for r in rows]})


@admin_router.put("/prices/{model}")
async def set_model_price(model: str, body: PriceBody, services: ServicesDep, admin: AdminPrincipalDep):
    price = Price(parse_yuan("input_per_1k", body.input_per_1k),
                  parse_yuan("output_per_1k", body.output_per_1k or body.input_per_1k),
                  parse_yuan("per_image", body.per_image))
    await run_in_threadpool(services.billing.set_price, admin.account_id, model, price)
    return JSONBody({"model": model, "input_per_1k": money(price.input_per_1k),
                     "output_per_1k": money(price.output_per_1k), "per_image": money(price.per_image)})


@admin_router.post("/redemption-codes")
async def create_codes(body: CodesBody, services: ServicesDep, admin: AdminPrincipalDep):
    amount = parse_yuan("amount_yuan", body.amount_yuan)
    codes = await run_in_threadpool(services.billing.create_redemption_codes, admin.account_id, amount,
                                    body.count)
    return JSONBody({"amount": money(amount), "codes": codes})


@admin_router.post("/accounts/{account_id}/credit")
async def credit_account(account_id: str, body: CreditBody, services: ServicesDep, admin: AdminPrincipalDep):
    amount = parse_yuan("amount_yuan", body.amount_yuan)
    await run_in_threadpool(services.billing.admin_credit, admin.account_id, account_id, amount, body.reason)
    return JSONBody({"account_id": account_id, "credited": money(amount)})
