"""Security review finding 12: API keys were all-powerful. An ordinary (inference) key could
mint, rotate and delete the account's keys (surviving its own revocation), and any key of an
admin account — the bootstrap key included — was a full admin credential.

Now keys carry a scope: `inference` (default) calls the model APIs only; `manage` also manages
keys, the account and billing actions; `admin` (administrators only) also the admin routes.
A console session may do what its account may do. Each test fails on 99cbb66."""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.store.tables import ApiKey
from tests.accounts.conftest import account_settings, add_admin, open_platform


def key_headers(platform, account_id: str, scope: str = "inference") -> dict[str, str]:
    with platform.services.db.session() as session:
        key = issue_key(session, platform.services.sealer, account_id, scope, scope)
    return {"Authorization": f"Bearer {key.api_key}"}


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_an_inference_key_cannot_manage_keys_account_or_billing(platform):
    account_id = platform.register("inf@example.com")["id"]
    inference = key_headers(platform, account_id)
    for method, path, body in (
        ("POST", "/api/platform/keys", {"name": "persist"}),
        ("GET", "/api/platform/keys", None),
        ("GET", "/api/platform/account", None),
        ("POST", "/api/platform/billing/redeem", {"code": "abcd-efgh"}),
        ("POST", "/api/platform/billing/packs", {"offer_id": "general-180m"}),
        ("PUT", "/api/platform/billing/alerts", {"threshold_yuan": "5"}),
        (
            "POST",
            "/api/platform/verification/personal",
            {"real_name": "张三", "id_number": "11010519491231002X"},
        ),
    ):
        response = platform.client.request(method, path, json=body, headers=inference)
        assert response.status_code == 403 and error_code(response) == "1220", (path, response.text)
    with platform.services.db.session() as session:  # nothing was minted
        assert session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1
    chat = platform.client.get("/api/paas/v4/models", headers=inference)
    assert chat.status_code == 200  # the model APIs stay open to it


def test_an_inference_key_cannot_rotate_or_delete_the_owners_other_keys(platform):
    account_id = platform.register("rot@example.com")["id"]
    inference = key_headers(platform, account_id)
    manage = key_headers(platform, account_id, "manage")
    other = platform.client.post("/api/platform/keys", json={"name": "prod"}, headers=manage).json()
    for method, path in (
        ("POST", f"/api/platform/keys/{other['id']}/rotate"),
        ("DELETE", f"/api/platform/keys/{other['id']}"),
    ):
        assert platform.client.request(method, path, headers=inference).status_code == 403
    listed = platform.client.get("/api/platform/keys", headers=manage).json()["data"]
    assert other["id"] in {k["id"] for k in listed}


def test_an_admin_accounts_inference_key_is_not_an_admin_credential(platform):
    admin = add_admin(platform.services)
    inference = key_headers(platform, admin.account_id)
    victim = platform.register("victim@example.com")["id"]
    for method, path, body in (
        (
            "POST",
            f"/api/platform/admin/billing/accounts/{victim}/credit",
            {"amount_yuan": "1000000", "reason": "an api key can mint money"},
        ),
        ("POST", "/api/platform/admin/billing/redemption-codes", {"amount_yuan": "5"}),
        ("GET", "/api/platform/admin/users", None),
        ("PUT", f"/api/platform/admin/users/{victim}/tier", {"tier": "V3"}),
    ):
        response = platform.client.request(method, path, json=body, headers=inference)
        assert response.status_code == 403 and error_code(response) == "1220", path
    assert platform.services.billing.balance(victim).cash_micro == 0
    allowed = platform.client.get("/api/platform/admin/users", headers=admin.headers)  # admin scope
    assert allowed.status_code == 200


def test_a_key_never_grants_more_than_it_holds(platform):
    account_id = platform.register("grant@example.com")["id"]
    manage = key_headers(platform, account_id, "manage")
    made = platform.client.post("/api/platform/keys", json={"name": "m2", "scope": "manage"}, headers=manage)
    assert made.status_code == 201 and made.json()["scope"] == "manage"
    inference = platform.client.post("/api/platform/keys", json={"name": "i"}, headers=manage).json()
    assert inference["scope"] == "inference"
    refused = platform.client.post("/api/platform/keys", json={"name": "a", "scope": "admin"}, headers=manage)
    assert refused.status_code == 403 and error_code(refused) == "1220"
    bad = platform.client.post("/api/platform/keys", json={"name": "x", "scope": "root"}, headers=manage)
    assert bad.status_code == 400
    # an admin-scope key may create an admin key; a plain account's console session may not
    admin = add_admin(platform.services)
    admin_key = platform.client.post("/api/platform/keys", json={"scope": "admin"}, headers=admin.headers)
    assert admin_key.status_code == 201 and admin_key.json()["scope"] == "admin"
    platform.login("grant@example.com")
    own = platform.client.post("/api/platform/keys", json={"scope": "admin"}, headers=platform.csrf())
    assert own.status_code == 403


def test_rotation_keeps_the_scope(platform):
    account_id = platform.register("keep@example.com")["id"]
    manage = key_headers(platform, account_id, "manage")
    old = platform.client.post("/api/platform/keys", json={"scope": "manage"}, headers=manage).json()
    rotated = platform.client.post(f"/api/platform/keys/{old['id']}/rotate", headers=manage).json()
    assert rotated["scope"] == "manage"
    keys = platform.client.get("/api/platform/keys", headers=manage).json()["data"]
    listed = {k["id"]: k["scope"] for k in keys}
    assert listed[rotated["id"]] == "manage"


def test_the_key_count_per_account_is_capped_with_1214(make_settings, database_url):
    settings = account_settings(make_settings, {"max_keys_per_account": 3}, database_url=database_url)
    with open_platform(settings) as platform:
        account_id = platform.register("cap@example.com")["id"]
        manage = key_headers(platform, account_id, "manage")  # live key 1
        for n in (2, 3):
            assert (
                platform.client.post("/api/platform/keys", json={"name": f"k{n}"}, headers=manage).status_code
                == 201
            )
        over = platform.client.post("/api/platform/keys", json={"name": "k4"}, headers=manage)
        assert over.status_code == 400 and error_code(over) == "1214"
        assert "api_key" in over.json()["error"]["message"]
        listed = platform.client.get("/api/platform/keys", headers=manage).json()
        assert listed["count"] == 3  # nothing half-written
        platform.client.delete(f"/api/platform/keys/{listed['data'][-1]['id']}", headers=manage)
        assert (
            platform.client.post("/api/platform/keys", json={"name": "k4"}, headers=manage).status_code == 201
        )


def test_the_bootstrap_key_is_an_inference_key(make_settings, capsys):
    from openmaas.cli import _bootstrap_first_account
    from openmaas.store import migrate
    from openmaas.store.db import Database

    settings = make_settings()
    db = Database(settings.resolved_database_url)
    migrate.upgrade(db.engine)
    try:
        _bootstrap_first_account(db, settings)
        with db.session() as session:
            assert session.scalars(sa.select(ApiKey.scope)).all() == ["inference"]
    finally:
        db.dispose()
    assert "users set-password" in capsys.readouterr().out


def test_cli_made_accounts_keys_default_to_inference(platform):
    with platform.services.db.session() as session:
        account = create_account(session, "cli")
        key = issue_key(session, platform.services.sealer, account.id)
    assert key.scope == "inference"
