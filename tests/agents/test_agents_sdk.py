"""The OpenAI Agents SDK with its default model class (the Responses API) and a function tool,
against a live server (fake engine). Only the client's base_url and key are ours."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from openai import AsyncOpenAI

from openmaas.store.tables import UsageRecord
from tests.agents.conftest import tool_call_text

agents = pytest.importorskip("agents")


def test_agent_with_a_function_tool(agent_server, tenant, engine):
    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
    from agents.models.openai_responses import OpenAIResponsesModel

    looked_up: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        looked_up.append(city)
        return f"sunny and 24C in {city}"

    set_tracing_disabled(True)  # traces would go to api.openai.com
    set_default_openai_client(
        AsyncOpenAI(api_key=tenant.api_key, base_url=agent_server.openai_base, max_retries=0),
        use_for_tracing=False,
    )
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "It is sunny and 24C in Paris.")
    agent = Agent(
        name="weather",
        instructions="Answer weather questions with the tool.",
        model="glm-4",
        tools=[get_weather],
    )
    result = Runner.run_sync(agent, "What is the weather in Paris?")
    assert result.final_output == "It is sunny and 24C in Paris."
    assert looked_up == ["Paris"]
    assert len(result.raw_responses) == 2
    assert result.raw_responses[0].output[0].type == "function_call"
    assert "sunny and 24C in Paris" in engine.prompts[-1].text  # the tool result went back to the model
    from agents.models.multi_provider import MultiProvider

    assert isinstance(MultiProvider().get_model("glm-4"), OpenAIResponsesModel)  # the default class
    with agent_server.services.db.session() as session:
        endpoints = session.scalars(
            sa.select(UsageRecord.endpoint).where(UsageRecord.account_id == tenant.account_id)
        ).all()
    assert set(endpoints) <= {"responses"}


def test_streamed_agent_run(agent_server, tenant, engine):
    """Runner.run_streamed reads the Responses stream events (typed, sequence-numbered)."""
    import asyncio

    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled

    @function_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    set_tracing_disabled(True)
    set_default_openai_client(
        AsyncOpenAI(api_key=tenant.api_key, base_url=agent_server.openai_base, max_retries=0),
        use_for_tracing=False,
    )
    engine.enqueue(tool_call_text("add", {"a": 2, "b": 3}), "2 + 3 = 5.")
    agent = Agent(name="adder", instructions="Use the tool to add.", model="glm-4", tools=[add])

    async def run() -> tuple[str, list[str]]:
        result = Runner.run_streamed(agent, "What is 2 + 3?")
        kinds = [event.type async for event in result.stream_events()]
        return result.final_output, kinds

    final, kinds = asyncio.run(run())
    assert final == "2 + 3 = 5."
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert "<|tool|>5" in engine.prompts[-1].text  # the tool's result went back to the model
