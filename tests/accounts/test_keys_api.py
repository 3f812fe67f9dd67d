"""API keys through the platform API: many named keys, delete, rotation, audit, tenancy
(SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.store.tables import ApiKey, AuditEntry


def audit_actions(platform, account_id: str) -> list[tuple[str, dict]]:
    with platform.services.db.session() as session:
        rows = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.account_id == account_id).order_by(AuditEntry.id)
        )
        return [(r.action, r.details) for r in rows]


def test_named_keys_are_created_listed_and_deleted(platform_any_db):
    platform = platform_any_db
    account_id, owner = platform.registered_key("kim@example.com")
    created = [
        platform.client.post("/api/platform/keys", json={"name": f"app {n}"}, headers=owner) for n in range(3)
    ]
    assert [r.status_code for r in created] == [201] * 3
    first = created[0].json()
    assert first["api_key"].startswith(first["id"] + ".") and first["name"] == "app 0"

    listed = platform.client.get("/api/platform/keys", headers=owner).json()
    assert listed["count"] == 4  # the bearer's own key plus three
    shown = {k["id"]: k for k in listed["data"]}[first["id"]]
    assert shown["secret_hint"] == "…" + first["api_key"][-4:] and "api_key" not in shown
    assert shown["last_used_at"] is None

    assert platform.client.delete(f"/api/platform/keys/{first['id']}", headers=owner).status_code == 200
    assert platform.client.get("/api/platform/keys", headers=owner).json()["count"] == 3
    with_revoked = platform.client.get("/api/platform/keys?include_revoked=true", headers=owner).json()
    assert with_revoked["count"] == 4
    again = platform.client.delete(f"/api/platform/keys/{first['id']}", headers=owner)
    assert again.status_code == 404 and again.json()["error"]["code"] == "1222"
    refused = platform.client.get(
        "/api/platform/account", headers={"Authorization": f"Bearer {first['api_key']}"}
    )
    assert refused.status_code == 401
    actions = [a for a, _ in audit_actions(platform, account_id)]
    assert actions.count("api_key.create") == 3 and actions.count("api_key.delete") == 1


def test_rotation_replaces_the_key_under_the_same_name_and_is_audited(platform_any_db):
    platform = platform_any_db
    account_id, owner = platform.registered_key("lee@example.com")
    # a manage-scope key, so that the rotated one can read the account below (scope is kept)
    old = platform.client.post(
        "/api/platform/keys", json={"name": "leaked", "scope": "manage"}, headers=owner
    ).json()
    rotated = platform.client.post(f"/api/platform/keys/{old['id']}/rotate", headers=owner)
    assert rotated.status_code == 200
    new = rotated.json()
    assert (new["name"], new["replaces"]) == ("leaked", old["id"]) and new["id"] != old["id"]
    for key, status in ((old["api_key"], 401), (new["api_key"], 200)):
        response = platform.client.get("/api/platform/account", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == status
    assert (
        "api_key.rotate",
        {"old_key_id": old["id"], "new_key_id": new["id"], "name": "leaked"},
    ) in audit_actions(platform, account_id)
    twice = platform.client.post(f"/api/platform/keys/{old['id']}/rotate", headers=owner)
    assert twice.status_code == 404


def test_another_accounts_key_is_404_and_stays_untouched(platform_any_db):
    platform = platform_any_db
    _, alice = platform.registered_key("alice@example.com")
    bob_id, bob = platform.registered_key("bob@example.com")
    bobs_key = platform.client.post("/api/platform/keys", json={"name": "bob's"}, headers=bob).json()
    for method, path in (
        ("DELETE", f"/api/platform/keys/{bobs_key['id']}"),
        ("POST", f"/api/platform/keys/{bobs_key['id']}/rotate"),
        ("DELETE", "/api/platform/keys/no-such-key"),
    ):
        response = platform.client.request(method, path, headers=alice)
        assert response.status_code == 404 and response.json()["error"]["code"] == "1222"
    with platform.services.db.session() as session:
        assert session.get(ApiKey, bobs_key["id"]).revoked_at is None
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.account_id == bob_id))
            == 2
        )
    assert bobs_key["id"] not in {
        k["id"] for k in platform.client.get("/api/platform/keys", headers=alice).json()["data"]
    }


def test_key_name_over_200_characters_is_1214(platform):
    _, owner = platform.registered_key("max@example.com")
    response = platform.client.post("/api/platform/keys", json={"name": "n" * 201}, headers=owner)
    assert response.status_code == 400 and response.json()["error"]["code"] == "1214"
    assert "name" in response.json()["error"]["message"]
