"""POST /tokenizer: counts from the model's own template and tokenizer (no SDK exposes it:
plain HTTP as the platform documents it)."""

from __future__ import annotations

import httpx

from openmaas.engines.fake import fake_tokenize
from tests.conftest import FAKE_EMBEDDING_MODEL, FAKE_MODEL


def post(server, tenant, body, prefix="/api/paas/v4"):
    return httpx.post(f"{server.base_url}{prefix}/tokenizer", json=body, headers=tenant.headers, timeout=30)


def test_counts_the_rendered_chat_template(tool_server, tenant):
    messages = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "hello there"}]
    response = post(tool_server, tenant, {"model": FAKE_MODEL, "messages": messages})
    assert response.status_code == 200, response.text
    body = response.json()
    rendered = "<|system|>你是助手\n<|user|>hello there\n<|assistant|>"  # the fake engine's template
    assert body["usage"]["prompt_tokens"] == len(fake_tokenize(rendered))
    assert body["model"] == FAKE_MODEL and body["id"] == body["request_id"] and body["created"] > 0


def test_alias_and_openai_surface_and_embedding_model(tool_server, tenant):
    messages = [{"role": "user", "content": "one two three"}]
    by_alias = post(tool_server, tenant, {"model": "glm-4", "messages": messages}).json()
    on_v1 = post(tool_server, tenant, {"model": FAKE_MODEL, "messages": messages}, prefix="/v1").json()
    assert by_alias["usage"] == on_v1["usage"]
    embedding = post(tool_server, tenant, {"model": FAKE_EMBEDDING_MODEL, "messages": messages})
    assert embedding.status_code == 200 and embedding.json()["usage"]["prompt_tokens"] >= 3


def test_unknown_model_is_1211_and_bad_messages_1214(tool_server, tenant):
    unknown = post(
        tool_server, tenant, {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "1211"
    empty = post(tool_server, tenant, {"model": FAKE_MODEL, "messages": []})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "1214"
    bad_tool = post(
        tool_server,
        tenant,
        {
            "model": FAKE_MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": ""}}],
        },
    )
    assert bad_tool.status_code == 400


def test_needs_a_key(tool_server):
    response = httpx.post(f"{tool_server.zhipu_base}/tokenizer", json={"model": FAKE_MODEL, "messages": []})
    assert response.status_code == 401
