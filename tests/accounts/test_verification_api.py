"""Real-name verification: submit → admin approve (2,000,000-token grant) or reject with a
reason; enterprise licence uploads; admins only for review (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.accounts.identity import credit_code_check_char, id_number_check_char
from openmaas.store.tables import AuditEntry, VerificationApplication
from tests.accounts.conftest import add_admin

ID_NUMBER = "11010519491231002X"
CREDIT_CODE = "91350100M000100Y43"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def applications(platform) -> list[VerificationApplication]:
    with platform.services.db.session() as session:
        return list(session.scalars(sa.select(VerificationApplication)))


def licence_files(platform) -> list:
    root = platform.services.settings.data_dir / "verification"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def apply_enterprise(platform, headers, code=CREDIT_CODE, licence=("licence.png", PNG, "image/png")):
    return platform.client.post(
        "/api/platform/verification/enterprise",
        headers=headers,
        data={"company_name": "示例科技有限公司", "credit_code": code},
        files={"licence": licence},
    )


def test_personal_application_approved_grants_two_million_tokens(platform_any_db):
    platform = platform_any_db
    admin = add_admin(platform.services)
    account_id, owner = platform.registered_key("ren@example.com")
    submitted = platform.client.post(
        "/api/platform/verification/personal",
        headers=owner,
        json={"real_name": "张三", "id_number": ID_NUMBER.lower()},
    )
    assert submitted.status_code == 201
    application = submitted.json()
    assert (application["status"], application["identifier_masked"]) == ("pending", "1101************2X")
    assert ID_NUMBER not in submitted.text
    assert (
        platform.client.get("/api/platform/account", headers=owner).json()["verification"]["status"]
        == "pending"
    )

    pending = platform.client.get("/api/platform/admin/verifications?status=pending", headers=admin.headers)
    assert [a["id"] for a in pending.json()["data"]] == [application["id"]]
    approved = platform.client.post(
        f"/api/platform/admin/verifications/{application['id']}/approve", headers=admin.headers
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    packs = platform.services.billing.balance(account_id).packs
    assert sorted(p.total_tokens for p in packs if p.source == "grant") == [1_000_000, 2_000_000]
    status = platform.client.get("/api/platform/verification", headers=owner).json()
    assert (status["status"], status["kind"]) == ("approved", "personal")
    again = platform.client.post(
        f"/api/platform/admin/verifications/{application['id']}/approve", headers=admin.headers
    )
    assert again.status_code == 400 and len(platform.services.billing.balance(account_id).packs) == 2
    resubmit = platform.client.post(
        "/api/platform/verification/personal",
        headers=owner,
        json={"real_name": "张三", "id_number": ID_NUMBER},
    )
    assert resubmit.status_code == 400 and "already verified" in resubmit.json()["error"]["message"]
    with platform.services.db.session() as session:
        entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "verification.approve"))
    assert (entry.actor_id, entry.account_id) == (admin.account_id, account_id)


def test_rejection_needs_a_reason_and_allows_a_new_application(platform_any_db):
    platform = platform_any_db
    admin = add_admin(platform.services)
    account_id, owner = platform.registered_key("rex@example.com")
    application = apply_enterprise(platform, owner).json()
    reject = f"/api/platform/admin/verifications/{application['id']}/reject"
    missing = platform.client.post(reject, headers=admin.headers, json={})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "1213"
    blank = platform.client.post(reject, headers=admin.headers, json={"reason": "   "})
    assert blank.status_code == 400 and blank.json()["error"]["code"] == "1213"
    rejected = platform.client.post(reject, headers=admin.headers, json={"reason": "licence unreadable"})
    assert rejected.json()["status"] == "rejected"
    status = platform.client.get("/api/platform/verification", headers=owner).json()
    assert (status["status"], status["reject_reason"]) == ("rejected", "licence unreadable")
    assert len(platform.services.billing.balance(account_id).packs) == 1  # no grant
    assert (
        platform.client.post(
            "/api/platform/verification/personal",
            headers=owner,
            json={"real_name": "R", "id_number": ID_NUMBER},
        ).status_code
        == 201
    )


def test_enterprise_licence_is_stored_and_shown_to_admins_only(platform):
    admin = add_admin(platform.services)
    _, owner = platform.registered_key("ent@example.com")
    application = apply_enterprise(platform, owner)
    assert application.status_code == 201 and application.json()["has_licence"]
    path = f"/api/platform/admin/verifications/{application.json()['id']}/licence"
    licence = platform.client.get(path, headers=admin.headers)
    assert (licence.content, licence.headers["content-type"]) == (PNG, "image/png")
    assert platform.client.get(path, headers=owner).status_code == 403


def test_bad_applications_name_the_field_and_leave_no_rows_or_files(platform):
    _, owner = platform.registered_key("bad@example.com")
    wrong_check = ID_NUMBER[:17] + ("1" if ID_NUMBER[17] != "1" else "2")
    cases = [
        (
            platform.client.post(
                "/api/platform/verification/personal",
                headers=owner,
                json={"real_name": "李四", "id_number": wrong_check},
            ),
            "1214",
            "id_number",
        ),
        (
            platform.client.post(
                "/api/platform/verification/personal",
                headers=owner,
                json={"real_name": "李四", "id_number": "110105194913310021"},
            ),
            "1214",
            "id_number",
        ),
        (
            platform.client.post(
                "/api/platform/verification/personal", headers=owner, json={"id_number": ID_NUMBER}
            ),
            "1213",
            "real_name",
        ),
        (apply_enterprise(platform, owner, code=CREDIT_CODE[:17] + "0"), "1214", "credit_code"),
        (apply_enterprise(platform, owner, licence=("x.png", b"GIF89a....", "image/png")), "1214", "licence"),
        (
            apply_enterprise(platform, owner, licence=("x.png", PNG + b"\0" * 5 * 1024 * 1024, "image/png")),
            "1214",
            "licence",
        ),
        (
            platform.client.post(
                "/api/platform/verification/enterprise",
                headers=owner,
                data={"company_name": "X", "credit_code": CREDIT_CODE},
            ),
            "1213",
            "licence",
        ),
    ]
    for response, code, field in cases:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == code and field in response.json()["error"]["message"]
    assert applications(platform) == [] and licence_files(platform) == []


def test_a_second_pending_application_is_refused_and_its_licence_removed(platform):
    _, owner = platform.registered_key("two@example.com")
    assert apply_enterprise(platform, owner).status_code == 201
    second = apply_enterprise(platform, owner)
    assert second.status_code == 400 and "already waiting" in second.json()["error"]["message"]
    assert len(applications(platform)) == 1 and len(licence_files(platform)) == 1


def test_review_endpoints_are_for_admins_only(platform):
    _, owner = platform.registered_key("usr@example.com")
    for method, path in (
        ("GET", "/api/platform/admin/verifications"),
        ("POST", "/api/platform/admin/verifications/x/approve"),
        ("GET", "/api/platform/admin/users"),
        ("GET", "/api/platform/admin/audit"),
    ):
        response = platform.client.request(method, path, headers=owner)
        assert response.status_code == 403 and response.json()["error"]["code"] == "1220", path


def test_checksums_match_published_examples():
    assert id_number_check_char(ID_NUMBER[:17]) == "X"
    assert credit_code_check_char(CREDIT_CODE[:17]) == "3"
