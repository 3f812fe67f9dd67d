"""Server-kept history that outgrows the model (fake engine, a 512-token window, 64-token
answer cap): a `previous_response_id` chain and an assistant conversation lose their oldest
turns instead of answering 1261; instructions and the newest input stay; a function call keeps
its output; a newest input that alone does not fit is still 1261."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI
from zhipuai import ZhipuAI

from openmaas.agents.history_fit import turn_starts, without_turns_before
from openmaas.config import ModelConfig
from openmaas.engines.base import ChatMessage
from openmaas.engines.fake import FakeChatEngine
from tests.agents.conftest import agent_settings, tool_call_text
from tests.conftest import LiveServer, Tenant, add_tenant, start_live_server

WINDOW, CAP = 512, 64
BUDGET = WINDOW - CAP  # the prompt a chained request is fitted to
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Iterator[LiveServer]:
    models = [
        ModelConfig(
            name="small", engine="fake", aliases=["glm-4"], context_window=WINDOW, max_output_tokens=CAP
        )
    ]
    server = start_live_server(agent_settings(tmp_path_factory.mktemp("fit"), models=models))
    yield server
    server.stop()


@pytest.fixture
def fake(small) -> Iterator[FakeChatEngine]:
    engine = small.services.catalog.resolve("small").engine
    yield engine
    engine._scripted.clear()


@pytest.fixture
def tenant(small) -> Tenant:
    return add_tenant(small.services, f"fit-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def oai(small, tenant) -> Iterator[OpenAI]:
    client = OpenAI(api_key=tenant.api_key, base_url=small.openai_base, max_retries=0)
    yield client
    client.close()


def words(tag: str, count: int) -> str:
    return f"{tag} " + " ".join(f"w{tag}" for _ in range(count))


def test_a_long_chain_drops_its_oldest_turns(oai, fake):
    previous = None
    for turn in range(6):  # ~110 tokens a turn: the whole chain is well past the window by the end
        fake.enqueue(f"ok {turn}")
        response = oai.responses.create(
            model="glm-4",
            instructions="Stay terse.",
            input=words(f"turn{turn}", 100),
            previous_response_id=previous,
        )
        assert response.status == "completed" and response.output_text == f"ok {turn}"
        previous = response.id
    prompt = fake.prompts[-1]
    assert prompt.token_count <= BUDGET
    assert "Stay terse." in prompt.text and "turn5" in prompt.text  # instructions, newest input
    assert "turn4" in prompt.text and "ok 4" in prompt.text  # the newest turns are kept whole
    assert "turn0" not in prompt.text and "ok 0" not in prompt.text  # the oldest went first
    assert response.truncation == "auto"


def test_a_function_call_keeps_its_output(oai, fake):
    fake.enqueue("ok")
    first = oai.responses.create(model="glm-4", input=words("old", 420))
    fake.enqueue(tool_call_text("get_weather", {"city": "Paris"}))
    second = oai.responses.create(
        model="glm-4", input=words("ask", 10), tools=[WEATHER], previous_response_id=first.id
    )
    call = second.output[0]
    assert call.type == "function_call"
    fake.enqueue("It is sunny.")
    third = oai.responses.create(
        model="glm-4",
        tools=[WEATHER],
        previous_response_id=second.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 25 degrees"}],
    )
    assert third.output_text == "It is sunny."
    prompt = fake.prompts[-1].text  # (the chat core refuses a tool result whose call is not before it)
    assert "wold" not in prompt  # the old turn went
    assert "wask" in prompt and "sunny, 25 degrees" in prompt  # the call's turn stayed with its result


def test_truncation_disabled_keeps_the_whole_chain(oai, fake):
    fake.enqueue("ok", "ok", "ok")
    first = oai.responses.create(model="glm-4", input=words("one", 200))
    second = oai.responses.create(model="glm-4", input=words("two", 200), previous_response_id=first.id)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(
            model="glm-4", input=words("three", 200), previous_response_id=second.id, truncation="disabled"
        )
    assert caught.value.body["code"] == "1261"
    response = oai.responses.create(model="glm-4", input=words("three", 200), previous_response_id=second.id)
    prompt = fake.prompts[-1].text
    assert response.truncation == "auto" and "wtwo" in prompt and "wone" not in prompt


def test_a_newest_input_too_long_alone_is_still_1261(oai, fake):
    fake.enqueue("ok")
    first = oai.responses.create(model="glm-4", input="short")
    generations = fake.generations
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="glm-4", input=words("huge", 600), previous_response_id=first.id)
    assert caught.value.body["code"] == "1261"
    assert fake.generations == generations


def test_a_newest_input_over_the_budget_but_within_the_window_runs(oai, fake):
    fake.enqueue("ok", "fine")
    first = oai.responses.create(model="glm-4", input=words("first", 20))
    response = oai.responses.create(model="glm-4", input=words("big", BUDGET), previous_response_id=first.id)
    assert response.output_text == "fine"
    assert "wfirst" not in fake.prompts[-1].text  # every droppable turn went; the rest fits the window


def test_a_long_assistant_conversation_drops_its_oldest_turns(small, tenant, fake):
    created = httpx.post(
        f"{small.zhipu_base}/assistants",
        headers=tenant.headers,
        json={"name": "fit", "model": "glm-4", "instructions": "Be the fit helper."},
    )
    assert created.status_code == 200, created.text
    zhipu = ZhipuAI(api_key=tenant.api_key, base_url=small.zhipu_base, max_retries=0)
    conversation = None
    for turn in range(6):
        fake.enqueue(f"reply {turn}")
        answer = zhipu.assistant.conversation(
            assistant_id=created.json()["id"],
            conversation_id=conversation,
            messages=[{"role": "user", "content": [{"type": "text", "text": words(f"turn{turn}", 100)}]}],
        )
        assert answer.choices[0].delta.content == f"reply {turn}"
        conversation = answer.conversation_id
    prompt = fake.prompts[-1]
    assert prompt.token_count <= BUDGET
    assert "Be the fit helper." in prompt.text and "turn5" in prompt.text and "turn4" in prompt.text
    assert "turn0" not in prompt.text


def test_turn_starts_never_split_a_call_from_its_result():
    call = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    messages = [
        ChatMessage("system", "sys"),
        ChatMessage("user", "u1"),
        ChatMessage("assistant", "a1"),
        ChatMessage("user", "u2"),
        ChatMessage("assistant", None, call),
        ChatMessage("tool", "r", tool_call_id="c1"),
    ]
    assert turn_starts(messages, keep_last=1) == [3]  # the newest input is the result: u2's turn stays
    assert turn_starts(messages, keep_last=3) == [3]  # the newest input begins a turn: all of history may go
    assert turn_starts(messages[:4], keep_last=1) == [3]
    assert turn_starts(messages[:2], keep_last=1) == []  # no history: nothing to drop
    assert [m.content for m in without_turns_before(messages, 3)] == ["sys", "u2", None, "r"]
