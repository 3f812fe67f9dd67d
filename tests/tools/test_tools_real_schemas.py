"""Every JSON-schema feature real tools use, on the real 0.5B Qwen through the zhipuai SDK.

Before the grammar work a `YYYY-MM-DD` or `HH:MM` pattern answered HTTP 500 "invalid decoding
grammar"; each schema here must now give a valid call (checked with the server's own
validator, formats included) and never a 5xx.
"""

from __future__ import annotations

import json

import pytest
from zhipuai import ZhipuAI

from openmaas.chat.schema_guard import is_valid

pytestmark = pytest.mark.slow


def function(name: str, description: str, properties: dict, required: list[str], **extra) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required, **extra},
        },
    }


MEETING = function(
    "book_meeting",
    "Book a meeting room",
    {
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "YYYY-MM-DD"},
        "start": {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "description": "HH:MM"},
        "room": {"type": "string", "enum": ["A101", "B202"]},
    },
    ["date", "start"],
)
USER = function(
    "create_user",
    "Create an account",
    {
        "name": {"type": "string", "minLength": 2, "maxLength": 40},
        "email": {"type": "string", "format": "email"},
        "role": {"type": "string", "enum": ["admin", "member"]},
    },
    ["name", "email", "role"],
)
TRIP = function(
    "plan_trip",
    "Plan a trip",
    {
        "destination": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city"],
        },
        "stops": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "guests": {"type": "integer", "minimum": 1, "maximum": 8},
        "departure": {"type": "string", "format": "date"},
    },
    ["destination", "guests"],
)
ALARM = function(
    "set_alarm",
    "Set an alarm",
    {
        "at": {"anyOf": [{"type": "string", "format": "time"}, {"type": "null"}]},
        "label": {"type": "string", "maxLength": 1_000_000},
        "repeat": {
            "type": "array",
            "items": {"enum": ["mon", "tue", "wed", "thu", "fri"]},
            "maxItems": 10**9,
        },
    },
    ["at"],
)
ORDER = function(
    "track_order",
    "Track a parcel",
    {
        "order_id": {"type": "string", "format": "uuid"},
        "code": {"type": "string", "pattern": "[A-Z]{2}\\d{9}[A-Z]{2}"},  # unanchored
        "notify": {"$ref": "#/$defs/contact"},
    },
    ["order_id"],
    **{"$defs": {"contact": {"type": "object", "properties": {"phone": {"type": ["string", "null"]}}}}},
)

CASES = [
    (MEETING, "Book room A101 on 2026-12-09 at 14:30."),
    (USER, "Create a member account for Li Lei, email lilei@example.com."),
    (TRIP, "Plan a trip to Paris, France for 2 people leaving 2026-12-20, stopping in Lyon."),
    (ALARM, "Set an alarm at 07:15 on weekdays called wake up."),
    (ORDER, "Where is my parcel? Order 123e4567-e89b-12d3-a456-426614174000, code RR123456789CN."),
]


@pytest.fixture(scope="module")
def zhipu(real_model_server):
    return ZhipuAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.zhipu_base, max_retries=0
    )


@pytest.mark.parametrize("tool,prompt", CASES, ids=[c[0]["function"]["name"] for c in CASES])
@pytest.mark.parametrize("choice", ["named", "auto"])
def test_schema_features_give_valid_calls(zhipu, tool, prompt, choice):
    name = tool["function"]["name"]
    tool_choice = {"type": "function", "function": {"name": name}} if choice == "named" else "auto"
    response = zhipu.chat.completions.create(
        model="glm-4",
        messages=[{"role": "user", "content": prompt}],
        tools=[tool],
        tool_choice=tool_choice,
        temperature=0.01,
        max_tokens=160,
    )
    choice_ = response.choices[0]
    if choice == "auto" and not choice_.message.tool_calls:
        assert choice_.message.content  # the model may answer in text; never a 500
        return
    [call] = choice_.message.tool_calls
    arguments = json.loads(call.function.arguments)
    assert call.function.name == name
    assert is_valid(arguments, tool["function"]["parameters"]), arguments


def test_meeting_pattern_values_come_from_the_prompt(zhipu):
    response = zhipu.chat.completions.create(
        model="glm-4",
        messages=[{"role": "user", "content": CASES[0][1]}],
        tools=[MEETING],
        tool_choice={"type": "function", "function": {"name": "book_meeting"}},
        temperature=0.01,
        max_tokens=96,
    )
    arguments = json.loads(response.choices[0].message.tool_calls[0].function.arguments)
    assert arguments["date"] == "2026-12-09" and arguments["start"] == "14:30"


def test_patterned_response_format(real_model_server):
    client = ZhipuAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.zhipu_base, max_retries=0
    )
    schema = {
        "type": "object",
        "properties": {
            "day": {"type": "string", "format": "date"},
            "slot": {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"},
            "items": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 9},
                "maxItems": 5,
            },
        },
        "required": ["day", "slot", "items"],
    }
    response = client.chat.completions.create(
        model="glm-4",
        temperature=0.01,
        max_tokens=128,
        messages=[{"role": "user", "content": "Give a day, a time slot and three digits as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "slot", "schema": schema}},
    )
    assert is_valid(json.loads(response.choices[0].message.content), schema)
