"""Tool calling, structured output and role-play on the real 0.5B Qwen through the zhipuai SDK."""

from __future__ import annotations

import json

import jsonschema
import pytest
from openai import OpenAI
from zhipuai import ZhipuAI

from tests.tools.test_tool_parsing import WEATHER

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zhipu(real_model_server):
    return ZhipuAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.zhipu_base, max_retries=0
    )


def test_tool_call_then_answer_from_the_result(zhipu):
    messages = [{"role": "user", "content": "北京今天天气怎么样？"}]
    first = zhipu.chat.completions.create(
        model="glm-4", messages=messages, tools=[WEATHER], temperature=0.01, max_tokens=96
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    arguments = json.loads(call.function.arguments)
    assert call.function.name == "get_weather" and "北京" in arguments["city"]
    messages += [
        choice.message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"city": "北京", "weather": "晴", "temperature_c": 23}, ensure_ascii=False),
        },
    ]
    second = zhipu.chat.completions.create(
        model="glm-4", messages=messages, tools=[WEATHER], temperature=0.01, max_tokens=64
    )
    answer = second.choices[0]
    assert answer.finish_reason in ("stop", "length") and not answer.message.tool_calls
    assert "23" in answer.message.content or "晴" in answer.message.content


def test_required_tool_choice_always_yields_a_valid_call(real_model_server):
    client = OpenAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.openai_base, max_retries=0
    )
    response = client.chat.completions.create(
        model="glm-4",
        messages=[{"role": "user", "content": "Tell me a joke."}],
        tools=[WEATHER],
        tool_choice="required",
        temperature=0,
        max_tokens=64,
    )
    [call] = response.choices[0].message.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def test_json_schema_output_parses_and_matches(real_model_server):
    client = OpenAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.openai_base, max_retries=0
    )
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    response = client.chat.completions.create(
        model="glm-4",
        temperature=0,
        max_tokens=64,
        messages=[{"role": "user", "content": "Make up a person with a name and an age."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    jsonschema.validate(json.loads(response.choices[0].message.content), schema)


def test_roleplay_on_charglm_alias(zhipu):
    response = zhipu.chat.completions.create(
        model="charglm-3",
        max_tokens=32,
        messages=[{"role": "user", "content": "你是谁？"}],
        meta={
            "user_info": "我是一位导演",
            "bot_info": "苏梦远，一位温柔的歌手",
            "bot_name": "苏梦远",
            "user_name": "陆星辰",
        },
    )
    assert response.choices[0].message.content.strip()
