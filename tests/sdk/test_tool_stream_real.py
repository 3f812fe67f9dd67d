"""`tool_stream` on the real 0.5B weights: the grammar-constrained call streams its arguments
in pieces through the zai-sdk, and they concatenate to valid arguments."""

from __future__ import annotations

import json

import jsonschema
import pytest
from zai import ZhipuAiClient

pytestmark = pytest.mark.slow
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": WEATHER,
        },
    }
]


def test_tool_stream_arguments_arrive_in_pieces(real_model_server):
    client = ZhipuAiClient(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.zhipu_base, max_retries=0
    )
    stream = client.chat.completions.create(
        model="glm-4",
        messages=[{"role": "user", "content": "What is the weather in Beijing?"}],
        tools=TOOLS,
        tool_choice="required",
        stream=True,
        tool_stream=True,
        max_tokens=64,
        temperature=0.01,
    )
    arguments, pieces, ids, names, finish = "", 0, set(), "", None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or []:
            assert call.index == 0
            ids |= {call.id} if call.id else set()
            names += (call.function.name or "") if call.function else ""
            if call.function and call.function.arguments:
                arguments += call.function.arguments
                pieces += 1
    assert finish == "tool_calls" and names == "get_weather" and len(ids) == 1
    jsonschema.validate(json.loads(arguments), WEATHER)
    assert pieces >= 3  # streamed token by token, not sent whole
