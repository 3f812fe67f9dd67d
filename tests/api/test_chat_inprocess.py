"""Chat completions through the in-process app on the fake engine."""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from openmaas.store.tables import UsageRecord

ZHIPU = "/api/paas/v4/chat/completions"
OPENAI = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "hello there"}]


def _usage_rows(harness):
    harness.client.portal.call(harness.services.usage.flush)
    with harness.services.db.session() as session:
        return list(session.scalars(sa.select(UsageRecord).order_by(UsageRecord.id)))


def test_zhipu_non_stream_shape(harness):
    harness.fake_engine().enqueue("Hi! How can I help?")
    body = {"model": "glm-4", "messages": HELLO, "response_format": None, "thinking": None}
    response = harness.client.post(ZHIPU, json=body, headers=harness.tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["id"] == data["request_id"]
    assert data["model"] == "glm-4"
    assert data["object"] == "chat.completion"  # real answers carry it (the schema omits it)
    choice = data["choices"][0]
    assert choice == {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Hi! How can I help?", "reasoning_content": None},
    }
    assert data["usage"]["completion_tokens"] == 7
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + 7


def test_request_id_is_echoed(harness):
    body = {"model": "glm-4", "messages": HELLO, "request_id": "my-req-1"}
    data = harness.client.post(ZHIPU, json=body, headers=harness.tenant.headers).json()
    assert data["request_id"] == "my-req-1"


def test_zhipu_stream_last_chunk_carries_finish_and_usage(harness):
    harness.fake_engine().enqueue("one two three")
    body = {"model": "glm-4", "messages": HELLO, "stream": True}
    with harness.client.stream("POST", ZHIPU, json=body, headers=harness.tenant.headers) as response:
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "one two three"
    assert all("usage" not in c and "finish_reason" not in c["choices"][0] for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_openai_stream_include_usage_adds_trailing_usage_chunk(harness):
    harness.fake_engine().enqueue("a b")
    body = {"model": "glm-4", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with harness.client.stream("POST", OPENAI, json=body, headers=harness.tenant.headers) as response:
        chunks = [orjson.loads(line[6:]) for line in response.iter_lines() if line and line != "data: [DONE]"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


def test_max_tokens_gives_length(harness):
    harness.fake_engine().enqueue("one two three four five")
    body = {"model": "glm-4", "messages": HELLO, "max_tokens": 2}
    data = harness.client.post(ZHIPU, json=body, headers=harness.tenant.headers).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["choices"][0]["message"]["content"] == "one two"
    assert data["usage"]["completion_tokens"] == 2


def test_stop_sequence_is_not_emitted(harness):
    harness.fake_engine().enqueue("alpha beta END gamma")
    body = {"model": "glm-4", "messages": HELLO, "stop": ["END"]}
    data = harness.client.post(ZHIPU, json=body, headers=harness.tenant.headers).json()
    assert data["choices"][0]["message"]["content"] == "alpha beta "
    assert data["choices"][0]["finish_reason"] == "stop"


def test_every_request_writes_one_usage_row(harness):
    harness.fake_engine().enqueue("x y z")
    harness.client.post(
        ZHIPU, json={"model": "glm-4", "messages": HELLO, "request_id": "r-1"}, headers=harness.tenant.headers
    )
    harness.client.post(ZHIPU, json={"model": "nope", "messages": HELLO}, headers=harness.tenant.headers)
    rows = _usage_rows(harness)
    assert len(rows) == 1
    row = rows[0]
    assert (row.account_id, row.api_key_id, row.request_id, row.status) == (
        harness.tenant.account_id,
        harness.tenant.key_id,
        "r-1",
        "success",
    )
    assert row.completion_tokens == 3 and row.prompt_tokens > 0 and row.model == "glm-4"


def test_errors_use_business_codes(harness):
    headers = harness.tenant.headers
    cases = [
        ({"model": "nope", "messages": HELLO}, 400, "1211"),
        ({"messages": HELLO}, 400, "1213"),
        ({"model": "glm-4", "messages": HELLO, "temperature": "hot"}, 400, "1214"),
        ({"model": "glm-4", "messages": HELLO, "temperature": 1.5}, 400, "1214"),
        ({"model": "glm-4", "messages": HELLO, "max_tokens": 0}, 400, "1214"),
        ({"model": "glm-4", "messages": [{"role": "wizard", "content": "x"}]}, 400, "1214"),
        ({"model": "glm-4", "messages": []}, 400, "1214"),
        ({"model": "glm-4", "messages": [{"role": "system", "content": "x"}]}, 400, "1214"),
        ({"model": "glm-4", "messages": [{"role": "user", "content": "word " * 400}]}, 400, "1261"),
    ]
    for body, status, code in cases:
        response = harness.client.post(ZHIPU, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code, (body, response.text)


def test_openai_surface_uses_openai_envelope(harness):
    response = harness.client.post(
        OPENAI, json={"model": "nope", "messages": HELLO}, headers=harness.tenant.headers
    )
    assert response.status_code == 404  # OpenAI's status for an unknown model
    error = response.json()["error"]
    assert error["code"] == "1211" and error["type"] == "invalid_request_error"
    assert error["param"] == "model" and "message" in error


def test_malformed_and_non_utf8_bodies(harness):
    headers = harness.tenant.headers | {"Content-Type": "application/json"}
    for raw in (b"{not json", b"\xff\xfe\x00garbage", b"[1,2]", b""):
        response = harness.client.post(ZHIPU, content=raw, headers=headers)
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["error"]["code"] in ("1210", "1213", "1214")


def test_body_over_limit_is_413(make_settings):
    from fastapi.testclient import TestClient

    from openmaas.app import create_app
    from tests.conftest import add_tenant

    app = create_app(make_settings(max_body_bytes=1000))
    with TestClient(app) as client:
        tenant = add_tenant(app.state.services)
        big = {"model": "glm-4", "messages": [{"role": "user", "content": "x" * 5000}]}
        response = client.post(ZHIPU, json=big, headers=tenant.headers)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "1210"
        ok = client.post(ZHIPU, json={"model": "glm-4", "messages": HELLO}, headers=tenant.headers)
        assert ok.status_code == 200


def test_models_list_on_both_surfaces(harness):
    for path in ("/v1/models", "/api/paas/v4/models"):
        data = harness.client.get(path, headers=harness.tenant.headers).json()
        by_id = {m["id"]: m for m in data["data"]}
        assert {"fake-chat", "glm-4", "glm-4-flash", "embedding-2"} <= set(by_id)
        assert by_id["embedding-2"]["capabilities"] == ["embeddings"]
        assert by_id["embedding-2"]["dimensions"] == 64


def test_get_with_json_content_type_and_no_body(harness):
    headers = harness.tenant.headers | {"Content-Type": "application/json; charset=UTF-8"}
    assert harness.client.get("/api/paas/v4/models", headers=headers).status_code == 200
