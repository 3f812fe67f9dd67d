"""The unmodified `zhipuai` SDK against a live server (fake engine): chat, stream, JWT, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import zhipuai
from zhipuai import ZhipuAI
from zhipuai.core._base_type import Omit

from openmaas.auth.keys import revoke_key
from openmaas.engines.fake import fake_tokenize
from openmaas.errors import NotFound
from tests.conftest import add_tenant

TUTORIAL = [{"role": "user", "content": "你好"}]


def now_ms() -> int:
    return int(time.time() * 1000)


def split_key(api_key: str) -> tuple[str, str]:
    key_id, secret = api_key.split(".")
    return key_id, secret


def zhipu_jwt(key_id: str, secret: str | None, *, exp_ms: int, algorithm: str = "HS256") -> str:
    payload = {"api_key": key_id, "exp": exp_ms, "timestamp": now_ms()}
    return jwt.encode(payload, secret, algorithm=algorithm, headers={"alg": algorithm, "sign_type": "SIGN"})


@pytest.fixture
def bearer_client(sdk_server):
    """A zhipuai client that sends exactly the bearer token it is given."""
    clients: list[ZhipuAI] = []

    def build(token: str) -> ZhipuAI:
        client = ZhipuAI(api_key=token, base_url=sdk_server.zhipu_base, max_retries=0)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def error_of(exc: zhipuai.APIStatusError) -> dict:
    return exc.response.json()["error"]


# --- the happy path -----------------------------------------------------------------------
def test_tutorial_snippet(engine, zhipu):
    engine.enqueue("你好！有什么可以帮你的吗？")
    started = int(time.time())
    response = zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL)
    assert response.choices[0].message.content == "你好！有什么可以帮你的吗？"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "glm-4"
    assert response.id and response.request_id == response.id
    assert started - 5 <= response.created <= int(time.time()) + 5
    usage = response.usage
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens == len(fake_tokenize("你好！有什么可以帮你的吗？")) == 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert "你好" in engine.prompts[-1].text


def test_stream_deltas_join_to_scripted_text(engine, zhipu):
    scripted = "Streaming works, one token at a time."
    engine.enqueue(scripted)
    chunks = list(zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL, stream=True))
    assert len(chunks) > 3
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == scripted
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage.completion_tokens == 9
    assert last.usage.total_tokens == last.usage.prompt_tokens + 9
    assert len({c.id for c in chunks}) == 1


def test_stream_stops_at_max_tokens_with_length(engine, zhipu):
    engine.enqueue("a b c d e f g h")
    chunks = list(zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL, stream=True, max_tokens=3))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "a b c"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 3


def test_sdk_clamped_sampling_is_accepted(engine, zhipu):
    # The SDK rewrites temperature=0 → 0.01 + do_sample=false and top_p=1 → 0.99 (§6.1).
    engine.enqueue("ok")
    response = zhipu.chat.completions.create(
        model="glm-4", messages=TUTORIAL, temperature=0, top_p=1, stop=["\n\n"], request_id="req-clamped-1"
    )
    assert response.choices[0].message.content == "ok"
    assert response.request_id == "req-clamped-1"


def test_jwt_mode(sdk_server, tenant, engine):
    engine.enqueue("signed in with a JWT")
    client = ZhipuAI(
        api_key=tenant.api_key, base_url=sdk_server.zhipu_base, disable_token_cache=False, max_retries=0
    )
    try:
        sent = client.auth_headers["Authorization"].removeprefix("Bearer ")
        assert sent.count(".") == 2  # really a JWT, not the raw key
        response = client.chat.completions.create(model="glm-4", messages=TUTORIAL)
    finally:
        client.close()
    assert response.choices[0].message.content == "signed in with a JWT"


def test_hand_built_jwt_with_ms_expiry_is_accepted(tenant, engine, bearer_client):
    key_id, secret = split_key(tenant.api_key)
    token = zhipu_jwt(key_id, secret, exp_ms=now_ms() + 60_000)
    engine.enqueue("hand-built")
    response = bearer_client(token).chat.completions.create(model="glm-4", messages=TUTORIAL)
    assert response.choices[0].message.content == "hand-built"


# --- authentication errors: HTTP 401 with codes 1001-1004 --------------------------------
def expect_auth_error(client: ZhipuAI, code: str | tuple[str, ...], **extra) -> dict:
    with pytest.raises(zhipuai.APIAuthenticationError) as caught:
        client.chat.completions.create(model="glm-4", messages=TUTORIAL, **extra)
    assert caught.value.status_code == 401
    error = error_of(caught.value)
    assert error["code"] in ((code,) if isinstance(code, str) else code), error
    assert error["message"]
    return error


def test_missing_authorization_header_is_1001(zhipu):
    expect_auth_error(zhipu, "1001", extra_headers={"Authorization": Omit()})


@pytest.mark.parametrize(
    "token",
    [
        "0123456789abcdef0123456789abcdef.not-the-secret",  # well-formed, unknown key id
        "garbage",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.c2ln",  # three parts, payload not JSON
    ],
)
def test_unknown_or_garbage_token_is_1002(bearer_client, token):
    expect_auth_error(bearer_client(token), "1002")


def test_known_key_id_with_wrong_secret_is_1002(tenant, bearer_client):
    key_id, _ = split_key(tenant.api_key)
    expect_auth_error(bearer_client(f"{key_id}.wrong-secret"), "1002")


def test_jwt_signed_with_wrong_secret_is_1004(tenant, bearer_client):
    key_id, _ = split_key(tenant.api_key)
    token = zhipu_jwt(key_id, "definitely-not-the-secret", exp_ms=now_ms() + 60_000)
    expect_auth_error(bearer_client(token), "1004")


def test_expired_jwt_is_1003(tenant, bearer_client):
    key_id, secret = split_key(tenant.api_key)
    token = zhipu_jwt(key_id, secret, exp_ms=now_ms() - 60_000)  # a minute ago, in ms
    expect_auth_error(bearer_client(token), "1003")


def test_jwt_within_clock_skew_is_accepted(tenant, engine, bearer_client):
    key_id, secret = split_key(tenant.api_key)
    token = zhipu_jwt(key_id, secret, exp_ms=now_ms() - 1_000)  # 1 s late: inside the skew
    response = bearer_client(token).chat.completions.create(model="glm-4", messages=TUTORIAL)
    assert response.choices[0].message.content == "Echo: 你好"


def test_alg_none_token_is_refused(tenant, bearer_client):
    key_id, _ = split_key(tenant.api_key)
    token = jwt.encode(
        {"api_key": key_id, "exp": now_ms() + 60_000, "timestamp": now_ms()}, None, algorithm="none"
    )
    expect_auth_error(bearer_client(token), ("1002", "1004"))


def test_other_hmac_algorithm_is_refused(tenant, bearer_client):
    key_id, secret = split_key(tenant.api_key)
    token = zhipu_jwt(key_id, secret, exp_ms=now_ms() + 60_000, algorithm="HS512")
    expect_auth_error(bearer_client(token), ("1002", "1004"))


def test_revoked_key_is_refused_raw_and_jwt(sdk_server, tenant, engine, zhipu):
    engine.enqueue("still here")
    assert zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL).choices
    # deleted as the console and the platform API do it: this process's key cache forgets
    # the key at once (one revoked elsewhere stops within `auth_cache_seconds`)
    sdk_server.services.accounts.keys.delete(tenant.account_id, tenant.key_id)
    expect_auth_error(zhipu, "1002")
    jwt_client = ZhipuAI(
        api_key=tenant.api_key, base_url=sdk_server.zhipu_base, disable_token_cache=False, max_retries=0
    )
    try:
        expect_auth_error(jwt_client, ("1002", "1004"))
    finally:
        jwt_client.close()


def test_one_account_cannot_revoke_another_accounts_key(sdk_server, tenant, engine, zhipu):
    other = add_tenant(sdk_server.services, "other")
    with pytest.raises(NotFound), sdk_server.services.db.session() as session:
        revoke_key(session, other.account_id, tenant.key_id)
    engine.enqueue("unaffected")
    assert (
        zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL).choices[0].message.content
        == "unaffected"
    )


# --- request errors surface as the SDK's exception classes (§4.2) --------------------------
@pytest.fixture
def no_generation(engine) -> Iterator[None]:
    before = engine.generations
    yield
    assert engine.generations == before, "a refused request must not reach the engine"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"model": "no-such-model", "messages": TUTORIAL}, "1211"),
        ({"model": "glm-4", "messages": TUTORIAL, "max_tokens": -1}, "1214"),
        ({"model": "glm-4", "messages": [{"role": "wizard", "content": "hi"}]}, "1214"),
        ({"model": "glm-4", "messages": [{"role": "system", "content": "only a system prompt"}]}, "1214"),
        ({"model": "glm-4", "messages": [{"role": "user", "content": "word " * 400}]}, "1261"),
    ],
)
def test_request_errors_raise_api_request_failed(zhipu, no_generation, kwargs, code):
    with pytest.raises(zhipuai.APIRequestFailedError) as caught:
        zhipu.chat.completions.create(**kwargs)
    assert caught.value.status_code == 400
    assert error_of(caught.value)["code"] == code
    assert f'"code":"{code}"' in str(caught.value)  # the SDK puts the raw body in the message


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"model": "no-such-model"}, "1211"),
        ({"model": "glm-4", "messages": [{"role": "user", "content": "word " * 400}]}, "1261"),
    ],
)
def test_stream_request_errors_are_raised_before_the_stream(zhipu, no_generation, kwargs, code):
    body = {"messages": TUTORIAL} | kwargs
    with pytest.raises(zhipuai.APIRequestFailedError) as caught:
        list(zhipu.chat.completions.create(stream=True, **body))
    assert error_of(caught.value)["code"] == code
