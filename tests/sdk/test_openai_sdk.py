"""The unmodified `openai` SDK against the /v1 surface of a live server (fake engine)."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from openmaas.engines.fake import fake_tokenize

HELLO = [{"role": "user", "content": "Say hello"}]


def test_create(engine, oai):
    engine.enqueue("Hello from the fake engine.")
    completion = oai.chat.completions.create(model="glm-4", messages=HELLO)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "glm-4"
    choice = completion.choices[0]
    assert choice.message.content == "Hello from the fake engine."
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert completion.usage.completion_tokens == len(fake_tokenize("Hello from the fake engine."))
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_with_include_usage(engine, oai):
    scripted = "One, two, three, four."
    engine.enqueue(scripted)
    chunks = list(
        oai.chat.completions.create(
            model="glm-4", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    content_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == scripted
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in content_chunks[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == len(fake_tokenize(scripted))
    assert usage_chunk.usage.prompt_tokens > 0
    assert {c.object for c in chunks} == {"chat.completion.chunk"}


def test_stream_without_include_usage_has_no_usage_only_chunk(engine, oai):
    engine.enqueue("a b")
    chunks = list(oai.chat.completions.create(model="glm-4", messages=HELLO, stream=True))
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_list(oai):
    models = {m.id: m for m in oai.models.list()}
    assert {"fake-chat", "glm-4", "glm-4-flash"} <= set(models)
    assert models["glm-4"].object == "model" and models["glm-4"].owned_by


def test_unknown_model_is_not_found_with_code(oai, engine):
    """404 as OpenAI answers it (its SDK raises NotFoundError only for a 404); the Zhipu
    surface keeps the platform's 400."""
    before = engine.generations
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="no-such-model", messages=HELLO)
    assert caught.value.status_code == 404
    assert caught.value.code == "1211"
    assert caught.value.param == "model"
    assert caught.value.type == "invalid_request_error"
    assert engine.generations == before


def test_prompt_over_window_is_1261(oai):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "word " * 400}])
    assert caught.value.code == "1261"


def test_bad_key_is_authentication_error(sdk_server):
    client = OpenAI(api_key="nope.nope", base_url=sdk_server.openai_base, max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.models.list()
    finally:
        client.close()
    assert caught.value.status_code == 401 and caught.value.code == "1002"


@pytest.mark.parametrize("temperature", [0, 0.0, 1.7, 2])
def test_openai_temperature_range_is_accepted(engine, oai, temperature):
    engine.enqueue("fine")
    completion = oai.chat.completions.create(model="glm-4", messages=HELLO, temperature=temperature, top_p=1)
    assert completion.choices[0].message.content == "fine"


def test_temperature_over_two_is_rejected(oai):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="glm-4", messages=HELLO, temperature=2.5)
    assert caught.value.code == "1214"


def test_developer_role_and_max_completion_tokens(engine, oai):
    engine.enqueue("one two three four five")
    completion = oai.chat.completions.create(
        model="glm-4",
        max_completion_tokens=2,
        messages=[{"role": "developer", "content": "Be brief."}, *HELLO],
    )
    assert completion.choices[0].message.content == "one two"
    assert completion.choices[0].finish_reason == "length"
    assert "<|system|>Be brief." in engine.prompts[-1].text
