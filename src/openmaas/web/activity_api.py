"""Console routes over `activity`: transactions (+ CSV/JSON export), who paid per model, the
request log and one request's detail (usage rows and MCP call trace), and usage per key.
Session-authenticated (or an API key), read-only, each with a response model."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import date
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from openmaas.agents.tool_trace import McpCallView
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.concurrency import run_in_threadpool
from openmaas.web.activity import Activity, UsageRow

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/console/api/activity", include_in_schema=False)


def get_activity(services: ServicesDep) -> Activity:
    return Activity(services.db, services.settings.billing.bill_utc_offset_hours)


ActivityDep = Annotated[Activity, Depends(get_activity)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
Size = Annotated[int, Query(ge=1, le=200)]


class TransactionOut(BaseModel):
    id: int
    created_at: str
    kind: str
    cash_micro: int
    pack_tokens: int
    pack_id: str | None
    pack_name: str | None
    pack_source: str | None
    model: str | None
    request_id: str | None
    note: str
    balance_micro: int
    recovered: bool = False


class KindTotalOut(BaseModel):
    kind: str
    entries: int
    cash_micro: int
    pack_tokens: int


class TransactionPageOut(BaseModel):
    data: list[TransactionOut]
    total: int
    page: int
    size: int
    totals: list[KindTotalOut]
    cash_micro: int
    balance_micro: int


class CoverageOut(BaseModel):
    model: str
    grant_tokens: int
    pack_tokens: int
    cash_micro: int
    refund_micro: int


class CoverageListOut(BaseModel):
    month: str
    data: list[CoverageOut]


class UsagePageOut(BaseModel):
    data: list[UsageRow]
    total: int
    page: int
    size: int
    models: list[str]


class RequestTraceOut(BaseModel):
    request_id: str
    usage: list[UsageRow]
    mcp_calls: list[McpCallView]


class KeyUsageOut(BaseModel):
    api_key_id: str | None
    requests: int
    tokens: int
    cost_micro: int
    errors: int


class KeyUsageListOut(BaseModel):
    data: list[KeyUsageOut]


@router.get("/transactions", response_model=TransactionPageOut)
async def transactions(
    activity: ActivityDep,
    principal: AccountPrincipalDep,
    page: Page = 1,
    size: Size = 50,
    kind: Annotated[str | None, Query(max_length=24)] = None,
    start: date | None = None,
    end: date | None = None,
):
    view = await run_in_threadpool(activity.transactions, principal.account_id, page, size, kind, start, end)
    return asdict(view)


EXPORT_COLUMNS = tuple(TransactionOut.model_fields)


@router.get(
    "/transactions/export",
    response_model=None,
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export_transactions(
    activity: ActivityDep,
    principal: AccountPrincipalDep,
    start: date,
    end: date,
    format: Annotated[str, Query(pattern="^(csv|json)$")] = "csv",
) -> Response:
    rows = [
        asdict(r)
        for r in await run_in_threadpool(activity.all_transactions, principal.account_id, start, end)
    ]
    headers = {"Content-Disposition": f'attachment; filename="transactions-{start}-{end}.{format}"'}
    if format == "json":
        return Response(orjson.dumps(rows), media_type="application/json", headers=headers)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/coverage", response_model=CoverageListOut)
async def coverage(
    activity: ActivityDep, principal: AccountPrincipalDep, month: Annotated[str, Query(max_length=7)]
):
    lines = await run_in_threadpool(activity.coverage, principal.account_id, month)
    return {"month": month, "data": [asdict(line) for line in lines]}


@router.get("/requests", response_model=UsagePageOut)
async def requests_log(
    activity: ActivityDep,
    principal: AccountPrincipalDep,
    start: date,
    end: date,
    page: Page = 1,
    size: Size = 50,
    model: Annotated[str | None, Query(max_length=128)] = None,
    key: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
):
    view = await run_in_threadpool(
        activity.usage, principal.account_id, start, end, page, size, model, key, status
    )
    return asdict(view)


@router.get("/traces/{request_id}", response_model=RequestTraceOut)
async def request_trace(
    activity: ActivityDep, principal: AccountPrincipalDep, request_id: Annotated[str, Path(max_length=128)]
):
    """One request by the id the client got: its usage rows and the MCP tool calls made for it."""
    return asdict(await run_in_threadpool(activity.request_trace, principal.account_id, request_id))


class RequestDetailOut(BaseModel):
    usage: UsageRow
    retrieval: list[dict]  # the traces as the knowledge API returns them
    mcp_calls: list[McpCallView]
    request_body: dict | None
    response_body: dict | None
    body_expires_at: str | None


@router.get("/requests/{usage_id}", response_model=RequestDetailOut)
async def request_detail(
    activity: ActivityDep, principal: AccountPrincipalDep, usage_id: Annotated[int, Path(ge=1, le=2**62)]
):
    return asdict(await run_in_threadpool(activity.detail, principal.account_id, usage_id))


@router.get("/keys", response_model=KeyUsageListOut)
async def key_usage(activity: ActivityDep, principal: AccountPrincipalDep, start: date, end: date):
    rows = await run_in_threadpool(activity.key_usage, principal.account_id, start, end)
    return {"data": [asdict(r) for r in rows]}
