"""Admin money actions over HTTP: prices (with history), redemption codes, credits; all audited."""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.store.tables import AuditEntry

ADMIN = "/api/platform/admin/billing"


def admin_headers(harness) -> dict:
    with harness.services.db.session() as session:
        admin = create_account(session, "root", is_admin=True)
        key = issue_key(session, harness.services.sealer, admin.id, scope="admin")
    return {"Authorization": f"Bearer {key.api_key}"}


def test_non_admins_are_refused(harness):
    response = harness.client.post(
        f"{ADMIN}/redemption-codes", json={"amount_yuan": "5"}, headers=harness.tenant.headers
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "1220"


def test_price_change_applies_to_the_next_request_and_keeps_history(harness):
    headers = admin_headers(harness)
    response = harness.client.put(
        f"{ADMIN}/prices/glm-4", headers=headers, json={"input_per_1k": "0.2", "output_per_1k": "0.4"}
    )
    assert response.status_code == 200, response.text
    history = harness.client.get(f"{ADMIN}/prices", params={"model": "glm-4"}, headers=headers).json()
    assert [h["input_per_1k"]["yuan"] for h in history["data"]] == ["0.10", "0.20"]
    services = harness.services
    assert services.billing.price_of("glm-4", "fake-chat").output_per_1k == 400_000
    bad = harness.client.put(f"{ADMIN}/prices/glm-4", headers=headers, json={"input_per_1k": "-1"})
    assert bad.status_code == 400
    assert services.billing.price_of("glm-4", "fake-chat").input_per_1k == 200_000


def test_codes_and_credits(harness):
    headers = admin_headers(harness)
    codes = harness.client.post(
        f"{ADMIN}/redemption-codes", json={"amount_yuan": "8.8", "count": 3}, headers=headers
    ).json()
    assert len(codes["codes"]) == 3 and codes["amount"]["micro"] == 8_800_000
    target = harness.tenant.account_id
    ok = harness.client.post(
        f"{ADMIN}/accounts/{target}/credit",
        headers=headers,
        json={"amount_yuan": "10", "reason": "compensation for outage"},
    )
    assert ok.status_code == 200
    assert harness.services.billing.balance(target).cash_micro == 10_000_000
    bad_bodies = (
        {"amount_yuan": "0", "reason": "x"},
        {"amount_yuan": "abc", "reason": "x"},
        {"amount_yuan": "1"},
    )
    for body in bad_bodies:
        assert (
            harness.client.post(f"{ADMIN}/accounts/{target}/credit", json=body, headers=headers).status_code
            == 400
        )
    forged = harness.client.post(
        f"{ADMIN}/accounts/acct_nope/credit", headers=headers, json={"amount_yuan": "1", "reason": "x"}
    )
    assert forged.status_code == 404
    assert harness.services.billing.balance(target).cash_micro == 10_000_000
    with harness.services.db.session() as session:
        actions = set(session.scalars(sa.select(AuditEntry.action)))
    assert {"redemption_codes.create", "balance.admin_credit"} <= actions
