"""Security review finding 13: registration and grant farming. `a+1@x.com`, `a+2@x.com`, ...
were distinct accounts each with the 1 M-token grant; `/codes` answered "already registered"
(account enumeration); the real-name grant could be claimed again with the same ID number.

Now: `/codes` answers the same for a registered address (which gets a notice, no code); the
registration grant is paid once per canonical mailbox (plus-tags and dots dropped); the
real-name grant once per ID number. Each test fails on 99cbb66."""

from __future__ import annotations

from openmaas.accounts.grant_claims import canonical_email
from tests.accounts.conftest import account_settings, add_admin, open_platform

ID_NUMBER = "11010519491231002X"


def grants(platform, account_id: str) -> list[int]:
    return sorted(
        p.total_tokens for p in platform.services.billing.balance(account_id).packs if p.source == "grant"
    )


def test_codes_does_not_tell_who_is_registered(make_settings):
    with open_platform(account_settings(make_settings, {"code_sends_per_minute": 100})) as platform:
        platform.register("known@example.com")
        known = platform.send_code("known@example.com")
        unknown = platform.send_code("fresh@example.com")
        assert known.status_code == unknown.status_code == 200, known.text
        assert known.json() == unknown.json()
        notice = platform.notifier.to("known@example.com")[-1]
        assert "already has an OpenMaaS account" in notice.body
        assert not any(ch.isdigit() for ch in notice.body)  # no code for a second account


def test_plus_addresses_and_dots_get_one_registration_grant(platform_any_db):
    platform = platform_any_db
    first = platform.register("farmer@example.com")
    tagged = platform.register("farmer+1@example.com")
    dotted = platform.register("f.a.r.m.e.r+2@example.com")
    assert grants(platform, first["id"]) == [1_000_000]
    assert grants(platform, tagged["id"]) == []
    assert grants(platform, dotted["id"]) == []
    other = platform.register("someone.else@example.com")
    assert grants(platform, other["id"]) == [1_000_000]


def test_canonical_email_forms():
    assert canonical_email("A.B+promo@GMail.com") == "ab@gmail.com"
    assert canonical_email("ab@googlemail.com") == "ab@gmail.com"
    assert canonical_email("plain@example.org") == "plain@example.org"


def test_the_real_name_grant_is_paid_once_per_id_number(platform_any_db):
    platform = platform_any_db
    admin = add_admin(platform.services)
    paid = []
    for n, id_number in enumerate((ID_NUMBER, ID_NUMBER.lower(), f" {ID_NUMBER} ")):
        account_id, owner = platform.registered_key(f"real{n}@example.org")
        submitted = platform.client.post(
            "/api/platform/verification/personal",
            headers=owner,
            json={"real_name": "张三", "id_number": id_number},
        )
        assert submitted.status_code == 201, submitted.text
        approved = platform.client.post(
            f"/api/platform/admin/verifications/{submitted.json()['id']}/approve", headers=admin.headers
        )
        assert approved.status_code == 200
        paid.append(2_000_000 in grants(platform, account_id))
    assert paid == [True, False, False]
