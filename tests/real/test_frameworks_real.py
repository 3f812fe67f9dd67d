"""The frameworks' structured-output and tool paths on the real Qwen2.5-Coder-0.5B weights:
what the fake engine cannot show is that the grammar makes a small model's answer parse.

One short, greedy request per framework family (the module shares one server: loading costs)."""

from __future__ import annotations

import instructor
import openai
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.zai import ZaiProvider

pytestmark = pytest.mark.slow


class City(BaseModel):
    city: str
    country: str


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}."


def test_langchain_structured_output_and_forced_tool(real_model_server):
    model = ChatOpenAI(
        model="glm-4",
        base_url=real_model_server.openai_base,
        api_key=real_model_server.tenant.api_key,
        max_retries=0,
        temperature=0,
        max_tokens=48,
    )
    city = model.with_structured_output(City).invoke("The Eiffel tower is in Paris, France. Which city?")
    assert isinstance(city, City) and city.city
    asked = model.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Oslo?")
    assert asked.tool_calls[0]["name"] == "get_weather" and "city" in asked.tool_calls[0]["args"]


def test_instructor_tools_mode(real_model_server):
    client = instructor.from_openai(
        openai.OpenAI(
            base_url=real_model_server.openai_base, api_key=real_model_server.tenant.api_key, max_retries=0
        )
    )
    city = client.chat.completions.create(
        model="glm-4",
        response_model=City,
        temperature=0,
        max_tokens=48,
        messages=[{"role": "user", "content": "Rome is in Italy."}],
    )
    assert city.city and city.country


def test_pydantic_ai_output_type_on_the_zhipu_surface(real_model_server):
    provider = ZaiProvider(base_url=real_model_server.zhipu_base, api_key=real_model_server.tenant.api_key)
    agent = Agent(
        OpenAIChatModel("glm-4", provider=provider),
        output_type=City,
        model_settings={"temperature": 0, "max_tokens": 48},
    )
    result = agent.run_sync("Berlin is the capital of Germany. Which city and country?")
    assert isinstance(result.output, City) and result.output.city
