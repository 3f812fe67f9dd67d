"""Chat's `sensitive_word_check` through the real SDKs on a live server (fake engine): a
blocked prompt is 1301 and costs nothing; a blocked answer stops with finish_reason
`sensitive` after the text that passed, billed for what was generated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
import zhipuai
from fastapi.testclient import TestClient
from openai import OpenAI
from zhipuai import ZhipuAI

from openmaas.app import create_app
from openmaas.chat.moderation_gate import AnswerGate
from openmaas.engines.base import Finished, TextDelta
from openmaas.moderation.rules import RuleModerator
from openmaas.moderation.settings import ModerationSettings
from tests.conftest import FAKE_MODEL, LiveServer, add_tenant, start_live_server
from tests.sdk._support import usage_rows, wait_for
from tests.tool_endpoints.conftest import paying_tenant, tool_settings

ENABLE = {"type": "ALL", "status": "ENABLE"}
DISABLE = {"type": "ALL", "status": "DISABLE"}
TERMS = {
    "moderation": {
        "categories": {"illegal": ["forbidden plan"], "ad": ["buy now"]},
        "review_categories": ["ad"],
    }
}
BLOCKED_ANSWER = "Hello there. Here is the forbidden plan for you. Goodbye now."
# "Hello there." passes; the next sentence completes the match: 11 tokens were generated
PASSED, GENERATED = "Hello there.", 11


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    live = start_live_server(tool_settings(tmp_path_factory.mktemp("sensitive"), tools=TERMS))
    yield live
    live.stop()


@pytest.fixture
def tenant(server):
    return paying_tenant(server)


@pytest.fixture
def client(server, tenant) -> Iterator[ZhipuAI]:
    sdk = ZhipuAI(api_key=tenant.api_key, base_url=server.zhipu_base, max_retries=0)
    yield sdk
    sdk.close()


@pytest.fixture
def engine(server):
    return server.services.catalog.resolve(FAKE_MODEL).engine


def ask(content: str = "tell me something") -> list[dict]:
    return [{"role": "user", "content": content}]


def settled(server: LiveServer, request_id: str):
    return wait_for(lambda: usage_rows(server.services, request_id=request_id))[0]


def test_blocked_prompt_is_1301_and_charges_nothing(server, tenant, client, engine):
    before = server.services.billing.balance(tenant.account_id).cash_micro
    generations = engine.generations
    request_id = f"blocked-{uuid.uuid4().hex[:8]}"
    with pytest.raises(zhipuai.APIRequestFailedError) as failure:
        client.chat.completions.create(
            model="glm-4",
            messages=ask("share the Forbidden-Plan please"),
            sensitive_word_check=ENABLE,
            request_id=request_id,
        )
    assert failure.value.status_code == 400
    assert '"1301"' in failure.value.response.text
    with pytest.raises(zhipuai.APIRequestFailedError):  # streaming: refused before the stream
        client.chat.completions.create(
            model="glm-4", messages=ask("forbidden plan"), stream=True, sensitive_word_check=ENABLE
        )
    assert engine.generations == generations
    assert usage_rows(server.services, request_id=request_id) == []
    assert usage_rows(server.services, account_id=tenant.account_id) == []
    after = server.services.billing.balance(tenant.account_id)
    assert after.cash_micro == before and after.held_micro == 0


def test_blocked_answer_non_stream_is_cut_and_billed(server, client, engine):
    engine.enqueue(BLOCKED_ANSWER)
    answer = client.chat.completions.create(model="glm-4", messages=ask(), sensitive_word_check=ENABLE)
    choice = answer.choices[0]
    assert choice.finish_reason == "sensitive"
    assert choice.message.content == PASSED
    assert answer.usage.completion_tokens == GENERATED
    row = settled(server, answer.request_id)
    assert (row.status, row.completion_tokens) == ("success", GENERATED)  # charged (packs first)


def test_blocked_answer_stream_stops_with_sensitive(server, client, engine):
    engine.enqueue(BLOCKED_ANSWER)
    chunks = list(
        client.chat.completions.create(
            model="glm-4", messages=ask(), stream=True, sensitive_word_check=ENABLE
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == PASSED
    assert chunks[-1].choices[0].finish_reason == "sensitive"
    assert chunks[-1].usage.completion_tokens == GENERATED
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    row = settled(server, chunks[-1].id)
    assert (row.status, row.completion_tokens) == ("success", GENERATED)


def test_disable_passes_prompt_and_answer(server, client, engine):
    engine.enqueue(BLOCKED_ANSWER)
    answer = client.chat.completions.create(
        model="glm-4", messages=ask("the forbidden plan?"), sensitive_word_check=DISABLE
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == BLOCKED_ANSWER


def test_unblocked_request_is_unchanged(server, client, engine):
    text = "A calm answer, buy now if you like. It spans sentences; and ends here"  # REVIEW passes
    engine.enqueue(text, text)
    plain = client.chat.completions.create(model="glm-4", messages=ask(), sensitive_word_check=ENABLE)
    assert (plain.choices[0].message.content, plain.choices[0].finish_reason) == (text, "stop")
    chunks = list(
        client.chat.completions.create(
            model="glm-4", messages=ask(), stream=True, sensitive_word_check=ENABLE
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_default_is_off_unless_the_operator_sets_it(server, client, engine):
    engine.enqueue(BLOCKED_ANSWER)
    answer = client.chat.completions.create(model="glm-4", messages=ask("forbidden plan"))
    assert answer.choices[0].message.content == BLOCKED_ANSWER


def test_openai_surface_reports_content_filter(server, tenant, engine):
    engine.enqueue(BLOCKED_ANSWER)
    with OpenAI(api_key=tenant.api_key, base_url=server.openai_base, max_retries=0) as sdk:
        answer = sdk.chat.completions.create(
            model="glm-4", messages=ask(), extra_body={"sensitive_word_check": ENABLE}
        )
        assert (answer.choices[0].finish_reason, answer.choices[0].message.content) == (
            "content_filter",
            PASSED,
        )
        engine.enqueue(BLOCKED_ANSWER)
        chunks = list(
            sdk.chat.completions.create(
                model="glm-4", messages=ask(), stream=True, extra_body={"sensitive_word_check": ENABLE}
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == PASSED
    assert chunks[-1].choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize("check", [{"type": "ALL", "status": "MAYBE"}, "ENABLE", {"status": 1}])
def test_malformed_check_is_1214(server, tenant, check):
    body = {"model": "glm-4", "messages": ask(), "sensitive_word_check": check}
    response = httpx.post(f"{server.zhipu_base}/chat/completions", json=body, headers=tenant.headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "1214"


def test_operator_default_on_checks_without_the_field(make_settings):
    tools = {"moderation": TERMS["moderation"] | {"check_chat_by_default": True}}
    app = create_app(make_settings(tools=tools))
    with TestClient(app, raise_server_exceptions=False) as http:
        services = app.state.services
        headers = add_tenant(services).headers
        url = "/api/paas/v4/chat/completions"
        blocked = http.post(url, headers=headers, json={"model": "glm-4", "messages": ask("forbidden plan")})
        assert blocked.status_code == 400 and blocked.json()["error"]["code"] == "1301"
        services.catalog.resolve(FAKE_MODEL).engine.enqueue(BLOCKED_ANSWER)
        waived = http.post(
            url,
            headers=headers,
            json={"model": "glm-4", "messages": ask("forbidden plan"), "sensitive_word_check": DISABLE},
        )
        assert waived.json()["choices"][0]["message"]["content"] == BLOCKED_ANSWER


async def _deltas(pieces: list[str]):
    for piece in pieces:
        yield TextDelta(piece)
    yield Finished("stop", 3, len(pieces))


def test_gate_checks_every_n_characters_not_every_token():
    gate = AnswerGate(RuleModerator(ModerationSettings()), prompt_tokens=3, every_chars=64)

    async def run() -> list:
        return [event async for event in gate.guard(_deltas(["word "] * 200))]  # 1000 chars, no ends

    events = asyncio.run(run())
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "word " * 200
    assert events[-1] == Finished("stop", 3, 200)
    assert gate.checks == 1000 // 65 + 1  # one per 13 deltas (65 chars) and one at the end
