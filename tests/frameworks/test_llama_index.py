"""llama-index's OpenAI LLM and embeddings (llama-index-llms-openai, -embeddings-openai) on /v1.

Both refuse model names OpenAI does not have before sending anything, so the server here
serves its fake models under OpenAI names too (catalog aliases, as an operator would set).
"""

from __future__ import annotations

import json

import openai
import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI
from pydantic import BaseModel

from tests.frameworks.conftest import ONE_LOOP, OPENAI_CHAT_NAME, OPENAI_EMBEDDING_NAME, tool_call_text


class Song(BaseModel):
    title: str
    year: int


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 24C in {city}."


def llama_llm(fw_server, key: str) -> OpenAI:
    return OpenAI(model=OPENAI_CHAT_NAME, api_base=fw_server.openai_base, api_key=key, max_retries=0)


@pytest.fixture
def llm(fw_server, tenant) -> OpenAI:
    return llama_llm(fw_server, tenant.api_key)


def test_chat_complete_and_stream(llm, engine):
    engine.enqueue("Hello from llama-index.", "Completed.", "One two three.")
    reply = llm.chat(
        [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="hi")]
    )
    assert reply.message.content == "Hello from llama-index."
    assert reply.raw.usage.completion_tokens > 0
    assert llm.complete("hi").text == "Completed."
    deltas = [chunk.delta for chunk in llm.stream_chat([ChatMessage(role="user", content="count")])]
    assert "".join(d or "" for d in deltas) == "One two three." and len(deltas) > 1


def test_tool_call_round_trip(llm, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}))
    tool = FunctionTool.from_defaults(fn=get_weather)
    response = llm.predict_and_call([tool], "Weather in Paris?")
    assert response.response == "Sunny and 24C in Paris."


def test_structured_predict(llm, engine):
    engine.enqueue(tool_call_text("Song", {"title": "Imagine", "year": 1971}))
    song = llm.structured_predict(Song, PromptTemplate("A song by {artist}"), artist="John Lennon")
    assert song == Song(title="Imagine", year=1971)


def test_as_structured_llm(llm, engine):
    engine.enqueue(tool_call_text("Song", {"title": "Yesterday", "year": 1965}))
    reply = llm.as_structured_llm(Song).chat([ChatMessage(role="user", content="A Beatles song")])
    assert json.loads(reply.message.content) == {"title": "Yesterday", "year": 1965}


@ONE_LOOP
async def test_function_agent(llm, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Oslo"}), "It is sunny in Oslo.")
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=get_weather)],
        llm=llm,
        system_prompt="You answer weather questions.",
    )
    result = await agent.run("Weather in Oslo?")
    assert str(result) == "It is sunny in Oslo."
    assert "Sunny and 24C in Oslo." in engine.prompts[-1].text


@ONE_LOOP
async def test_async_chat_and_stream(llm, engine):
    engine.enqueue("async hi", "async stream")
    assert (await llm.achat([ChatMessage(role="user", content="hi")])).message.content == "async hi"
    stream = await llm.astream_chat([ChatMessage(role="user", content="hi")])
    parts = [chunk.delta async for chunk in stream]
    assert "".join(p or "" for p in parts) == "async stream"


def test_embeddings(fw_server, tenant):
    model = OpenAIEmbedding(
        model=OPENAI_EMBEDDING_NAME, api_base=fw_server.openai_base, api_key=tenant.api_key, max_retries=0
    )
    texts = model.get_text_embedding_batch(["the cat sat", "a dog ran"])
    assert len(texts) == 2 and all(len(v) == 64 for v in texts)
    assert len(model.get_query_embedding("the cat sat")) == 64


def test_bad_key(fw_server, engine):
    with pytest.raises(openai.AuthenticationError):
        llama_llm(fw_server, "not-a-key.secret").complete("hi")
