"""Administration: user listing, tier changes (audited), the audit log."""

from __future__ import annotations

from tests.accounts.conftest import add_admin


def test_admin_lists_users_and_changes_a_tier_with_an_audit_entry(platform):
    admin = add_admin(platform.services)
    account_id, owner = platform.registered_key("tia@example.com")
    users = platform.client.get("/api/platform/admin/users?q=tia", headers=admin.headers).json()
    assert users["count"] == 1 and users["data"][0]["id"] == account_id
    assert users["data"][0]["verification"]["status"] == "unverified"

    changed = platform.client.put(
        f"/api/platform/admin/users/{account_id}/tier", json={"tier": "V2"}, headers=admin.headers
    )
    assert changed.status_code == 200 and changed.json()["tier"] == "V2"
    assert platform.client.get("/api/platform/account", headers=owner).json()["tier"] == "V2"

    audit = platform.client.get(
        f"/api/platform/admin/audit?account_id={account_id}&action=account.set_tier", headers=admin.headers
    ).json()["data"]
    assert [(e["actor_id"], e["details"]) for e in audit] == [
        (admin.account_id, {"previous": "V0", "tier": "V2"})
    ]


def test_bad_tier_paging_and_unknown_user_are_clear_errors(platform):
    admin = add_admin(platform.services)
    bad_tier = platform.client.put(
        "/api/platform/admin/users/acct_x/tier", json={"tier": "V9"}, headers=admin.headers
    )
    assert bad_tier.status_code == 400 and bad_tier.json()["error"]["code"] == "1214"
    assert "tier" in bad_tier.json()["error"]["message"]
    unknown = platform.client.put(
        "/api/platform/admin/users/acct_x/tier", json={"tier": "V1"}, headers=admin.headers
    )
    assert unknown.status_code == 404
    paging = platform.client.get("/api/platform/admin/users?limit=0", headers=admin.headers)
    assert paging.status_code == 400 and "limit" in paging.json()["error"]["message"]


def test_cookie_session_admin_can_act_with_csrf(platform):
    admin = add_admin(platform.services, "boss")
    platform.services.accounts.directory.set_password(None, admin.account_id, "boss-pass-123")
    assert platform.login("boss@example.com", "boss-pass-123").status_code == 200
    account_id, _ = platform.registered_key("sub@example.com")
    path = f"/api/platform/admin/users/{account_id}/tier"
    assert platform.client.put(path, json={"tier": "V1"}).status_code == 403
    assert platform.client.put(path, json={"tier": "V1"}, headers=platform.csrf()).status_code == 200
