"""Sign-up codes, registration, console login with cookies, CSRF, logout (in-process app)."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from openmaas.config import AccountsConfig
from openmaas.store.tables import Account, ConsoleSession, VerificationCode, utcnow
from tests.accounts.conftest import PASSWORD, Platform, account_settings, open_platform


def error(response) -> dict:
    return response.json()["error"]


def count(platform: Platform, table) -> int:
    with platform.services.db.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(table))


# --- registration ---------------------------------------------------------------------------
def test_registration_grants_a_million_tokens_and_reports_the_account(platform):
    account = platform.register("Ann@Example.com", name="Ann")
    assert (account["email"], account["name"], account["tier"]) == ("ann@example.com", "Ann", "V0")
    assert account["verification"]["status"] == "unverified"
    packs = platform.services.billing.balance(account["id"]).packs
    assert [(p.source, p.total_tokens) for p in packs] == [("grant", 1_000_000)]


def test_registration_by_phone_normalises_the_number(platform):
    assert platform.send_code("+86 138-0013-8000", channel="phone").status_code == 200
    code = platform.notifier.last_code("13800138000")
    response = platform.client.post(
        "/api/platform/auth/register",
        json={"phone": "13800138000", "code": code, "password": PASSWORD, "name": "Phone"},
    )
    assert response.status_code == 201 and response.json()["phone"] == "13800138000"
    assert platform.login("+8613800138000").status_code == 200


def test_wrong_code_is_refused_counted_and_writes_no_account(platform):
    platform.send_code("bob@example.com")
    response = platform.client.post(
        "/api/platform/auth/register",
        json={"email": "bob@example.com", "code": "000000x", "password": PASSWORD, "name": "Bob"},
    )
    assert response.status_code == 400 and error(response)["code"] == "1214"
    assert "code" in error(response)["message"]
    assert count(platform, Account) == 0
    with platform.services.db.session() as session:
        assert session.scalar(sa.select(VerificationCode.attempts)) == 1


def test_bad_inputs_name_the_field_and_write_nothing(platform):
    platform.send_code("carol@example.com")
    code = platform.notifier.last_code("carol@example.com")
    cases = [
        ({"email": "carol@example.com", "password": PASSWORD, "name": "C"}, "1213", "code"),
        ({"email": "not-an-email", "code": code, "password": PASSWORD, "name": "C"}, "1214", "email"),
        ({"email": "carol@example.com", "code": code, "password": "short", "name": "C"}, "1214", "password"),
        ({"code": code, "password": PASSWORD, "name": "C"}, "1213", "email"),
        ({"email": "carol@example.com", "code": code, "password": PASSWORD}, "1213", "name"),
    ]
    for body, code_expected, field in cases:
        response = platform.client.post("/api/platform/auth/register", json=body)
        assert response.status_code == 400, body
        assert (error(response)["code"], field in error(response)["message"]) == (code_expected, True)
    assert count(platform, Account) == 0
    assert (
        platform.client.post(
            "/api/platform/auth/register",
            json={"email": "carol@example.com", "code": code, "password": PASSWORD, "name": "C"},
        ).status_code
        == 201
    )


def test_a_code_is_single_use_and_an_address_registers_once(platform):
    platform.register("dan@example.com")
    code = platform.notifier.last_code("dan@example.com")
    again = platform.client.post(
        "/api/platform/auth/register",
        json={"email": "dan@example.com", "code": code, "password": PASSWORD, "name": "Dan"},
    )
    assert again.status_code == 400 and error(again)["code"] == "1214"
    resend = platform.send_code("dan@example.com")
    # /codes no longer tells who is registered (security review finding 13): the refusal
    # comes at registration, to whoever holds the mailbox's code
    assert "already registered" not in resend.text


def test_sending_codes_too_often_is_429_1303_with_retry_after(platform):
    assert platform.send_code("eve@example.com").status_code == 200
    response = platform.send_code("eve@example.com")
    assert response.status_code == 429 and error(response)["code"] == "1303"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert len(platform.notifier.to("eve@example.com")) == 1
    assert platform.send_code("other@example.com").status_code == 200  # per target


def test_bad_channel_is_1214(platform):
    response = platform.client.post("/api/platform/auth/codes", json={"channel": "fax", "target": "1"})
    assert response.status_code == 400 and error(response)["code"] == "1214"


# --- login, cookies, CSRF -------------------------------------------------------------------
def test_login_sets_a_secure_httponly_lax_session_cookie(make_settings):
    assert AccountsConfig().cookie_secure  # the default; tests over plain http turn it off
    with open_platform(account_settings(make_settings, {"cookie_secure": True})) as secure_platform:
        secure_platform.register("sec@example.com")
        response = secure_platform.login("sec@example.com")
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("openmaas_session=")).lower()
    csrf = next(c for c in cookies if c.startswith("openmaas_csrf=")).lower()
    for flag in ("secure", "httponly", "samesite=lax", "path=/"):
        assert flag in session, (flag, session)
    assert 86_000 < int(re.search(r"max-age=(\d+)", session).group(1)) <= 86_400  # 24 h
    assert "httponly" not in csrf and "secure" in csrf and "samesite=lax" in csrf


def test_cookie_session_reads_the_account_and_needs_csrf_for_writes(platform):
    account = platform.register("fay@example.com", name="Fay")
    login = platform.login("FAY@example.com")
    assert login.status_code == 200 and login.json()["account"]["id"] == account["id"]
    assert login.json()["csrf_token"] == platform.client.cookies["openmaas_csrf"]
    assert platform.client.get("/api/platform/account").json()["name"] == "Fay"

    refused = platform.client.post("/api/platform/keys", json={"name": "x"})
    assert refused.status_code == 403 and error(refused)["code"] == "1220"
    forged = platform.client.post(
        "/api/platform/keys", json={"name": "x"}, headers={"X-CSRF-Token": "forged"}
    )
    assert forged.status_code == 403
    assert platform.client.get("/api/platform/keys").json()["count"] == 0  # nothing was written
    created = platform.client.post("/api/platform/keys", json={"name": "x"}, headers=platform.csrf())
    assert created.status_code == 201


def test_wrong_password_and_unknown_login_are_the_same_401(platform):
    platform.register("gus@example.com")
    for login, password in (("gus@example.com", "wrong-pass-1"), ("nobody@example.com", PASSWORD)):
        response = platform.login(login, password)
        assert response.status_code == 401 and error(response)["code"] == "1000"
        assert "openmaas_session" not in response.headers.get("set-cookie", "")


def test_logout_ends_the_session_server_side(platform):
    platform.register("hal@example.com")
    platform.login("hal@example.com")
    token = platform.client.cookies["openmaas_session"]
    assert platform.client.post("/api/platform/auth/logout", headers=platform.csrf()).status_code == 200
    assert count(platform, ConsoleSession) == 0
    assert "openmaas_session" not in platform.client.cookies  # the response cleared it
    platform.client.cookies.set("openmaas_session", token)  # a stolen copy is worthless now
    replay = platform.client.get("/api/platform/account")
    assert replay.status_code == 401 and error(replay)["code"] == "1002"


def test_an_expired_session_is_401_1003(platform):
    platform.register("ida@example.com")
    platform.login("ida@example.com")
    with platform.services.db.session() as session:
        session.execute(sa.update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = platform.client.get("/api/platform/account")
    assert response.status_code == 401 and error(response)["code"] == "1003"


def test_no_credentials_is_401_1001(platform):
    response = platform.client.get("/api/platform/account")
    assert response.status_code == 401 and error(response)["code"] == "1001"
