"""Per-key limits, account recovery and the request detail without a browser (in-process app,
fake engines): budgets, RPM and expiry are enforced; bad input is a clear 4xx that changes
nothing; a forgotten password and a new email go through codes; other sessions end; the
request detail shows the usage row, the retrieval trace and (opted in) the bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.observability.request_bodies import BodyStore
from openmaas.store.tables import ApiKey, RequestBody, RetrievalTrace, UsageRecord, VerificationCode
from tests.accounts.conftest import PASSWORD, Platform, account_settings, add_admin, open_platform
from tests.sdk._support import usage_rows, wait_for
from tests.web.test_console_pages import sign_in

KEYS = "/api/platform/keys"
SETTINGS = "/console/api/account/settings"
LOG = "/console/api/activity/requests"


@pytest.fixture
def platform(make_settings) -> Iterator[Platform]:
    with open_platform(account_settings(make_settings)) as opened:
        yield opened


def future(days: float = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def key_row(platform: Platform, key_id: str) -> ApiKey:
    with platform.services.db.session() as session:
        return session.get(ApiKey, key_id)


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_keys_take_a_budget_rpm_tpm_and_expiry_and_refuse_bad_ones(platform):
    csrf = sign_in(platform, "limits@example.com")
    created = platform.client.post(
        KEYS,
        headers=csrf,
        json={
            "name": "capped",
            "monthly_budget": "12.5",
            "rpm_limit": 60,
            "tpm_limit": 10000,
            "expires_at": future(),
        },
    )
    assert created.status_code == 201, created.text
    key_id = created.json()["id"]
    listed = {k["id"]: k for k in platform.client.get(KEYS).json()["data"]}[key_id]
    limits = (listed["monthly_budget_micro"], listed["rpm_limit"], listed["tpm_limit"])
    assert limits == (12_500_000, 60, 10000)
    assert listed["expires_at"]
    for bad in (
        {"monthly_budget": "-1"},
        {"monthly_budget": "1e30"},
        {"monthly_budget": "2000000000"},
        {"rpm_limit": 0},
        {"tpm_limit": -5},
        {"rpm_limit": 10**12},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"expires_at": future(365 * 50)},
    ):
        answer = platform.client.post(KEYS, headers=csrf, json={"name": "bad"} | bad)
        assert answer.status_code == 400, (bad, answer.text)
        edited = platform.client.put(f"{KEYS}/{key_id}/limits", headers=csrf, json=bad)
        assert edited.status_code == 400, (bad, edited.text)
    assert [k["name"] for k in platform.client.get(KEYS).json()["data"]] == ["capped"]  # no bad key made
    assert key_row(platform, key_id).monthly_budget_micro == 12_500_000  # nothing changed
    cleared = platform.client.put(f"{KEYS}/{key_id}/limits", headers=csrf, json={"rpm_limit": 5})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["monthly_budget_micro"], cleared.json()["rpm_limit"]) == (None, 5)
    assert platform.client.put(f"{KEYS}/nope/limits", headers=csrf, json={}).status_code == 404
    other_id, other = platform.registered_key("other-limits@example.com")
    foreign = TestClient(platform.client.app).post(KEYS, headers=other, json={"name": "theirs"}).json()["id"]
    edited = platform.client.put(f"{KEYS}/{foreign}/limits", headers=csrf, json={"rpm_limit": 1})
    assert edited.status_code == 404
    assert key_row(platform, foreign).rpm_limit is None


def test_an_expired_key_is_refused_at_auth_even_when_cached(platform):
    csrf = sign_in(platform, "expiry@example.com")
    issued = platform.client.post(
        KEYS, headers=csrf, json={"name": "soon", "expires_at": future(2.5 / 86400)}
    ).json()
    bearer = {"Authorization": f"Bearer {issued['api_key']}"}
    client = TestClient(platform.client.app)
    assert client.get("/api/paas/v4/models", headers=bearer).status_code == 200  # cached now
    time.sleep(2.6)
    refused = client.get("/api/paas/v4/models", headers=bearer)
    assert (refused.status_code, error_code(refused)) == (401, "1003")
    platform.services.authenticator.cache.forget(issued["id"])
    refused = client.get("/api/paas/v4/models", headers=bearer)  # and from the database
    assert (refused.status_code, error_code(refused)) == (401, "1003")


def embed(client: TestClient, bearer: dict) -> object:
    return client.post(
        "/api/paas/v4/embeddings", headers=bearer, json={"model": "embedding-2", "input": ["hi"]}
    )


def test_budget_and_rpm_of_a_key_are_enforced_before_work(platform):
    csrf = sign_in(platform, "budget@example.com")
    account_id = platform.client.get("/api/platform/account").json()["id"]
    admin = add_admin(platform.services)
    platform.services.billing.admin_credit(admin.account_id, account_id, 10_000_000, "test top-up")
    capped = platform.client.post(KEYS, headers=csrf, json={"name": "budget", "monthly_budget": "0.5"}).json()
    free = platform.client.post(KEYS, headers=csrf, json={"name": "free"}).json()
    client = TestClient(platform.client.app)
    first = embed(client, {"Authorization": f"Bearer {capped['api_key']}"})
    assert first.status_code == 200, first.text
    wait_for(lambda: usage_rows(platform.services, api_key_id=capped["id"]))
    with platform.services.db.session() as session:  # earlier this month the key spent ¥0.60 in cash
        session.add(
            UsageRecord(
                account_id=account_id,
                api_key_id=capped["id"],
                request_id="earlier",
                endpoint="chat",
                model="glm-4",
                cost_micro=600_000,
                status="success",
            )
        )
    before = len(usage_rows(platform.services, account_id=account_id))
    over = embed(client, {"Authorization": f"Bearer {capped['api_key']}"})
    assert (over.status_code, error_code(over)) == (429, "1310"), over.text
    assert embed(client, {"Authorization": f"Bearer {free['api_key']}"}).status_code == 200  # per key
    wait_for(lambda: len(usage_rows(platform.services, account_id=account_id)) == before + 1)  # no work done
    raised = platform.client.put(
        f"{KEYS}/{capped['id']}/limits", headers=csrf, json={"monthly_budget": "100"}
    )
    assert raised.status_code == 200
    assert embed(client, {"Authorization": f"Bearer {capped['api_key']}"}).status_code == 200  # at once
    zero = platform.client.post(KEYS, headers=csrf, json={"name": "zero", "monthly_budget": "0"}).json()
    refused = embed(client, {"Authorization": f"Bearer {zero['api_key']}"})
    assert (refused.status_code, error_code(refused)) == (429, "1310")

    slow = platform.client.post(KEYS, headers=csrf, json={"name": "slow", "rpm_limit": 1}).json()
    bearer = {"Authorization": f"Bearer {slow['api_key']}"}
    if time.time() % 60 > 57:  # keep both calls in one limiter window
        time.sleep(3.5)
    assert embed(client, bearer).status_code == 200
    limited = embed(client, bearer)
    assert (limited.status_code, error_code(limited)) == (429, "1303")


def test_revoked_keys_stay_in_the_history(platform):
    csrf = sign_in(platform, "history@example.com")
    key_id = platform.client.post(KEYS, headers=csrf, json={"name": "old"}).json()["id"]
    assert platform.client.delete(f"{KEYS}/{key_id}", headers=csrf).status_code == 200
    assert platform.client.get(KEYS).json()["data"] == []
    history = platform.client.get(KEYS, params={"include_revoked": "true"}).json()["data"]
    assert [(k["id"], bool(k["revoked_at"])) for k in history] == [(key_id, True)]
    revoked = platform.client.put(f"{KEYS}/{key_id}/limits", headers=csrf, json={"rpm_limit": 1})
    assert revoked.status_code == 404


def age_codes(platform: Platform) -> None:
    with platform.services.db.session() as session:
        earlier = datetime.now(UTC) - timedelta(minutes=5)
        session.execute(sa.update(VerificationCode).values(created_at=earlier))


def test_a_forgotten_password_is_reset_with_a_code(platform):
    sign_in(platform, "forgot@example.com")
    assert platform.client.get(SETTINGS).status_code == 200
    age_codes(platform)  # the sign-up code was sent a moment ago: one code a minute per address
    codes = "/api/platform/auth/password/codes"
    reset = "/api/platform/auth/password/reset"
    anonymous = TestClient(platform.client.app)
    unknown = anonymous.post(codes, json={"channel": "email", "target": "nobody@example.com"})
    assert unknown.json()["sent"] is True
    assert platform.notifier.to("nobody@example.com") == []  # no account: nothing sent, same answer
    assert anonymous.post(codes, json={"channel": "email", "target": "Forgot@Example.com"}).status_code == 200
    code = platform.notifier.last_code("forgot@example.com")
    wrong = anonymous.post(
        reset,
        json={
            "channel": "email",
            "target": "forgot@example.com",
            "code": "000000" if code != "000000" else "111111",
            "new_password": "another-horse-2",
        },
    )
    assert (wrong.status_code, error_code(wrong)) == (400, "1214")
    weak = anonymous.post(
        reset,
        json={"channel": "email", "target": "forgot@example.com", "code": code, "new_password": "short"},
    )
    assert weak.status_code == 400
    assert platform.login("forgot@example.com").status_code == 200  # nothing changed yet
    done = anonymous.post(
        reset,
        json={
            "channel": "email",
            "target": "forgot@example.com",
            "code": code,
            "new_password": "another-horse-2",
        },
    )
    assert done.status_code == 200, done.text
    assert platform.client.get(SETTINGS).status_code == 401  # every session ended
    assert platform.login("forgot@example.com").status_code == 401
    assert platform.login("forgot@example.com", "another-horse-2").status_code == 200
    again = anonymous.post(
        reset,
        json={
            "channel": "email",
            "target": "forgot@example.com",
            "code": code,
            "new_password": "third-horse-3",
        },
    )
    assert again.status_code == 400  # a code is used once


def test_a_new_email_is_confirmed_by_a_code_sent_to_it(platform):
    csrf = sign_in(platform, "mover@example.com")
    platform.register("taken@example.com")
    send = "/console/api/account/contact/code"
    taken = platform.client.post(send, headers=csrf, json={"channel": "email", "target": "taken@example.com"})
    assert (taken.status_code, error_code(taken)) == (400, "1214")
    same = platform.client.post(send, headers=csrf, json={"channel": "email", "target": "mover@example.com"})
    assert same.status_code == 400
    not_email = platform.client.post(send, headers=csrf, json={"channel": "email", "target": "not-an-email"})
    assert not_email.status_code == 400
    sent = platform.client.post(send, headers=csrf, json={"channel": "email", "target": "moved@example.com"})
    assert sent.status_code == 200, sent.text
    code = platform.notifier.last_code("moved@example.com")
    wrong = platform.client.post(
        "/console/api/account/contact",
        headers=csrf,
        json={
            "channel": "email",
            "target": "moved@example.com",
            "code": "000000" if code != "000000" else "111111",
        },
    )
    assert wrong.status_code == 400
    assert platform.client.get(SETTINGS).json()["email"] == "mover@example.com"
    done = platform.client.post(
        "/console/api/account/contact",
        headers=csrf,
        json={"channel": "email", "target": "moved@example.com", "code": code},
    )
    assert done.status_code == 200, done.text
    assert platform.client.get(SETTINGS).json()["email"] == "moved@example.com"
    assert platform.login("moved@example.com").status_code == 200


def test_sign_out_other_sessions_ends_them_server_side(platform):
    csrf = sign_in(platform, "sessions@example.com")
    other = TestClient(platform.client.app)
    assert (
        other.post(
            "/api/platform/auth/login", json={"login": "sessions@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )
    assert other.get(SETTINGS).status_code == 200
    assert platform.client.get(SETTINGS).json()["sessions"] == 2
    done = platform.client.post("/console/api/account/sessions/sign-out-others", headers=csrf)
    assert done.json() == {"signed_out": 1}
    assert other.get(SETTINGS).status_code == 401
    assert platform.client.get(SETTINGS).json()["sessions"] == 1
    assert platform.client.post("/console/api/account/sessions/sign-out-others").status_code == 403  # CSRF


def chat(platform: Platform, csrf: dict, text: str) -> dict:
    platform.services.catalog.resolve("glm-4").engine.enqueue(text)
    answer = platform.client.post(
        "/console/api/chat/completions",
        headers=csrf,
        json={
            "model": "glm-4",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_request_detail_with_trace_and_opt_in_bodies(platform):
    csrf = sign_in(platform, "detail@example.com")
    account_id = platform.client.get("/api/platform/account").json()["id"]
    today = datetime.now(UTC).date()
    span = {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))}
    assert platform.client.get(SETTINGS).json()["bodies"] == {"store_bodies": False, "body_retention_days": 7}
    first = chat(platform, csrf, "not kept")
    wait_for(lambda: len(usage_rows(platform.services, account_id=account_id)) == 1)
    row = platform.client.get(LOG, params=span).json()["data"][0]
    detail = platform.client.get(f"{LOG}/{row['id']}").json()
    assert detail["usage"]["request_id"] == first["request_id"] == row["request_id"]
    assert (detail["request_body"], detail["retrieval"]) == (None, [])

    for bad in (0, 91, 10**9):
        answer = platform.client.put(
            "/console/api/account/bodies",
            headers=csrf,
            json={"store_bodies": True, "body_retention_days": bad},
        )
        assert answer.status_code == 400
    assert platform.client.get(SETTINGS).json()["bodies"]["store_bodies"] is False
    on = platform.client.put(
        "/console/api/account/bodies", headers=csrf, json={"store_bodies": True, "body_retention_days": 3}
    )
    assert on.json() == {"store_bodies": True, "body_retention_days": 3}
    second = chat(platform, csrf, "kept answer")
    with platform.services.db.session() as session:  # a retrieval this request made
        session.add(
            RetrievalTrace(
                account_id=account_id,
                request_id=second["request_id"],
                knowledge_id="kb1",
                trace={"query": "hello", "hits": [{"score": 0.9, "text": "doc"}]},
            )
        )
    wait_for(lambda: len(usage_rows(platform.services, account_id=account_id)) == 2)
    newest = platform.client.get(LOG, params=span).json()["data"][0]
    detail = wait_for(
        lambda: (d := platform.client.get(f"{LOG}/{newest['id']}").json())["request_body"] and d
    )
    assert detail["request_body"]["messages"][1] == {"role": "user", "content": "hello"}
    assert detail["response_body"]["choices"][0]["message"]["content"] == "kept answer"
    assert detail["retrieval"][0]["query"] == "hello"

    assert platform.client.get(f"{LOG}/999999").status_code == 404
    assert platform.client.get(f"{LOG}/0").status_code in (400, 422)
    stranger = TestClient(platform.client.app)
    platform.register("stranger@example.com")
    assert (
        stranger.post(
            "/api/platform/auth/login", json={"login": "stranger@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )
    assert stranger.get(f"{LOG}/{newest['id']}").status_code == 404  # another account's row

    with platform.services.db.session() as session:  # past retention: hidden, then purged
        session.execute(sa.update(RequestBody).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert platform.client.get(f"{LOG}/{newest['id']}").json()["request_body"] is None
    assert BodyStore(platform.services.db).purge_expired() == 1
    off = platform.client.put("/console/api/account/bodies", headers=csrf, json={"store_bodies": False})
    assert off.status_code == 200


def test_a_streamed_answer_is_kept_as_one_message(platform):
    csrf = sign_in(platform, "stream-body@example.com")
    account_id = platform.client.get("/api/platform/account").json()["id"]
    platform.client.put(
        "/console/api/account/bodies", headers=csrf, json={"store_bodies": True, "body_retention_days": 1}
    )
    platform.services.catalog.resolve("glm-4").engine.enqueue("streamed words here")
    with platform.client.stream(
        "POST",
        "/console/api/chat/completions",
        headers=csrf,
        json={"model": "glm-4", "stream": True, "messages": [{"role": "user", "content": "go"}]},
    ) as answer:
        assert answer.status_code == 200
        assert "[DONE]" in "".join(answer.iter_text())
    wait_for(lambda: usage_rows(platform.services, account_id=account_id))
    row = usage_rows(platform.services, account_id=account_id)[0]
    kept = wait_for(lambda: BodyStore(platform.services.db).get(account_id, row.request_id))
    assert kept.request["messages"] == [{"role": "user", "content": "go"}]
    assert kept.response["choices"][0]["message"]["content"] == "streamed words here"
    assert kept.response["usage"]["completion_tokens"] > 0
