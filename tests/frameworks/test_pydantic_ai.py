"""pydantic-ai agents on OpenMaaS: the OpenAI provider on /v1, the Z.AI provider on the Zhipu
surface, the Responses model on /v1/responses and the Anthropic model on /v1/messages."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from pydantic_ai import (
    Agent,
    ModelAuthenticationError,
    ModelContextWindowExceededError,
    NativeOutput,
    PromptedOutput,
    RunContext,
)
from pydantic_ai.exceptions import UserError
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.providers.zai import ZaiProvider

from tests.frameworks.conftest import ONE_LOOP, TOO_LONG, tool_call_text


class CityInfo(BaseModel):
    city: str
    country: str


ANSWER = {"city": "Paris", "country": "France"}


def chat_model(fw_server, surface: str, key: str):
    if surface == "zhipu":
        return OpenAIChatModel("glm-4", provider=ZaiProvider(base_url=fw_server.zhipu_base, api_key=key))
    if surface == "responses":
        provider = OpenAIProvider(base_url=fw_server.openai_base, api_key=key)
        return OpenAIResponsesModel("glm-4", provider=provider)
    if surface == "anthropic":
        return AnthropicModel("glm-4", provider=AnthropicProvider(base_url=fw_server.base_url, api_key=key))
    return OpenAIChatModel("glm-4", provider=OpenAIProvider(base_url=fw_server.openai_base, api_key=key))


@pytest.fixture(params=["openai", "zhipu", "responses", "anthropic"])
def model(request, fw_server, tenant):
    return chat_model(fw_server, request.param, tenant.api_key)


def test_plain_run(model, engine):
    engine.enqueue("Bonjour!")
    result = Agent(model, instructions="Be brief.").run_sync("Say hello in French")
    assert result.output == "Bonjour!"
    usage = result.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.requests == 1


def test_output_type_via_output_tool(model, engine):
    engine.enqueue(tool_call_text("final_result", ANSWER))
    result = Agent(model, output_type=CityInfo).run_sync("Where is the Eiffel tower?")
    assert result.output == CityInfo(**ANSWER)


@pytest.mark.parametrize("wrapper", [NativeOutput, PromptedOutput])
def test_output_type_native_and_prompted(request, model, engine, wrapper):
    if wrapper is NativeOutput and request.node.callspec.params["model"] in ("zhipu", "anthropic"):
        # pydantic-ai's profiles for these providers offer no native output for glm-4: it
        # refuses on its own, before any request reaches the server
        with pytest.raises(UserError, match="[Nn]ative"):
            Agent(model, output_type=wrapper(CityInfo)).run_sync("Where is the Eiffel tower?")
        return
    engine.enqueue(json.dumps(ANSWER))
    result = Agent(model, output_type=wrapper(CityInfo)).run_sync("Where is the Eiffel tower?")
    assert result.output == CityInfo(**ANSWER)


def test_agent_tool_round_trip(model, engine):
    engine.enqueue(tool_call_text("get_weather", {"city": "Paris"}), "It is sunny and 24C in Paris.")
    agent = Agent(model, deps_type=str)

    @agent.tool
    def get_weather(ctx: RunContext[str], city: str) -> str:
        """The current weather in a city."""
        return f"{ctx.deps}: sunny and 24C in {city}"

    result = agent.run_sync("Weather in Paris?", deps="station-7")
    assert result.output == "It is sunny and 24C in Paris."
    assert "station-7: sunny and 24C in Paris" in engine.prompts[-1].text
    assert result.usage.requests == 2 and result.usage.tool_calls == 1


def test_parallel_tool_calls(model, engine):
    calls = [tool_call_text("get_weather", {"city": city}) for city in ("Paris", "Oslo")]
    engine.enqueue("\n".join(calls), "Paris and Oslo are sunny.")
    agent = Agent(model)
    asked: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        asked.append(city)
        return f"sunny in {city}"

    assert agent.run_sync("Weather in Paris and Oslo?").output == "Paris and Oslo are sunny."
    assert sorted(asked) == ["Oslo", "Paris"]
    assert "sunny in Paris" in engine.prompts[-1].text and "sunny in Oslo" in engine.prompts[-1].text


def test_tool_then_structured_output(model, engine):
    engine.enqueue(
        tool_call_text("lookup", {"landmark": "Eiffel tower"}), tool_call_text("final_result", ANSWER)
    )
    agent = Agent(model, output_type=CityInfo)

    @agent.tool_plain
    def lookup(landmark: str) -> str:
        """Where a landmark is."""
        return f"{landmark} is in Paris, France"

    assert agent.run_sync("Where is the Eiffel tower?").output == CityInfo(**ANSWER)


@ONE_LOOP
async def test_run_stream_text(model, engine):
    engine.enqueue("One two three four.")
    agent = Agent(model)
    async with agent.run_stream("Count") as result:
        pieces = [piece async for piece in result.stream_text(delta=True)]
    assert "".join(pieces) == "One two three four."
    assert result.usage.output_tokens > 0


@ONE_LOOP
async def test_run_stream_structured(model, engine):
    engine.enqueue(tool_call_text("final_result", ANSWER))
    async with Agent(model, output_type=CityInfo).run_stream("Eiffel tower?") as result:
        outputs = [output async for output in result.stream_output()]
    assert outputs[-1] == CityInfo(**ANSWER)


def test_context_overflow_is_recognised(model, engine):
    with pytest.raises(ModelContextWindowExceededError):
        Agent(model).run_sync(TOO_LONG)


@pytest.mark.parametrize("surface", ["openai", "zhipu", "responses", "anthropic"])
def test_bad_key(fw_server, engine, surface):
    with pytest.raises(ModelAuthenticationError):
        Agent(chat_model(fw_server, surface, "not-a-key.secret")).run_sync("hi")
