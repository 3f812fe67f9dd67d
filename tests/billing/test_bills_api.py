"""Bills, histories, exports and money actions through the platform API (in-process)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import orjson

from openmaas.billing.bills import Bills
from openmaas.store.tables import UsageRollup

CHAT = "/api/paas/v4/chat/completions"
BILLING = "/api/platform/billing"


def cash_only_tenant(harness, micro: int) -> dict:
    from openmaas.auth.accounts import create_account
    from openmaas.auth.keys import issue_key

    services = harness.services
    with services.db.session() as session:
        account = create_account(session, "cash payer")
        key = issue_key(session, services.sealer, account.id)
    services.billing.admin_credit("admin", account.id, micro, "test funds")
    return {"Authorization": f"Bearer {key.api_key}"}


def chat(harness, headers, text="one two three"):
    harness.fake_engine().enqueue(text)
    body = {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}
    response = harness.client.post(CHAT, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["usage"]


def flush(harness):
    harness.client.portal.call(harness.services.usage.flush)


def test_monthly_and_daily_bills_match_usage(harness):
    headers = cash_only_tenant(harness, 10_000_000)
    usages = [chat(harness, headers, "a b c d") for _ in range(3)]
    flush(harness)
    tokens = sum(u["total_tokens"] for u in usages)
    expected_cost = sum(-(-u["total_tokens"] * 100_000 // 1000) for u in usages)
    month = datetime.now(UTC) + timedelta(hours=8)
    bill = harness.client.get(
        f"{BILLING}/bills/monthly", params={"month": month.strftime("%Y-%m")}, headers=headers
    ).json()
    [line] = bill["data"]
    assert line["model"] == "glm-4" and line["requests"] == 3
    assert line["prompt_tokens"] + line["completion_tokens"] == tokens
    assert line["cost_micro"] == expected_cost == bill["total"]["micro"]
    today = month.date()
    daily = harness.client.get(
        f"{BILLING}/bills/daily",
        headers=headers,
        params={"start": str(today - timedelta(days=1)), "end": str(today)},
    ).json()
    assert [d["requests"] for d in daily["data"]] == [3]
    balance = harness.client.get(f"{BILLING}/balance", headers=headers).json()
    assert balance["cash"]["micro"] == 10_000_000 - expected_cost
    assert balance["held"]["micro"] == 0


def test_export_csv_and_json(harness):
    headers = cash_only_tenant(harness, 10_000_000)
    for _ in range(2):
        chat(harness, headers)
    flush(harness)
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    params = {"start": str(today), "end": str(today)}
    text = harness.client.get(f"{BILLING}/export", params=params | {"format": "csv"}, headers=headers).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 and {r["model"] for r in rows} == {"glm-4"}
    assert all(int(r["cost_micro"]) > 0 for r in rows)
    data = orjson.loads(
        harness.client.get(f"{BILLING}/export", params=params | {"format": "json"}, headers=headers).content
    )
    assert [d["request_id"] for d in data] == [r["request_id"] for r in rows]
    detail = harness.client.get(f"{BILLING}/usage", params=params | {"limit": 1}, headers=headers).json()
    assert detail["data"] == [data[0]]  # the same fields, read from the same pages


def test_days_follow_beijing_time(harness):
    services = harness.services
    with services.db.session() as session:
        for hour in (15, 16):  # 23:00 and 00:00 Beijing
            session.add(
                UsageRollup(
                    account_id="acct-x",
                    model="glm-4",
                    requests=1,
                    prompt_tokens=1,
                    completion_tokens=1,
                    cost_micro=7,
                    hour=datetime(2026, 3, 1, hour, tzinfo=UTC),
                )
            )
    lines = Bills(services.db, 8).daily("acct-x", date(2026, 3, 1), date(2026, 3, 2))
    assert [(line.period, line.requests) for line in lines] == [("2026-03-01", 1), ("2026-03-02", 1)]


def test_topup_pack_purchase_alerts_and_histories(harness):
    headers = harness.tenant.manage_headers  # billing actions: a manage key (or the console)
    [code] = harness.services.billing.create_redemption_codes("admin", 120_000_000, 1)
    response = harness.client.post(f"{BILLING}/redeem", json={"code": code}, headers=headers)
    assert response.json()["credited"]["yuan"] == "120.00"
    again = harness.client.post(f"{BILLING}/redeem", json={"code": code}, headers=headers)
    assert again.status_code == 400 and again.json()["error"]["code"] == "1214"
    offers = harness.client.get(f"{BILLING}/offers", headers=headers).json()["data"]
    assert {"general-180m", "glm4-10m"} <= {o["id"] for o in offers}
    bought = harness.client.post(f"{BILLING}/packs", json={"offer_id": "general-180m"}, headers=headers)
    assert bought.status_code == 200
    forged = harness.client.post(f"{BILLING}/packs", json={"offer_id": "pack_forged"}, headers=headers)
    assert forged.status_code == 404
    history = harness.client.get(f"{BILLING}/packs/history", headers=headers).json()["data"]
    assert sorted(p["source"] for p in history) == ["grant", "purchase"]
    recharges = harness.client.get(f"{BILLING}/recharges", headers=headers).json()["data"]
    assert [r["kind"] for r in recharges] == ["redeem"]
    alert = harness.client.put(f"{BILLING}/alerts", json={"threshold_yuan": "50"}, headers=headers)
    assert alert.status_code == 200
    notes = harness.client.get(f"{BILLING}/notifications", headers=headers).json()["data"]
    assert [n["kind"] for n in notes] == ["balance_alert"]  # 21 元 left < 50 元
    balance = harness.client.get(f"{BILLING}/balance", headers=headers).json()
    assert balance["cash"]["yuan"] == "21.00" and len(balance["packs"]) == 2


def test_bad_billing_input_is_a_clear_4xx(harness):
    headers = harness.tenant.manage_headers
    cases = [
        ("put", "/alerts", {"json": {"threshold_yuan": "-5"}}, 400),
        ("put", "/alerts", {"json": {"threshold_yuan": "1.0000001"}}, 400),
        ("put", "/alerts", {"json": {"pack_tokens": -1}}, 400),
        ("get", "/bills/monthly", {"params": {"month": "2026-13"}}, 400),
        ("get", "/bills/daily", {"params": {"start": "2026-02-01", "end": "2026-01-01"}}, 400),
        ("get", "/export", {"params": {"start": "2026-01-01", "end": "2026-01-02", "format": "xml"}}, 400),
        ("post", "/redeem", {"json": {"code": 12}}, 400),
    ]
    for method, path, kwargs, status in cases:
        response = getattr(harness.client, method)(f"{BILLING}{path}", headers=headers, **kwargs)
        assert response.status_code == status, (path, kwargs, response.text)
        assert response.json()["error"]["code"] in ("1213", "1214")
    assert harness.client.get(f"{BILLING}/balance").status_code == 401
