"""The console's money and request views without a browser (in-process app, fake engines):
the transactions list reconciles with the ledger to the µ元, bills say who paid, the request
log filters and pages, and bad input (huge ranges, unknown or foreign ids, bad paging) is a
clear 4xx that changes nothing."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from openmaas.store.tables import LedgerEntry, Wallet
from openmaas.web import i18n
from openmaas.web.activity import BOOKKEEPING_KINDS, USAGE_STATUSES
from openmaas.web.activity_api import router as activity_router
from tests.accounts.conftest import PASSWORD, Platform, account_settings, add_admin, open_platform
from tests.sdk._support import usage_rows, wait_for
from tests.web.test_console_pages import sign_in

TX = "/console/api/activity/transactions"


@pytest.fixture
def platform(make_settings) -> Iterator[Platform]:
    with open_platform(account_settings(make_settings)) as opened:
        yield opened


def scripted_mix(platform) -> str:
    """Top-up, pack purchase, two chats and an embedding call; returns the account id."""
    csrf = sign_in(platform, "money@example.com")
    account_id = platform.client.get("/api/platform/account").json()["id"]
    admin = add_admin(platform.services)
    platform.services.billing.admin_credit(admin.account_id, account_id, 50_000_000, "test top-up")
    offer = platform.client.get("/api/platform/billing/offers").json()["data"][0]
    bought = platform.client.post("/api/platform/billing/packs", headers=csrf, json={"offer_id": offer["id"]})
    assert bought.status_code in (200, 201), bought.text
    key = platform.client.post("/api/platform/keys", headers=csrf, json={"name": "mix"}).json()["api_key"]
    bearer = {"Authorization": f"Bearer {key}"}
    engine = platform.services.catalog.resolve("glm-4").engine
    for text in ("你好！", "Hello there, a longer answer to charge a few more tokens."):
        engine.enqueue(text)
        answer = platform.client.post(
            "/console/api/chat/completions",
            headers=csrf,
            json={"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.status_code == 200, answer.text
    embedded = platform.client.post(
        "/api/paas/v4/embeddings",
        headers=bearer,
        json={"model": "embedding-2", "input": ["一段文字", "another text"]},
    )
    assert embedded.status_code == 200, embedded.text
    wait_for(lambda: len(usage_rows(platform.services, account_id=account_id)) == 3)
    wait_for(lambda: settled(platform), timeout=30, interval=0.2)  # chat leases settle in batches
    return account_id


def settled(platform) -> bool:
    """No hold left open: every request's charge is in the ledger."""
    kinds = {t["kind"] for t in platform.client.get(TX).json()["totals"]}
    return "charge" in kinds and "hold" not in kinds


def ledger_sums(platform, account_id: str) -> tuple[int, dict[str, tuple[int, int]]]:
    with platform.services.db.session() as session:
        wallet = session.get(Wallet, account_id).cash_micro
        by_kind = {
            k: (int(c), int(t))
            for k, c, t in session.execute(
                sa.select(
                    LedgerEntry.kind,
                    sa.func.sum(LedgerEntry.cash_micro),
                    sa.func.sum(LedgerEntry.pack_tokens),
                )
                .where(LedgerEntry.account_id == account_id)
                .group_by(LedgerEntry.kind)
            )
        }
    return wallet, by_kind


def every_line(platform, **query) -> list[dict]:
    lines, page = [], 1
    while True:
        body = platform.client.get(TX, params={"page": page, "size": 2, **query}).json()
        lines += body["data"]
        if page * 2 >= body["total"]:
            return lines
        page += 1


def test_transactions_reconcile_with_the_ledger_to_the_micro_yuan(platform):
    account_id = scripted_mix(platform)
    wallet, by_kind = ledger_sums(platform, account_id)
    body = platform.client.get(TX).json()
    assert body["balance_micro"] == body["cash_micro"] == wallet
    kinds = {t["kind"]: t for t in body["totals"]}
    assert {"admin_credit", "pack_purchase", "pack_grant", "charge"} <= set(kinds)
    for kind, (cash, tokens) in by_kind.items():
        if kind in BOOKKEEPING_KINDS:
            continue  # holds and releases of settled requests net to zero and are not listed
        assert (kinds[kind]["cash_micro"], kinds[kind]["pack_tokens"]) == (cash, tokens), kind
    lines = every_line(platform)  # paged two at a time: the running balance carries across pages
    assert len(lines) == body["total"] == sum(t["entries"] for t in body["totals"])
    assert lines[0]["balance_micro"] == wallet
    for newer, older in zip(lines, lines[1:], strict=False):
        assert newer["balance_micro"] - newer["cash_micro"] == older["balance_micro"]
    assert lines[-1]["balance_micro"] == lines[-1]["cash_micro"]  # the first line starts from zero
    purchase = [line for line in lines if line["kind"] == "pack_purchase"]  # in the money trail:
    assert sorted(line["cash_micro"] < 0 for line in purchase) == [False, True]  # the cash paid
    assert [line["pack_tokens"] > 0 for line in purchase if not line["cash_micro"]] == [True]  # the pack
    assert any(line["kind"] == "charge" and line["model"] == "glm-4" and line["request_id"] for line in lines)

    exported = platform.client.get(f"{TX}/export", params={"start": "2000-01-01", "end": "2000-12-31"})
    assert exported.status_code == 200 and list(csv.DictReader(io.StringIO(exported.text))) == []
    today = lines[0]["created_at"][:10]
    span = {"start": f"{today[:8]}01", "end": f"{int(today[:4]) + 1}-01-01"}
    as_json = platform.client.get(f"{TX}/export", params={**span, "format": "json"}).json()
    assert sum(line["cash_micro"] for line in as_json) == wallet and len(as_json) == len(lines)
    assert [line["id"] for line in as_json] == sorted(line["id"] for line in lines)  # oldest first
    as_csv = list(csv.DictReader(io.StringIO(platform.client.get(f"{TX}/export", params=span).text)))
    assert [int(row["balance_micro"]) for row in as_csv] == [line["balance_micro"] for line in as_json]
    too_long = platform.client.get(f"{TX}/export", params={"start": "2020-01-01", "end": "2026-12-31"})
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (400, "1214")
    charges = [line for line in lines if line["kind"] == "charge"]
    assert all(line["model"] for line in charges)


def test_coverage_says_who_paid_per_model(platform):
    account_id = scripted_mix(platform)
    month = platform.client.get(TX).json()["data"][0]["created_at"][:7]
    response = platform.client.get("/console/api/activity/coverage", params={"month": month})
    assert response.status_code == 200
    lines = {line["model"]: line for line in response.json()["data"]}
    with platform.services.db.session() as session:
        charged = defaultdict(lambda: [0, 0])
        for model, cash, tokens in session.execute(
            sa.select(LedgerEntry.model, LedgerEntry.cash_micro, LedgerEntry.pack_tokens).where(
                LedgerEntry.account_id == account_id, LedgerEntry.kind == "charge"
            )
        ):
            charged[model][0] -= cash
            charged[model][1] -= tokens
    assert set(lines) == set(charged)
    for model, (cash, tokens) in charged.items():
        line = lines[model]
        assert line["cash_micro"] == cash
        assert line["grant_tokens"] + line["pack_tokens"] == tokens > 0


def test_request_log_filters_pages_and_refuses_bad_input(platform):
    account_id = scripted_mix(platform)
    day = usage_rows(platform.services, account_id=account_id)[0].created_at.date()
    start, end = (day.replace(day=1)).isoformat(), f"{day.year + 1}-01-01"
    url = "/console/api/activity/requests"
    everything = platform.client.get(url, params={"start": start, "end": end}).json()
    assert everything["total"] == 3 and set(everything["models"]) >= {"glm-4"}
    chat = platform.client.get(url, params={"start": start, "end": end, "model": "glm-4"}).json()
    assert chat["total"] == 2 and all(r["model"] == "glm-4" and r["api_key_id"] is None for r in chat["data"])
    paged = platform.client.get(url, params={"start": start, "end": end, "size": 1, "page": 2}).json()
    assert len(paged["data"]) == 1 and paged["data"][0]["id"] == everything["data"][1]["id"]
    keyed = [r for r in everything["data"] if r["api_key_id"]]
    assert len(keyed) == 1 and keyed[0]["api_key_name"] == "mix"
    key_id = keyed[0]["api_key_id"]
    by_key = platform.client.get(url, params={"start": start, "end": end, "key": key_id}).json()
    assert by_key["total"] == 1
    session_only = platform.client.get(url, params={"start": start, "end": end, "key": "session"}).json()
    assert session_only["total"] == 2
    per_key = platform.client.get("/console/api/activity/keys", params={"start": start, "end": end}).json()
    assert sum(k["requests"] for k in per_key["data"]) == 3
    assert sum(k["cost_micro"] for k in per_key["data"]) == sum(r["cost_micro"] for r in everything["data"])

    def refused(path: str, **params) -> tuple[int, str]:
        response = platform.client.get(path, params=params)
        return response.status_code, response.json()["error"]["code"]

    assert refused(url, start="2020-01-01", end="2026-12-31") == (400, "1214")  # over 366 days
    assert refused(url, start="2026-12-31", end="2026-01-01") == (400, "1214")  # backwards
    assert refused(url, start=start, end=end, status="weird") == (400, "1214")
    assert refused(url, start=start, end=end, page=0) == (400, "1214")
    assert refused(url, start=start, end=end, size=100000) == (400, "1214")
    assert refused(url, start="yesterday", end=end) == (400, "1214")
    assert refused(TX, start=start) == (400, "1214")  # both ends or neither
    assert refused("/console/api/activity/coverage", month="2026-13") == (400, "1214")
    assert refused(url, start=start, end=end, key="no-such-key")[0] == 404
    other = add_admin(platform.services, "stranger")  # another account's key reads as unknown
    with platform.services.db.session() as session:
        foreign = session.scalar(
            sa.text("select id from api_keys where account_id = :a"), {"a": other.account_id}
        )
    assert refused(url, start=start, end=end, key=foreign) == (404, "1222")
    assert ledger_sums(platform, account_id)[0] == platform.client.get(TX).json()["balance_micro"]


def test_activity_routes_need_a_session_and_declare_response_models(platform):
    assert platform.client.get(TX).status_code == 401
    for route in activity_router.routes:
        if not route.path.endswith("/export"):
            assert route.response_model is not None, route.path


LEDGER_KINDS = (
    "topup",
    "admin_credit",
    "redeem",
    "pack_purchase",
    "pack_grant",
    "hold",
    "release",
    "charge",
    "expire",
)  # tables.LedgerEntry.kind


def test_every_string_is_translated_and_the_english_ui_has_no_chinese():
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for key, (zh, en) in i18n.ENTRIES.items():
        assert zh.strip() and en.strip(), key
        assert not cjk.search(en), f"Chinese left in the English text of {key}: {en}"
    dynamic = (
        {f"tx.kind_{k}" for k in LEDGER_KINDS}
        | {f"logs.status_{s}" for s in USAGE_STATUSES}
        | {"tx.kind_recovered", "tx.kind_other", "error.generic", "error.1214_plain"}
    )
    assert dynamic <= set(i18n.ENTRIES), sorted(dynamic - set(i18n.ENTRIES))
    for page in ("transactions", "requests", "finance", "keys"):
        shipped = i18n.js_strings("en", page)
        assert "error.1113" in shipped and "common.pack_named" in shipped, page
    assert "欠费" not in i18n.STRINGS["zh"]["error.1113"]  # a ¥0 balance is not "in arrears"


def test_the_playground_embeds_through_the_console_session(platform):
    csrf = sign_in(platform, "vectors@example.com")
    body = {"model": "embedding-2", "input": ["长城", "the Great Wall"]}
    assert platform.client.post("/console/api/embeddings", json=body).status_code == 403  # CSRF
    answered = platform.client.post("/console/api/embeddings", json=body, headers=csrf)
    assert answered.status_code == 200, answered.text
    assert [len(d["embedding"]) for d in answered.json()["data"]] == [64, 64]
    unknown = platform.client.post(
        "/console/api/embeddings", headers=csrf, json={"model": "glm-4", "input": "x"}
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "1211"


def test_account_settings_show_the_tier_and_change_the_password(platform):
    csrf = sign_in(platform, "settings@example.com")
    shown = platform.client.get("/console/api/account/settings").json()
    assert shown["tier"] == "V0" and shown["limits"]["concurrency"] == shown["tiers"]["V0"]
    url = "/console/api/account/password"

    def change(old: str, new: str):
        return platform.client.post(url, headers=csrf, json={"old_password": old, "new_password": new})

    wrong = change("not-my-password-1", "Another-pass-2")  # a 400, and the session stays
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "1214")
    assert "old_password" in wrong.json()["error"]["message"]
    weak = change(PASSWORD, "short")
    assert (weak.status_code, weak.json()["error"]["code"]) == (400, "1214")
    same = change(PASSWORD, PASSWORD)
    assert same.status_code == 400
    assert platform.client.get("/console/api/account/settings").status_code == 200  # nothing changed
    assert platform.client.post(url, json={"old_password": PASSWORD, "new_password": "x"}).status_code == 403
    done = change(PASSWORD, "Another-pass-2")
    assert done.status_code == 200 and done.json() == {"changed": True, "signed_out": True}
    assert platform.client.get("/console/api/account/settings").status_code == 401  # sessions ended
    assert platform.login("settings@example.com").status_code != 200  # the old password is gone
    assert platform.login("settings@example.com", "Another-pass-2").status_code == 200
