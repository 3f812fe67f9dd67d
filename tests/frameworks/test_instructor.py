"""instructor over the openai SDK (both surfaces) and the anthropic SDK, in the modes its users
pick: TOOLS (the default), JSON, JSON_SCHEMA, MD_JSON; retries that re-ask on a validation
error; partial streaming; async."""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

import anthropic
import instructor
import openai
import pytest
from instructor.v2.core.errors import InstructorRetryException
from pydantic import BaseModel, Field, field_validator

from tests.frameworks.conftest import ONE_LOOP, tool_call_text


class User(BaseModel):
    name: str
    age: int


class Adult(BaseModel):
    name: str
    age: int

    @field_validator("age")
    @classmethod
    def grown_up(cls, age: int) -> int:
        if age < 18:
            raise ValueError("age must be at least 18")
        return age


class Item(BaseModel):
    sku: str = Field(description="stock keeping unit")
    qty: int = Field(ge=1)
    colour: Literal["red", "green"] | None = None


class Order(BaseModel):
    """Nested models ($defs/$ref), an enum, optional fields and a date: what real schemas hold."""

    customer: str
    when: dt.date
    items: list[Item]
    note: str | None = None


ORDER = {
    "customer": "Ada",
    "when": "2026-12-07",
    "note": None,
    "items": [{"sku": "A1", "qty": 2, "colour": "red"}, {"sku": "B2", "qty": 1, "colour": None}],
}
ASK = [{"role": "user", "content": "Jason is 25 years old."}]
ANSWER = {"name": "Jason", "age": 25}


@pytest.fixture(params=["openai", "zhipu"])
def base_url(request, fw_server) -> str:
    return fw_server.openai_base if request.param == "openai" else fw_server.zhipu_base


def scripted(mode: instructor.Mode, answer: dict, name: str = "User") -> str:
    """What the model answers in each mode: a call of the response model's tool, or JSON."""
    if mode is instructor.Mode.TOOLS:
        return tool_call_text(name, answer)
    if mode is instructor.Mode.MD_JSON:
        return f"Here it is:\n```json\n{json.dumps(answer)}\n```"
    return json.dumps(answer)


MODES = [instructor.Mode.TOOLS, instructor.Mode.JSON, instructor.Mode.JSON_SCHEMA, instructor.Mode.MD_JSON]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_modes(base_url, tenant, engine, mode):
    engine.enqueue(scripted(mode, ANSWER))
    client = instructor.from_openai(
        openai.OpenAI(base_url=base_url, api_key=tenant.api_key, max_retries=0), mode=mode
    )
    user, completion = client.chat.completions.create_with_completion(
        model="glm-4", response_model=User, messages=ASK
    )
    assert user.model_dump() == ANSWER
    assert completion.usage.completion_tokens > 0


@ONE_LOOP
@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON], ids=lambda m: m.name)
async def test_async_modes(base_url, tenant, engine, mode):
    engine.enqueue(scripted(mode, ANSWER))
    client = instructor.from_openai(
        openai.AsyncOpenAI(base_url=base_url, api_key=tenant.api_key, max_retries=0), mode=mode
    )
    user = await client.chat.completions.create(model="glm-4", response_model=User, messages=ASK)
    assert user.model_dump() == ANSWER


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_nested_schema(base_url, tenant, engine, mode):
    engine.enqueue(scripted(mode, ORDER, "Order"))
    client = instructor.from_openai(
        openai.OpenAI(base_url=base_url, api_key=tenant.api_key, max_retries=0), mode=mode
    )
    order = client.chat.completions.create(model="glm-4", response_model=Order, messages=ASK)
    assert order.model_dump(mode="json") == ORDER


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON], ids=lambda m: m.name)
def test_validation_error_is_asked_again(base_url, tenant, engine, mode):
    engine.enqueue(
        scripted(mode, {"name": "Tim", "age": 12}, "Adult"),
        scripted(mode, {"name": "Tim", "age": 21}, "Adult"),
    )
    client = instructor.from_openai(
        openai.OpenAI(base_url=base_url, api_key=tenant.api_key, max_retries=0), mode=mode
    )
    adult = client.chat.completions.create(
        model="glm-4", response_model=Adult, max_retries=2, messages=[{"role": "user", "content": "Tim"}]
    )
    assert adult.model_dump() == {"name": "Tim", "age": 21}
    assert "age must be at least 18" in engine.prompts[-1].text  # the re-ask carried the error


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON], ids=lambda m: m.name)
def test_partial_streaming(base_url, tenant, engine, mode):
    engine.enqueue(scripted(mode, ANSWER, "PartialUser"))  # instructor names the tool after Partial[User]
    client = instructor.from_openai(
        openai.OpenAI(base_url=base_url, api_key=tenant.api_key, max_retries=0), mode=mode
    )
    partials = list(client.chat.completions.create_partial(model="glm-4", response_model=User, messages=ASK))
    assert partials and partials[-1].model_dump() == ANSWER


def test_bad_key(base_url, engine):
    bad = openai.OpenAI(base_url=base_url, api_key="not-a-key.secret", max_retries=0)
    client = instructor.from_openai(bad)
    with pytest.raises(InstructorRetryException) as caught:  # instructor wraps what the SDK raised
        client.chat.completions.create(model="glm-4", response_model=User, messages=ASK, max_retries=0)
    assert isinstance(caught.value.__cause__, openai.AuthenticationError)


@pytest.mark.parametrize(
    "mode", [instructor.Mode.ANTHROPIC_TOOLS, instructor.Mode.ANTHROPIC_JSON], ids=lambda m: m.name
)
def test_anthropic_modes(fw_server, tenant, engine, mode):
    tools = mode is instructor.Mode.ANTHROPIC_TOOLS
    engine.enqueue(tool_call_text("User", ANSWER) if tools else json.dumps(ANSWER))
    client = instructor.from_anthropic(
        anthropic.Anthropic(base_url=fw_server.base_url, api_key=tenant.api_key, max_retries=0), mode=mode
    )
    user = client.messages.create(model="glm-4", max_tokens=64, response_model=User, messages=ASK)
    assert user.model_dump() == ANSWER
