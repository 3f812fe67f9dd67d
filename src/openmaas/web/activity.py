"""Read-only views of an account's money and requests for the console: the ledger as a list
of transactions with a running balance, what packs/grants/cash covered per model, the request
log over the usage rows, and usage per API key.

The ledger is read generically, by entry kind: any kind the billing code adds later shows up
under its own name. Holds and releases of a reservation that has since been settled or released
net to zero and are left out (they are bookkeeping, not money moving); a hold still open shows
as a `hold` line. Because hidden entries net to zero, the running balance after the newest
line equals the wallet's available cash, to the µ元.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from openmaas.agents.tool_trace import McpCallView, read_calls
from openmaas.billing.bills import check_range, parse_month
from openmaas.billing.recovery import RECOVERED
from openmaas.errors import InvalidField, NotFound
from openmaas.store.db import Database
from openmaas.store.tables import ApiKey, LedgerEntry, RequestBody, ResourcePack, RetrievalTrace, UsageRecord

BOOKKEEPING_KINDS = ("hold", "release")
MAX_PAGE_SIZE = 200
USAGE_STATUSES = ("success", "error", "cancelled")
OPENAI_CHAT_PREFIX = "chatcmpl-"  # the OpenAI surface's completion id = this + the request id


@dataclass(frozen=True)
class Transaction:
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
    balance_micro: int  # available cash after this line
    recovered: bool = False  # charged by the meter's crash recovery (billing/recovery.py)


@dataclass(frozen=True)
class KindTotal:
    kind: str
    entries: int
    cash_micro: int
    pack_tokens: int


@dataclass(frozen=True)
class TransactionPage:
    data: list[Transaction]
    total: int
    page: int
    size: int
    totals: list[KindTotal]  # over every line the filter matches, not only this page
    cash_micro: int  # sum of the matched lines' cash
    balance_micro: int  # available cash after the newest line of the account


@dataclass(frozen=True)
class Coverage:
    model: str
    grant_tokens: int  # tokens taken from granted packs
    pack_tokens: int  # tokens taken from bought packs
    cash_micro: int  # cash charged
    refund_micro: int  # cash given back (refunds, corrections)


@dataclass(frozen=True)
class UsageRow:
    id: int
    created_at: str
    api_key_id: str | None
    api_key_name: str | None
    model: str
    endpoint: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None
    reasoning_tokens: int | None
    cost_micro: int
    latency_ms: int
    status: str
    error_code: str | None
    request_id: str


@dataclass(frozen=True)
class UsagePage:
    data: list[UsageRow]
    total: int
    page: int
    size: int
    models: list[str]  # the account's models in the range, for the filter


@dataclass(frozen=True)
class RequestDetail:
    """One request of the log: its usage row, the retrieval trace(s) and MCP tool calls it
    made, and the bodies when the account keeps them (None: not kept, or expired)."""

    usage: UsageRow
    retrieval: list[dict]
    mcp_calls: list[McpCallView]
    request_body: dict | None
    response_body: dict | None
    body_expires_at: str | None


@dataclass(frozen=True)
class RequestTrace:
    """One request by its id: its usage rows and the MCP tool calls the platform made for it."""

    request_id: str
    usage: list[UsageRow]
    mcp_calls: list[McpCallView]


@dataclass(frozen=True)
class KeyUsage:
    api_key_id: str | None  # None: the console session
    requests: int
    tokens: int
    cost_micro: int
    errors: int


def check_paging(page: int, size: int) -> None:
    if page < 1:
        raise InvalidField("page", "starts at 1")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidField("size", f"1 to {MAX_PAGE_SIZE}")


def _recovered_ids(session, account_id: str, rows) -> frozenset[str]:
    """The request ids among `rows` charged by crash recovery: a lease call's charge carries
    the `:recovered` suffix; an exact hold settled by recovery has a `recovered` usage row."""
    ids = {entry.request_id for entry, _, _ in rows if entry.request_id}
    if not ids:
        return frozenset()
    found = set(
        session.scalars(
            sa.select(UsageRecord.request_id).where(
                UsageRecord.account_id == account_id,
                UsageRecord.status == RECOVERED,
                UsageRecord.request_id.in_(ids),
            )
        )
    )
    return frozenset(found | {i for i in ids if i.endswith(f":{RECOVERED}")})


class Activity:
    def __init__(self, db: Database, utc_offset_hours: int) -> None:
        self._db = db
        self._offset = timedelta(hours=utc_offset_hours)

    def _utc(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC) - self._offset

    def _range(self, column, start: date | None, end: date | None) -> list:
        if start is None and end is None:
            return []
        if start is None or end is None:
            raise InvalidField("start" if start is None else "end", "give both start and end")
        check_range(start, end)
        return [column >= self._utc(start), column < self._utc(end + timedelta(days=1))]

    # transactions ---------------------------------------------------------------------
    @staticmethod
    def _open_reservations(account_id: str):
        """Reservations whose holds and releases do not (yet) net to zero."""
        return (
            sa.select(LedgerEntry.reservation_id)
            .where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.kind.in_(BOOKKEEPING_KINDS),
                LedgerEntry.reservation_id.is_not(None),
            )
            .group_by(LedgerEntry.reservation_id)
            .having(
                sa.or_(sa.func.sum(LedgerEntry.cash_micro) != 0, sa.func.sum(LedgerEntry.pack_tokens) != 0)
            )
        )

    def _visible(self, account_id: str):
        return sa.and_(
            LedgerEntry.account_id == account_id,
            sa.or_(
                LedgerEntry.kind.not_in(BOOKKEEPING_KINDS),
                LedgerEntry.reservation_id.in_(self._open_reservations(account_id)),
            ),
        )

    def transactions(
        self,
        account_id: str,
        page: int = 1,
        size: int = 50,
        kind: str | None = None,
        start: date | None = None,
        end: date | None = None,
    ) -> TransactionPage:
        check_paging(page, size)
        visible = self._visible(account_id)
        where = [visible, *self._range(LedgerEntry.created_at, start, end)]
        if kind:
            where.append(LedgerEntry.kind == kind)
        with self._db.session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(*where)) or 0
            totals = [
                KindTotal(k, n, int(c or 0), int(p or 0))
                for k, n, c, p in session.execute(
                    sa.select(
                        LedgerEntry.kind,
                        sa.func.count(),
                        sa.func.sum(LedgerEntry.cash_micro),
                        sa.func.sum(LedgerEntry.pack_tokens),
                    )
                    .where(*where)
                    .group_by(LedgerEntry.kind)
                    .order_by(LedgerEntry.kind)
                )
            ]
            rows = session.execute(
                sa.select(LedgerEntry, ResourcePack.name, ResourcePack.source)
                .outerjoin(ResourcePack, ResourcePack.id == LedgerEntry.pack_id)
                .where(*where)
                .order_by(LedgerEntry.id.desc())
                .offset((page - 1) * size)
                .limit(size)
            ).all()
            balance = int(
                session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.cash_micro), 0)).where(visible)
                )
                or 0
            )
            data = self._with_balances(session, visible, rows, _recovered_ids(session, account_id, rows))
        return TransactionPage(data, total, page, size, totals, sum(t.cash_micro for t in totals), balance)

    @staticmethod
    def _with_balances(session, visible, rows, recovered: frozenset[str] = frozenset()) -> list[Transaction]:
        """Running balance of each line: the visible cash up to and including it."""
        if not rows:
            return []
        newest = rows[0][0].id
        after = int(
            session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.cash_micro), 0)).where(
                    visible, LedgerEntry.id <= newest
                )
            )
            or 0
        )
        between = dict(
            session.execute(  # visible lines on no page of this filter shift the balance too
                sa.select(LedgerEntry.id, LedgerEntry.cash_micro).where(
                    visible, LedgerEntry.id <= newest, LedgerEntry.id >= rows[-1][0].id
                )
            ).all()
        )
        out: list[Transaction] = []
        balance = after
        ids = sorted(between, reverse=True)
        by_id = {entry.id: (entry, name, source) for entry, name, source in rows}
        for entry_id in ids:
            if entry_id in by_id:
                entry, name, source = by_id[entry_id]
                out.append(
                    Transaction(
                        entry.id,
                        entry.created_at.replace(tzinfo=UTC).isoformat(),
                        entry.kind,
                        entry.cash_micro,
                        entry.pack_tokens,
                        entry.pack_id,
                        name,
                        source,
                        entry.model,
                        entry.request_id,
                        entry.note,
                        balance,
                        entry.request_id in recovered,
                    )
                )
            balance -= between[entry_id]
        return out

    def all_transactions(self, account_id: str, start: date | None, end: date | None) -> list[Transaction]:
        """For exports: every matched line, oldest first (bounded by the date range)."""
        rows: list[Transaction] = []
        page = 1
        while True:
            chunk = self.transactions(account_id, page, MAX_PAGE_SIZE, start=start, end=end)
            rows.extend(chunk.data)
            if page * MAX_PAGE_SIZE >= chunk.total:
                return rows[::-1]
            page += 1

    # bills: who paid ------------------------------------------------------------------
    def coverage(self, account_id: str, month: str) -> list[Coverage]:
        """Per model in the month: tokens taken from grants and bought packs, cash charged."""
        first = parse_month(month)
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        query = (
            sa.select(LedgerEntry.model, LedgerEntry.cash_micro, LedgerEntry.pack_tokens, ResourcePack.source)
            .outerjoin(ResourcePack, ResourcePack.id == LedgerEntry.pack_id)
            .where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.model.is_not(None),
                LedgerEntry.kind.not_in(BOOKKEEPING_KINDS),
                LedgerEntry.created_at >= self._utc(first),
                LedgerEntry.created_at < self._utc(following),
            )
        )
        lines: dict[str, dict] = defaultdict(lambda: {"grant": 0, "pack": 0, "cash": 0, "refund": 0})
        with self._db.session() as session:
            for model, cash, tokens, source in session.execute(query):
                line = lines[str(model)]  # never None: the query filters it
                line["grant" if source == "grant" else "pack"] -= tokens
                line["cash" if cash <= 0 else "refund"] += abs(cash)
        return [
            Coverage(model, v["grant"], v["pack"], v["cash"], v["refund"])
            for model, v in sorted(lines.items())
        ]

    # request log ----------------------------------------------------------------------
    def _own_key(self, session, account_id: str, api_key_id: str) -> None:
        owner = session.scalar(sa.select(ApiKey.account_id).where(ApiKey.id == api_key_id))
        if owner != account_id:  # another account's key reads as unknown: no probing
            raise NotFound("api key")

    def usage(
        self,
        account_id: str,
        start: date,
        end: date,
        page: int = 1,
        size: int = 50,
        model: str | None = None,
        api_key_id: str | None = None,
        status: str | None = None,
    ) -> UsagePage:
        check_paging(page, size)
        if status and status not in USAGE_STATUSES:
            raise InvalidField("status", " | ".join(USAGE_STATUSES))
        in_range = [UsageRecord.account_id == account_id, *self._range(UsageRecord.created_at, start, end)]
        where = list(in_range)
        if model:
            where.append(UsageRecord.model == model)
        if status:
            where.append(UsageRecord.status == status)
        with self._db.session() as session:
            if api_key_id == "session":
                where.append(UsageRecord.api_key_id.is_(None))
            elif api_key_id:
                self._own_key(session, account_id, api_key_id)
                where.append(UsageRecord.api_key_id == api_key_id)
            total = session.scalar(sa.select(sa.func.count()).select_from(UsageRecord).where(*where)) or 0
            rows = session.execute(
                sa.select(UsageRecord, ApiKey.name)
                .outerjoin(ApiKey, ApiKey.id == UsageRecord.api_key_id)
                .where(*where)
                .order_by(UsageRecord.id.desc())
                .offset((page - 1) * size)
                .limit(size)
            ).all()
            models = list(
                session.scalars(
                    sa.select(UsageRecord.model).where(*in_range).distinct().order_by(UsageRecord.model)
                )
            )
            data = [usage_row(r, name) for r, name in rows]
        return UsagePage(data, total, page, size, models)

    def request_trace(self, account_id: str, request_id: str) -> RequestTrace:
        """By the id the client got (the OpenAI surface's `chatcmpl-…` too); another account's
        request reads exactly like an unknown one."""
        ids = request_ids(request_id)
        with self._db.session(read_only=True) as session:
            rows = session.execute(
                sa.select(UsageRecord, ApiKey.name)
                .outerjoin(ApiKey, ApiKey.id == UsageRecord.api_key_id)
                .where(UsageRecord.account_id == account_id, UsageRecord.request_id.in_(ids))
                .order_by(UsageRecord.id)
            ).all()
            usage = [usage_row(r, name) for r, name in rows]
        calls = read_calls(self._db, account_id, ids)
        if not usage and not calls:
            raise NotFound(f"request {request_id}")
        return RequestTrace(request_id, usage, calls)

    def detail(self, account_id: str, usage_id: int) -> RequestDetail:
        """Another account's row reads as unknown (404): no probing by id."""
        with self._db.session(read_only=True) as session:
            found = session.execute(
                sa.select(UsageRecord, ApiKey.name)
                .outerjoin(ApiKey, ApiKey.id == UsageRecord.api_key_id)
                .where(UsageRecord.id == usage_id, UsageRecord.account_id == account_id)
            ).first()
            if found is None:
                raise NotFound("request")
            r, name = found
            traces = list(
                session.scalars(
                    sa.select(RetrievalTrace.trace)
                    .where(RetrievalTrace.account_id == account_id, RetrievalTrace.request_id == r.request_id)
                    .order_by(RetrievalTrace.id)
                )
            )
            body = session.scalar(
                sa.select(RequestBody)
                .where(
                    RequestBody.account_id == account_id,
                    RequestBody.request_id == r.request_id,
                    RequestBody.expires_at > datetime.now(UTC),
                )
                .order_by(RequestBody.id.desc())
                .limit(1)
            )
            row = usage_row(r, name)
        calls = read_calls(self._db, account_id, request_ids(r.request_id))
        return RequestDetail(
            row,
            traces,
            calls,
            body.request if body else None,
            body.response if body else None,
            body.expires_at.replace(tzinfo=UTC).isoformat() if body else None,
        )

    def key_usage(self, account_id: str, start: date, end: date) -> list[KeyUsage]:
        where = [UsageRecord.account_id == account_id, *self._range(UsageRecord.created_at, start, end)]
        query = (
            sa.select(
                UsageRecord.api_key_id,
                sa.func.count(),
                sa.func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens),
                sa.func.sum(UsageRecord.cost_micro),
                sa.func.sum(sa.case((UsageRecord.status != "success", 1), else_=0)),
            )
            .where(*where)
            .group_by(UsageRecord.api_key_id)
        )
        with self._db.session() as session:
            return [
                KeyUsage(key, n, int(t or 0), int(c or 0), int(e or 0))
                for key, n, t, c, e in session.execute(query)
            ]


def request_ids(request_id: str) -> list[str]:
    """The id as the client got it and as it is stored (the OpenAI surface's `chatcmpl-…`)."""
    return list({request_id, request_id.removeprefix(OPENAI_CHAT_PREFIX)})


def usage_row(r: UsageRecord, key_name: str | None) -> UsageRow:
    return UsageRow(
        r.id,
        r.created_at.replace(tzinfo=UTC).isoformat(),
        r.api_key_id,
        key_name,
        r.model,
        r.endpoint,
        r.prompt_tokens,
        r.completion_tokens,
        getattr(r, "cached_tokens", None),
        getattr(r, "reasoning_tokens", None),
        r.cost_micro,
        r.latency_ms,
        r.status,
        r.error_code,
        r.request_id,
    )


def as_dict(view) -> dict:
    return asdict(view)
