"""The agent surfaces on the real Qwen2.5-Coder-0.5B weights, driven by the unmodified SDKs.

Short, greedy answers (the module shares one server: loading costs)."""

from __future__ import annotations

import json

import httpx
import pytest
from anthropic import Anthropic
from openai import OpenAI
from zhipuai import ZhipuAI

pytestmark = pytest.mark.slow

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def oai(real_model_server):
    client = OpenAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.openai_base, max_retries=0
    )
    yield client
    client.close()


def test_responses_text_stream_and_chain(oai):
    first = oai.responses.create(
        model="glm-4", input="What is 2 + 2? Answer with one number.", temperature=0, max_output_tokens=8
    )
    assert first.status in ("completed", "incomplete") and "4" in first.output_text
    assert first.usage.input_tokens > 10 and 0 < first.usage.output_tokens <= 8
    events = list(
        oai.responses.create(
            model="glm-4",
            input="And times 3?",
            previous_response_id=first.id,
            temperature=0,
            max_output_tokens=8,
            stream=True,
        )
    )
    final = events[-1].response
    assert final.usage.input_tokens > first.usage.input_tokens  # the chain is in the prompt
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text


def test_responses_forced_function_call(oai):
    response = oai.responses.create(
        model="glm-4",
        input="What's the weather in Paris?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        temperature=0,
        max_output_tokens=48,
    )
    call = next(item for item in response.output if item.type == "function_call")
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)


def test_messages_text(real_model_server):
    client = Anthropic(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.base_url, max_retries=0
    )
    message = client.messages.create(
        model="glm-4",
        max_tokens=8,
        extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "What is 2 + 2? Answer with one number."}],
    )
    assert "4" in message.content[0].text
    assert message.usage.input_tokens > 10 and message.stop_reason in ("end_turn", "max_tokens")
    counted = client.messages.count_tokens(
        model="glm-4", messages=[{"role": "user", "content": "What is 2 + 2? Answer with one number."}]
    )
    assert counted.input_tokens == message.usage.input_tokens


def test_assistant_conversation(real_model_server):
    tenant = real_model_server.tenant
    created = httpx.post(
        f"{real_model_server.zhipu_base}/assistants",
        headers=tenant.headers,
        json={"name": "math", "model": "glm-4", "instructions": "Answer with a single number."},
    ).json()
    client = ZhipuAI(api_key=tenant.api_key, base_url=real_model_server.zhipu_base, max_retries=0)
    answer = client.assistant.conversation(
        assistant_id=created["id"],
        messages=[{"role": "user", "content": [{"type": "text", "text": "2 + 2 = ?"}]}],
    )
    assert "4" in answer.choices[0].delta.content and answer.usage.prompt_tokens > 5
