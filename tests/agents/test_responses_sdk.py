"""The unmodified `openai` SDK's Responses API against a live server (fake engine)."""

from __future__ import annotations

import json

import openai
import pytest
import sqlalchemy as sa
from openai import OpenAI

from openmaas.engines.fake import fake_tokenize
from openmaas.store.tables import StoredResponse, UsageRecord
from tests.agents.conftest import tool_call_text
from tests.sdk._support import wait_for

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def stored_count(server, account_id: str) -> int:
    with server.services.db.session() as session:
        return session.scalar(
            sa.select(sa.func.count())
            .select_from(StoredResponse)
            .where(StoredResponse.account_id == account_id)
        )


def test_create_text(oai, engine, agent_server, tenant):
    engine.enqueue("Hello from the fake engine.")
    response = oai.responses.create(model="glm-4", input="Say hello", instructions="Be brief.")
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.model == "glm-4"
    assert response.output_text == "Hello from the fake engine."
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert response.usage.output_tokens == len(fake_tokenize("Hello from the fake engine."))
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert "Be brief." in engine.prompts[-1].text  # instructions reach the model as the system turn
    usage = wait_for(lambda: _usage_row(agent_server, tenant.account_id))
    assert usage.endpoint == "responses" and usage.completion_tokens == response.usage.output_tokens


def _usage_row(server, account_id: str) -> UsageRecord | None:
    with server.services.db.session() as session:
        return session.scalar(sa.select(UsageRecord).where(UsageRecord.account_id == account_id))


def test_stream_event_sequence(oai, engine):
    engine.enqueue("One, two, three.")
    events = list(oai.responses.create(model="glm-4", input="Count", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "One, two, three."
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == "One, two, three."
    assert completed.usage.output_tokens == len(fake_tokenize("One, two, three."))


def test_stream_helper_accumulates(oai, engine):
    engine.enqueue("Streaming through the helper.")
    with oai.responses.stream(model="glm-4", input="Go") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "Streaming through the helper."


def test_function_tool_round_trip(oai, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "It is sunny in Paris.")
    first = oai.responses.create(model="glm-4", input="Weather in Paris?", tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    second = oai.responses.create(
        model="glm-4",
        previous_response_id=first.id,
        tools=[WEATHER_TOOL],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"sky": "sunny"}'}],
    )
    assert second.output_text == "It is sunny in Paris."
    assert second.previous_response_id == first.id
    prompt = engine.prompts[-1].text
    assert "Weather in Paris?" in prompt and '{"sky": "sunny"}' in prompt  # the chain reached the model


def test_function_call_stream_events(oai, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Oslo"}))
    events = list(oai.responses.create(model="glm-4", input="Oslo?", tools=[WEATHER_TOOL], stream=True))
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "Oslo"}
    assert events[-1].response.output[0].type == "function_call"


def test_manual_round_trip_without_store(oai, engine, agent_server, tenant):
    """The Agents-SDK style: the whole history in `input`, nothing stored."""
    engine.enqueue("Done.")
    response = oai.responses.create(
        model="glm-4",
        store=False,
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Rome"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "warm"},
        ],
    )
    assert response.output_text == "Done." and response.store is False
    assert stored_count(agent_server, tenant.account_id) == 0


def test_previous_response_id_carries_the_conversation(oai, engine):
    engine.enqueue("My name is Fake.", "You asked my name.")
    first = oai.responses.create(model="glm-4", input="What is your name?")
    second = oai.responses.create(model="glm-4", input="What did I ask?", previous_response_id=first.id)
    assert second.output_text == "You asked my name."
    prompt = engine.prompts[-1].text
    order = [prompt.index(text) for text in ("What is your name?", "My name is Fake.", "What did I ask?")]
    assert order == sorted(order)


def test_text_format_json_schema(oai, engine):
    engine.enqueue('{"city": "Paris", "population": 2100000}')
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    response = oai.responses.create(
        model="glm-4",
        input="Largest city of France as JSON",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )
    assert json.loads(response.output_text) == {"city": "Paris", "population": 2100000}
    assert response.text.format.type == "json_schema"


def test_retrieve_delete_and_input_items(oai, engine):
    engine.enqueue("Stored.")
    created = oai.responses.create(model="glm-4", input="Keep this", metadata={"topic": "tests"})
    fetched = oai.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == "Stored."
    assert fetched.metadata == {"topic": "tests"}
    items = oai.responses.input_items.list(created.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == "Keep this"
    oai.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(created.id)


def test_another_account_cannot_read_or_chain(oai, engine, agent_server, other_tenant):
    engine.enqueue("Private.")
    created = oai.responses.create(model="glm-4", input="Secret")
    intruder = OpenAI(api_key=other_tenant.api_key, base_url=agent_server.openai_base, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        intruder.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        intruder.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        intruder.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        intruder.responses.create(model="glm-4", input="More", previous_response_id=created.id)
    assert caught.value.body["param"] == "previous_response_id" and caught.value.body["code"] == "1214"
    assert stored_count(agent_server, other_tenant.account_id) == 0
    assert oai.responses.retrieve(created.id).output_text == "Private."  # still there for its owner


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"input": [{"type": "computer_call_output", "call_id": "x"}]}, "input[0].type"),
        ({"input": "hi", "previous_response_id": "resp_unknown"}, "previous_response_id"),
        (
            {"input": [{"type": "function_call_output", "call_id": "call_nowhere", "output": "x"}]},
            "input[0].call_id",
        ),
        ({"input": "hi", "tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
        (
            {"input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": 12}}}},
            "text.format",
        ),
        (
            {
                "input": "hi",
                "tools": [{"type": "mcp", "server_label": "x", "server_url": "http://evil.example/mcp"}],
            },
            "tools[0].server_url",
        ),
        (
            {
                "input": "hi",
                "tools": [
                    {"type": "mcp", "server_label": "x", "server_url": "http://a.example/mcp"},
                    {"type": "function", "name": "f"},
                ],
                "tool_choice": {"type": "mcp"},
            },
            "tool_choice",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_runs(oai, engine, agent_server, tenant, kwargs, param):
    before = engine.generations
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="glm-4", **kwargs)
    body = caught.value.body
    assert body["param"] == param and body["type"] == "invalid_request_error", body
    assert engine.generations == before
    assert stored_count(agent_server, tenant.account_id) == 0


def test_unknown_model_uses_the_platform_code(oai, engine):
    with pytest.raises(openai.NotFoundError) as caught:  # OpenAI's own answer: 404
        oai.responses.create(model="no-such-model", input="hi")
    assert caught.value.body["code"] == "1211"


def test_chains_survive_a_restart(tmp_path):
    """Stored responses are rows in the database: a new server process continues the chain."""
    from tests.agents.conftest import agent_settings
    from tests.conftest import FAKE_MODEL, add_tenant, start_live_server

    settings = agent_settings(tmp_path)
    first_server = start_live_server(settings)
    tenant = first_server.tenant
    first_server.services.catalog.resolve(FAKE_MODEL).engine.enqueue("Remembered: blue.")
    client = OpenAI(api_key=tenant.api_key, base_url=first_server.openai_base, max_retries=0)
    first = client.responses.create(model="glm-4", input="My colour is blue.")
    first_server.stop()  # shutdown commits what is still queued
    second_server = start_live_server(settings)
    try:
        engine = second_server.services.catalog.resolve(FAKE_MODEL).engine
        engine.enqueue("Blue.")
        client = OpenAI(api_key=tenant.api_key, base_url=second_server.openai_base, max_retries=0)
        second = client.responses.create(model="glm-4", input="Which colour?", previous_response_id=first.id)
        assert second.output_text == "Blue."
        prompt = engine.prompts[-1].text
        assert "My colour is blue." in prompt and "Remembered: blue." in prompt
        assert client.responses.retrieve(first.id).output_text == "Remembered: blue."
        stranger = add_tenant(second_server.services, "stranger")
        with pytest.raises(openai.NotFoundError):
            OpenAI(
                api_key=stranger.api_key, base_url=second_server.openai_base, max_retries=0
            ).responses.retrieve(first.id)
    finally:
        second_server.stop()
