"""Today's GLM chat surface through the real SDKs (zhipuai, zai-sdk, openai) on a live server:
thinking and `reasoning_content` (stream and not) from the fake engine's `<think>` tags and
from a stub vLLM-style upstream, preserved thinking across turns, `tool_stream`, image parts
reaching a vision upstream intact, and the 400/1214 answers to bad input."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI
from zai import ZhipuAiClient
from zhipuai import ZhipuAI

from openmaas.config import ModelConfig, Settings, ThinkingConfig
from openmaas.engines.fake import FakeChatEngine
from tests.conftest import (
    LiveServer,
    Tenant,
    add_tenant,
    fake_embeddings,
    fake_models,
    start_live_server,
    with_fake_prices,
)
from tests.sdk._stub_upstream import ANSWER, REASONING, TOOL_ARGUMENTS, StubUpstream

THINKER = "fake-think"
SCRIPT = "<think>\nLet me think: 6 times 7.\n</think>\n\nThe answer is 42."
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def upstream_model(name: str, stub: StubUpstream, served: str, **extra) -> ModelConfig:
    return ModelConfig(
        name=name,
        engine="upstream",
        upstreams=[stub.url],
        upstream_model=served,
        options={"health_path": None},
        context_window=4096,
        max_output_tokens=256,
        **extra,
    )


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    server = StubUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, stub) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("thinking")
    models = [
        *fake_models(context_window=4096),
        ModelConfig(
            name=THINKER, engine="fake", context_window=4096, max_output_tokens=256, thinking=ThinkingConfig()
        ),
        upstream_model("stub-think", stub, "stub-think", thinking=ThinkingConfig(format="field")),
        upstream_model(
            "stub-think-new", stub, "stub-think-reasoning", thinking=ThinkingConfig(format="field")
        ),
        upstream_model("stub-vl", stub, "stub-vl", vision=True),
    ]
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=root / "data",
            database_url=f"sqlite:///{root / 'db.sqlite'}",
            models=models,
            embeddings=fake_embeddings(),
            job_poll_seconds=0.05,
            secret_key="test-secret",
        )
    )
    live = start_live_server(settings)
    yield live
    live.stop()


@pytest.fixture
def tenant(server) -> Tenant:
    return add_tenant(server.services, f"think-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def thinker(server) -> Iterator[FakeChatEngine]:
    engine = server.services.catalog.resolve(THINKER).engine
    yield engine
    engine._scripted.clear()


@pytest.fixture
def plain(server) -> Iterator[FakeChatEngine]:
    engine = server.services.catalog.resolve("fake-chat").engine
    yield engine
    engine._scripted.clear()


@pytest.fixture
def zhipu(server, tenant) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=tenant.api_key, base_url=server.zhipu_base, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def zai(server, tenant) -> Iterator[ZhipuAiClient]:
    client = ZhipuAiClient(api_key=tenant.api_key, base_url=server.zhipu_base, max_retries=0)
    yield client


@pytest.fixture
def oai(server, tenant) -> Iterator[OpenAI]:
    client = OpenAI(api_key=tenant.api_key, base_url=server.openai_base, max_retries=0)
    yield client
    client.close()


def ask(text: str = "What is 6 times 7?") -> list[dict]:
    return [{"role": "user", "content": text}]


def split_stream(chunks, reasoning_field: str = "reasoning_content") -> tuple[str, str, list[str]]:
    """(reasoning, content, the order of kinds) of a chat stream."""
    reasoning, content, order = "", "", []
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if piece := getattr(delta, reasoning_field, None):
            reasoning += piece
            order.append("reasoning")
        if delta.content:
            content += delta.content
            order.append("content")
    return reasoning, content, order


def assert_reasoning_first(order: list[str]) -> None:
    assert "reasoning" in order and "content" in order
    assert order.index("content") > max(i for i, kind in enumerate(order) if kind == "reasoning")


def reasoning_tokens(usage) -> int:
    details = usage.completion_tokens_details
    return details["reasoning_tokens"] if isinstance(details, dict) else details.reasoning_tokens


# --- (a) the fake engine's <think> tags ----------------------------------------------------------
@pytest.mark.parametrize("client", ["zhipu", "zai", "oai"])
def test_reasoning_content_non_stream_from_think_tags(request, client, thinker):
    thinker.enqueue(SCRIPT)
    sdk = request.getfixturevalue(client)
    extra = (
        {"extra_body": {"thinking": {"type": "enabled"}}}
        if client == "oai"
        else {"thinking": {"type": "enabled"}}
    )
    response = sdk.chat.completions.create(model=THINKER, messages=ask(), **extra)
    message = response.choices[0].message
    assert message.reasoning_content == "Let me think: 6 times 7."
    assert message.content == "The answer is 42."
    assert 0 < reasoning_tokens(response.usage) < response.usage.completion_tokens


@pytest.mark.parametrize("client", ["zhipu", "zai", "oai"])
def test_reasoning_content_streams_before_the_answer(request, client, thinker):
    thinker.enqueue(SCRIPT)
    sdk = request.getfixturevalue(client)
    stream = sdk.chat.completions.create(model=THINKER, messages=ask(), stream=True)
    reasoning, content, order = split_stream(stream)
    assert reasoning == "Let me think: 6 times 7."
    assert content == "The answer is 42."
    assert_reasoning_first(order)
    assert order.count("reasoning") > 3  # the tags were split across tokens, the thought streamed


def test_openai_surface_also_names_it_reasoning(oai, thinker):
    thinker.enqueue(SCRIPT, SCRIPT)
    message = oai.chat.completions.create(model=THINKER, messages=ask()).choices[0].message
    assert message.reasoning == message.reasoning_content == "Let me think: 6 times 7."
    reasoning, _, order = split_stream(
        oai.chat.completions.create(model=THINKER, messages=ask(), stream=True), "reasoning"
    )
    assert reasoning == "Let me think: 6 times 7." and order[0] == "reasoning"


def test_thinking_disabled_gives_no_reasoning(zai, thinker):
    thinker.enqueue("<think>\n\n</think>\n\nJust 42.")
    response = zai.chat.completions.create(model=THINKER, messages=ask(), thinking={"type": "disabled"})
    assert response.choices[0].message.reasoning_content is None
    assert response.choices[0].message.content == "Just 42."
    assert thinker.prompts[-1].text.endswith("/no_think")


def test_a_model_that_cannot_think_answers_normally(zhipu, plain):
    plain.enqueue("<think>not a thinker</think> plain answer")
    response = zhipu.chat.completions.create(model="glm-4", messages=ask(), thinking={"type": "enabled"})
    message = response.choices[0].message
    assert message.reasoning_content is None
    assert message.content == "<think>not a thinker</think> plain answer"
    assert reasoning_tokens(response.usage) == 0


def test_reasoning_effort_none_switches_thinking_off(oai, thinker):
    thinker.enqueue("<think>hidden</think>Fine.")
    message = (
        oai.chat.completions.create(model=THINKER, messages=ask(), reasoning_effort="none").choices[0].message
    )
    assert message.reasoning_content is None and message.content == "Fine."


# --- preserved thinking ---------------------------------------------------------------------------
def history(reasoning: str) -> list[dict]:
    return [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer", "reasoning_content": reasoning},
        {"role": "user", "content": "second question"},
    ]


def test_preserved_thinking_reaches_the_prompt_only_when_kept(zai, thinker):
    thinker.enqueue("<think>again</think>ok", "<think>again</think>ok")
    zai.chat.completions.create(
        model=THINKER,
        messages=history("EARLIER-THOUGHT"),
        thinking={"type": "enabled", "clear_thinking": False},
    )
    assert "<think>EARLIER-THOUGHT</think>" in thinker.prompts[-1].text
    zai.chat.completions.create(
        model=THINKER, messages=history("EARLIER-THOUGHT"), thinking={"type": "enabled"}
    )
    assert "EARLIER-THOUGHT" not in thinker.prompts[-1].text


def test_preserved_thinking_goes_to_the_upstream(zhipu, stub):
    zhipu.chat.completions.create(
        model="stub-think", messages=history("KEPT"), thinking={"type": "enabled", "clear_thinking": False}
    )
    sent = stub.requests[-1]["messages"]
    assert sent[1]["reasoning_content"] == "KEPT"
    zhipu.chat.completions.create(model="stub-think", messages=history("KEPT"), thinking={"type": "enabled"})
    assert "reasoning_content" not in stub.requests[-1]["messages"][1]


def test_multi_turn_with_the_answer_sent_back(zai, thinker):
    thinker.enqueue(SCRIPT)
    first = zai.chat.completions.create(model=THINKER, messages=ask()).choices[0].message
    thinker.enqueue("<think>second thought</think>Second answer.")
    turn2 = [
        *ask(),
        {"role": "assistant", "content": first.content, "reasoning_content": first.reasoning_content},
        {"role": "user", "content": "and 6 times 8?"},
    ]
    second = zai.chat.completions.create(
        model=THINKER, messages=turn2, thinking={"type": "enabled", "clear_thinking": False}
    )
    assert second.choices[0].message.reasoning_content == "second thought"
    assert f"<think>{first.reasoning_content}</think>" in thinker.prompts[-1].text


# --- (b) a vLLM-style upstream -------------------------------------------------------------------
@pytest.mark.parametrize("model", ["stub-think", "stub-think-new"])
def test_upstream_reasoning_non_stream(oai, stub, model):
    response = oai.chat.completions.create(model=model, messages=ask(), reasoning_effort="high")
    message = response.choices[0].message
    assert message.reasoning_content == "".join(REASONING)
    assert message.content == "".join(ANSWER)
    assert reasoning_tokens(response.usage) == len(REASONING)
    sent = stub.requests[-1]
    assert sent["chat_template_kwargs"] == {"enable_thinking": True} and sent["reasoning_effort"] == "high"


@pytest.mark.parametrize("client", ["zhipu", "zai", "oai"])
def test_upstream_reasoning_streams(request, client, stub):
    sdk = request.getfixturevalue(client)
    stream = sdk.chat.completions.create(model="stub-think-new", messages=ask(), stream=True)
    reasoning, content, order = split_stream(stream)
    assert (reasoning, content) == ("".join(REASONING), "".join(ANSWER))
    assert_reasoning_first(order)


def test_upstream_thinking_switch_is_forwarded(zhipu, stub):
    response = zhipu.chat.completions.create(
        model="stub-think", messages=ask(), thinking={"type": "disabled"}
    )
    assert stub.requests[-1]["chat_template_kwargs"] == {"enable_thinking": False}
    assert response.choices[0].message.reasoning_content is None


# --- tool_stream ---------------------------------------------------------------------------------
def collect_tool_stream(chunks) -> tuple[dict[int, dict], int, str]:
    calls: dict[int, dict] = {}
    argument_deltas, reasoning = 0, ""
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning += getattr(delta, "reasoning_content", None) or ""
        for call in delta.tool_calls or []:
            slot = calls.setdefault(call.index, {"ids": set(), "name": "", "arguments": ""})
            if call.id:
                slot["ids"].add(call.id)
            if call.function is not None:
                slot["name"] += call.function.name or ""
                if call.function.arguments:
                    slot["arguments"] += call.function.arguments
                    argument_deltas += 1
    return calls, argument_deltas, reasoning


def test_tool_stream_from_the_fake_engine(zai, thinker):
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Beijing", "days": 3}}\n</tool_call>'
    thinker.enqueue(f"<think>I need the weather.</think>{call}", call)  # the second: the grammar run
    stream = zai.chat.completions.create(
        model=THINKER,
        messages=ask("Weather in Beijing?"),
        tools=[WEATHER_TOOL],
        stream=True,
        tool_stream=True,
    )
    calls, argument_deltas, reasoning = collect_tool_stream(stream)
    assert reasoning == "I need the weather."
    assert list(calls) == [0] and calls[0]["name"] == "get_weather" and len(calls[0]["ids"]) == 1
    assert json.loads(calls[0]["arguments"]) == {"city": "Beijing", "days": 3}
    assert argument_deltas > 3  # streamed in pieces, not whole


def test_tool_stream_from_an_upstream(oai):
    stream = oai.chat.completions.create(
        model="stub-think",
        messages=ask("Weather?"),
        tools=[WEATHER_TOOL],
        stream=True,
        extra_body={"tool_stream": True},
    )
    calls, argument_deltas, reasoning = collect_tool_stream(stream)
    assert reasoning == "".join(REASONING)
    assert calls[0]["arguments"] == "".join(TOOL_ARGUMENTS)
    assert json.loads(calls[0]["arguments"]) == {"city": "Beijing", "days": 3}
    assert argument_deltas >= len(TOOL_ARGUMENTS) - 1 and len(calls[0]["ids"]) == 1


def test_without_tool_stream_the_call_comes_whole(zai, thinker):
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    thinker.enqueue(call)
    stream = zai.chat.completions.create(
        model=THINKER, messages=ask("Weather in Paris?"), tools=[WEATHER_TOOL], stream=True
    )
    calls, argument_deltas, _ = collect_tool_stream(stream)
    assert argument_deltas == 1 and json.loads(calls[0]["arguments"]) == {"city": "Paris"}


# --- images ---------------------------------------------------------------------------------------
def image_message(url: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in the picture?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_image_parts_reach_the_vision_upstream_intact(oai, zhipu, stub):
    url = "https://images.example/cat.png?sig=a%2Fb&x=1"
    answer = oai.chat.completions.create(model="stub-vl", messages=image_message(url))
    assert answer.choices[0].message.content == "I see 1 image(s)."
    assert stub.requests[-1]["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": url}}
    # the Zhipu SDKs strip the data-URL prefix; the upstream gets a data URL with the same bytes
    zhipu.chat.completions.create(model="stub-vl", messages=image_message(f"data:image/png;base64,{PNG}"))
    assert (
        stub.requests[-1]["messages"][0]["content"][1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    )
    assert stub.requests[-1]["messages"][0]["content"][0] == {
        "type": "text",
        "text": "What is in the picture?",
    }


# --- bad input ---------------------------------------------------------------------------------------
def post(server: LiveServer, tenant: Tenant, body: dict, openai: bool = False) -> httpx.Response:
    base = server.openai_base if openai else server.zhipu_base
    return httpx.post(f"{base}/chat/completions", json=body, headers=tenant.headers, timeout=30)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model": THINKER, "thinking": {"type": "auto"}}, "thinking.type"),
        ({"model": THINKER, "thinking": {}}, "thinking.type"),
        (
            {"model": THINKER, "thinking": {"type": "enabled", "clear_thinking": "no"}},
            "thinking.clear_thinking",
        ),
        ({"model": THINKER, "reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"model": "glm-4", "messages": image_message("https://x.example/a.png")}, "messages[0].content[1]"),
        (
            {"model": "stub-vl", "messages": image_message("file:///etc/passwd")},
            "messages[0].content[1].image_url.url",
        ),
        (
            {"model": "stub-vl", "messages": image_message("bm90IGFuIGltYWdl")},
            "messages[0].content[1].image_url.url",
        ),
        (
            {"model": "stub-vl", "messages": [{"role": "user", "content": [{"type": "audio", "x": 1}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "stub-vl", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].image_url",
        ),
    ],
)
@pytest.mark.parametrize("openai", [False, True])
def test_bad_input_is_1214_naming_the_field(server, tenant, body, field, openai):
    response = post(server, tenant, {"messages": ask(), **body}, openai)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert str(error["code"]) == "1214" and field in error["message"]


def test_oversized_base64_image_is_1214(server, tenant):
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(6 * 1024 * 1024)).decode()
    response = post(server, tenant, {"model": "stub-vl", "messages": image_message(big)})
    assert response.status_code in (400, 413)
    assert response.json()["error"]["code"] in ("1214", "1210")


def test_todays_extra_fields_are_accepted(server, tenant, plain):
    plain.enqueue("ok")
    body = {
        "model": "glm-4",
        "messages": ask(),
        "do_sample": False,
        "watermark_enabled": True,
        "sensitive_word_check": {"type": "ALL", "status": "DISABLE"},
        "request_id": f"req-{uuid.uuid4().hex}",
        "user_id": "user-123456",
        "tool_stream": True,
        "meta": None,
    }
    response = post(server, tenant, body)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == body["request_id"]
