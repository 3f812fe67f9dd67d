"""langchain-openai (ChatOpenAI, OpenAIEmbeddings) against both surfaces, unmodified but for
`base_url` and the key: what a LangChain user writes on day one."""

from __future__ import annotations

import json

import openai
import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel, Field

from tests.conftest import FAKE_EMBEDDING_MODEL
from tests.frameworks.conftest import ONE_LOOP, TOO_LONG, tool_call_text


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str = Field(description="the person's name")
    age: int


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 24C in {city}."


@pytest.fixture(params=["openai", "zhipu"])
def base_url(request, fw_server) -> str:
    return fw_server.openai_base if request.param == "openai" else fw_server.zhipu_base


def chat(base_url: str, key: str, **kwargs) -> ChatOpenAI:
    return ChatOpenAI(model="glm-4", base_url=base_url, api_key=key, max_retries=0, **kwargs)


def test_invoke_reports_text_and_usage(base_url, tenant, engine):
    engine.enqueue("Hello from OpenMaaS.")
    reply = chat(base_url, tenant.api_key).invoke("Say hello")
    assert reply.content == "Hello from OpenMaaS."
    assert reply.usage_metadata["output_tokens"] > 0 and reply.usage_metadata["input_tokens"] > 0
    assert reply.response_metadata["finish_reason"] == "stop"


def test_stream_with_usage(base_url, tenant, engine):
    engine.enqueue("One two three four.")
    chunks = list(chat(base_url, tenant.api_key, stream_usage=True).stream("Count"))
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert isinstance(whole, AIMessageChunk)
    assert whole.content == "One two three four."
    assert len([c for c in chunks if c.content]) > 1  # streamed, not one block
    assert whole.usage_metadata["output_tokens"] > 0 and whole.usage_metadata["total_tokens"] > 0


@ONE_LOOP
async def test_async_invoke_and_stream(base_url, tenant, engine):
    engine.enqueue("async hello", "async stream")
    model = chat(base_url, tenant.api_key)
    assert (await model.ainvoke("hi")).content == "async hello"
    parts = [chunk.content async for chunk in model.astream("hi")]
    assert "".join(parts) == "async stream"


def test_bind_tools_round_trip(base_url, tenant, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "It is sunny in Paris.")
    model = chat(base_url, tenant.api_key).bind_tools([get_weather])
    history = [HumanMessage("What's the weather in Paris?")]
    asked = model.invoke(history)
    assert [(c["name"], c["args"]) for c in asked.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert asked.tool_calls[0]["id"]
    call = asked.tool_calls[0]
    history += [asked, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    answer = model.invoke(history)
    assert answer.content == "It is sunny in Paris." and not answer.tool_calls
    assert "Sunny and 24C in Paris." in engine.prompts[-1].text  # the tool result reached the model


def test_streamed_tool_call(base_url, tenant, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Oslo"}))
    model = chat(base_url, tenant.api_key).bind_tools([get_weather], tool_choice="get_weather")
    whole = None
    for chunk in model.stream("Weather in Oslo?"):
        whole = chunk if whole is None else whole + chunk
    assert [(c["name"], c["args"]) for c in whole.tool_calls] == [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize("method", [None, "json_schema", "function_calling", "json_mode"])
def test_with_structured_output(base_url, tenant, engine, method):
    answer = {"name": "Ada", "age": 36}
    engine.enqueue(tool_call_text("Person", answer) if method == "function_calling" else json.dumps(answer))
    kwargs = {} if method is None else {"method": method}
    model = chat(base_url, tenant.api_key).with_structured_output(Person, **kwargs)
    assert model.invoke("Ada is 36.") == Person(name="Ada", age=36)


def test_structured_output_include_raw(base_url, tenant, engine):
    engine.enqueue('{"name": "Bo", "age": 7}')
    result = chat(base_url, tenant.api_key).with_structured_output(Person, include_raw=True).invoke("Bo, 7")
    assert result["parsed"] == Person(name="Bo", age=7) and result["parsing_error"] is None


def test_bad_key_is_authentication_error(base_url, engine):
    with pytest.raises(openai.AuthenticationError):
        chat(base_url, "not-a-key.secret").invoke("hi")


def test_context_overflow_is_recognised(base_url, tenant, engine):
    """LangChain's agents trim history on a ContextOverflowError; it tells one by its wording."""
    with pytest.raises(ContextOverflowError):
        chat(base_url, tenant.api_key).invoke(TOO_LONG)


def test_unknown_model_is_not_found(base_url, tenant, engine):
    model = ChatOpenAI(model="no-such-model", base_url=base_url, api_key=tenant.api_key, max_retries=0)
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)):
        model.invoke("hi")


# --- embeddings ---------------------------------------------------------------------------
def embedder(base_url: str, key: str, **kwargs) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        model=FAKE_EMBEDDING_MODEL, base_url=base_url, api_key=key, max_retries=0, **kwargs
    )


def test_embeddings_raw_text(base_url, tenant):
    emb = embedder(base_url, tenant.api_key, check_embedding_ctx_length=False)
    docs = emb.embed_documents(["the cat sat", "a dog ran"])
    assert len(docs) == 2 and all(len(v) == 64 for v in docs)
    assert emb.embed_query("the cat sat") == pytest.approx(docs[0], abs=1e-6)


def test_embeddings_default_sends_token_arrays(base_url, tenant, tiktoken_offline):
    """The default (check_embedding_ctx_length=True) tokenizes with tiktoken's cl100k_base and
    sends token-id arrays, as OpenAI's API takes them."""
    plain = embedder(base_url, tenant.api_key, check_embedding_ctx_length=False)
    default = embedder(base_url, tenant.api_key)
    vectors = default.embed_documents(["the cat sat", "a dog ran"])
    assert len(vectors) == 2 and all(len(v) == 64 for v in vectors)
    # the server decodes the ids back to the same text: the same vectors as the text itself
    assert vectors[0] == pytest.approx(plain.embed_query("the cat sat"), abs=1e-5)


@ONE_LOOP
async def test_async_embeddings(base_url, tenant, tiktoken_offline):
    vectors = await embedder(base_url, tenant.api_key).aembed_documents(["one", "two", "three"])
    assert len(vectors) == 3 and all(len(v) == 64 for v in vectors)


def test_embeddings_many_documents(base_url, tenant, tiktoken_offline):
    """LangChain sends up to 1000 texts a request (llama-index 100): more than Zhipu's 64."""
    vectors = embedder(base_url, tenant.api_key).embed_documents([f"document number {i}" for i in range(150)])
    assert len(vectors) == 150 and all(len(v) == 64 for v in vectors)


def test_embeddings_bad_key(base_url):
    with pytest.raises(openai.AuthenticationError):
        embedder(base_url, "not-a-key.secret", check_embedding_ctx_length=False).embed_query("x")
