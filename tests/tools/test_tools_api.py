"""Tools, structured output, role-play and web_search through the API (fake engine, real SDKs)."""

from __future__ import annotations

import json

import httpx
from openai import OpenAI
from zhipuai import ZhipuAI

from openmaas.search.providers import SearxNGProvider
from tests.tools.test_tool_parsing import SEARCH, WEATHER

ZHIPU = "/api/paas/v4/chat/completions"
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>'
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]


def post(harness, body):
    return harness.client.post(ZHIPU, json={"model": "glm-4"} | body, headers=harness.tenant.headers)


def test_tool_call_response_shape(harness):
    harness.fake_engine().enqueue(CALL)
    data = post(harness, {"messages": ASK, "tools": [WEATHER, SEARCH], "tool_choice": "auto"}).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "c"}
    assert choice["message"]["content"] is None


def test_tools_reach_the_prompt_and_text_answers_stream(harness):
    engine = harness.fake_engine()
    engine.enqueue("Hello there, no tools needed.")
    data = post(harness, {"messages": ASK, "tools": [WEATHER]}).json()
    assert data["choices"][0]["message"]["content"] == "Hello there, no tools needed."
    assert data["choices"][0]["finish_reason"] == "stop"


def test_invalid_call_is_retried_under_the_grammar(harness):
    engine = harness.fake_engine()
    engine.enqueue('<tool_call>\n{"name": "get_weather", "arguments": {"town": 1}}\n</tool_call>', CALL)
    data = post(harness, {"messages": ASK, "tools": [WEATHER]}).json()
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert engine.generations == 2


def test_next_turn_with_tool_results(harness):
    first = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    second = {
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    messages = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [first, second]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "call_2", "content": '{"temp": 25}'},
    ]
    engine = harness.fake_engine()
    engine.enqueue(CALL.replace("Paris", "Oslo"))  # a city not asked yet: a fresh call is allowed
    data = post(harness, {"messages": messages, "tools": [WEATHER]}).json()
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    engine.enqueue(CALL, "It is 21°C in Paris and 25°C in Rome.")  # same city again: answer in text
    data = post(harness, {"messages": messages, "tools": [WEATHER]}).json()
    assert data["choices"][0]["message"]["content"] == "It is 21°C in Paris and 25°C in Rome."
    assert "<|tool|>" in engine.prompts[-1].text


def test_tool_input_errors_are_1214_naming_the_field(harness):
    bad = {"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}
    cases = [
        ({"messages": ASK, "tools": [bad]}, "tools[0].function.parameters"),
        ({"messages": ASK, "tools": [WEATHER], "tool_choice": "no_such_tool"}, "tool_choice"),
        (
            {"messages": ASK + [{"role": "tool", "tool_call_id": "call_x", "content": "1"}]},
            "messages[1].tool_call_id",
        ),
        ({"messages": ASK, "tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
        ({"messages": ASK, "response_format": {"type": "xml"}}, "response_format.type"),
    ]
    for body, field in cases:
        response = post(harness, body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "1214" and field in error["message"], (field, error)


def test_json_object_output(harness):
    harness.fake_engine().enqueue('{"answer": 42}')
    data = post(harness, {"messages": ASK, "response_format": {"type": "json_object"}}).json()
    assert json.loads(data["choices"][0]["message"]["content"]) == {"answer": 42}


def test_roleplay_meta_becomes_the_system_prompt(harness):
    engine = harness.fake_engine()
    meta = {
        "user_info": "我是陆星辰，是一个男性，是一位知名导演",
        "bot_info": "苏梦远，一位歌手",
        "bot_name": "苏梦远",
        "user_name": "陆星辰",
    }
    response = post(
        harness, {"model": "glm-4", "messages": [{"role": "user", "content": "你好"}], "meta": meta}
    )
    assert response.status_code == 200
    assert "苏梦远" in engine.prompts[-1].text and "陆星辰" in engine.prompts[-1].text
    missing = post(harness, {"messages": ASK, "meta": {k: v for k, v in meta.items() if k != "bot_name"}})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "1213"


def test_web_search_without_provider_is_a_clear_error(harness):
    tool = {"type": "web_search", "web_search": {"enable": True, "search_query": "news"}}
    response = post(harness, {"messages": ASK, "tools": [tool]})
    assert response.status_code == 400
    assert "web search provider" in response.json()["error"]["message"]
    off = {"type": "web_search", "web_search": {"enable": "False"}}
    assert post(harness, {"messages": ASK, "tools": [off]}).status_code == 200


def test_web_search_results_reach_prompt_and_answer(harness):
    seen = []

    def searx(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["q"])
        return httpx.Response(
            200,
            json={
                "results": [
                    {"title": "OpenMaaS 1.0 released", "url": "https://example.org/a", "content": "It ships."}
                ]
            },
        )

    harness.services.search = SearxNGProvider("http://searx.test", transport=httpx.MockTransport(searx))
    harness.services.billing.admin_credit("admin", harness.tenant.account_id, 100_000, "searches cost cash")
    engine = harness.fake_engine()
    engine.enqueue("It shipped [1].")
    tool = {"type": "web_search", "web_search": {"enable": "True", "count": "3"}}
    data = post(harness, {"messages": ASK, "tools": [tool]}).json()
    assert seen == ["What's the weather in Paris?"]
    assert data["web_search"][0]["title"] == "OpenMaaS 1.0 released"
    assert "OpenMaaS 1.0 released" in engine.prompts[-1].text


def test_streamed_tool_call_deltas_with_both_sdks(live_server):
    engine = live_server.services.catalog.resolve("fake-chat").engine
    engine.enqueue(CALL, CALL)
    zhipu = ZhipuAI(api_key=live_server.tenant.api_key, base_url=live_server.zhipu_base, max_retries=0)
    chunks = list(zhipu.chat.completions.create(model="glm-4", messages=ASK, tools=[WEATHER], stream=True))
    [call] = chunks[0].choices[0].delta.tool_calls
    assert call.index == 0 and call.function.name == "get_weather" and call.id.startswith("call_")
    assert chunks[-1].choices[0].finish_reason == "tool_calls" and chunks[-1].usage.total_tokens > 0
    openai = OpenAI(api_key=live_server.tenant.api_key, base_url=live_server.openai_base, max_retries=0)
    stream = openai.chat.completions.create(
        model="glm-4",
        messages=ASK,
        tools=[WEATHER],
        stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    deltas = [c.choices[0] for c in stream if c.choices]
    assert json.loads(deltas[0].delta.tool_calls[0].function.arguments)["city"] == "Paris"
    assert deltas[-1].finish_reason == "tool_calls"
