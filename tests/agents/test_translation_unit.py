"""Unit tests of the wire translations (no server): Responses items, output builders, Anthropic blocks."""

from __future__ import annotations

import pytest

from openmaas.agents.anthropic import BlockBuilder, to_chat_messages
from openmaas.agents.items import check_call_outputs, items_to_messages, normalise_input, parse_tools
from openmaas.agents.mcp_client import url_allowed
from openmaas.agents.response_output import OutputBuilder
from openmaas.chat.tools import ToolCall
from openmaas.errors import InvalidField, MissingField


def test_items_become_chat_messages_with_grouped_calls():
    items = normalise_input(
        [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"x": 1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "two"}],
            },
        ]
    )
    messages = items_to_messages(items)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "tool"]
    assert messages[1].content == "ab"
    assert [c["id"] for c in messages[2].tool_calls] == ["c1", "c2"]
    assert messages[4].content == "two" and messages[4].tool_call_id == "c2"
    assert all(item.get("id") for item in items)


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ([{"type": "image_generation_call"}], "input[0].type"),
        ([{"role": "robot", "content": "x"}], "input[0].role"),
        (
            [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}],
            "input[0].content[0].type",
        ),
        (
            [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{not json"}],
            "input[0].arguments",
        ),
        ([], "input"),
    ],
)
def test_bad_items(raw, param):
    with pytest.raises(InvalidField) as caught:
        normalise_input(raw)
    assert caught.value.param == param


def test_missing_input_and_call_ids():
    with pytest.raises(MissingField):
        normalise_input(None)
    with pytest.raises(MissingField):
        normalise_input([{"type": "function_call_output", "output": "x"}])
    items = normalise_input([{"type": "function_call_output", "call_id": "c9", "output": "x"}])
    with pytest.raises(InvalidField) as caught:
        check_call_outputs([], items)
    assert caught.value.param == "input[0].call_id"
    check_call_outputs([{"type": "function_call", "call_id": "c9"}], items)  # answered from the chain


def test_tools_and_choice():
    tools = parse_tools(
        [
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
            {"type": "file_search", "vector_store_ids": ["kb1"]},
        ],
        {"type": "function", "name": "f"},
    )
    assert tools.functions.choice == "f" and tools.file_search["vector_store_ids"] == ["kb1"]
    with pytest.raises(InvalidField):
        parse_tools([{"type": "file_search", "vector_store_ids": []}], None)
    with pytest.raises(InvalidField):
        parse_tools([], "required")


def test_output_builder_orders_items_and_events():
    builder = OutputBuilder()
    events = builder.reasoning("think") + builder.text("Hi") + builder.text("!") + builder.finish()
    assert [kind for kind, _ in events] == [
        "response.output_item.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert [item["type"] for item in builder.items] == ["reasoning", "message"]
    assert builder.items[1]["content"][0]["text"] == "Hi!"
    assert builder.items[0]["content"][0] == {"type": "reasoning_text", "text": "think"}
    calls = builder.tool_calls([ToolCall("call_1", "f", '{"a": 1}')])
    assert calls[0][1]["output_index"] == 2 and builder.items[2]["call_id"] == "call_1"


def test_anthropic_blocks_and_ids():
    messages = to_chat_messages(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": ""},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "r"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
        system=[{"type": "text", "text": "s"}],
    )
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assert messages[3].content == "Error: r"
    assert messages[2].tool_calls[0]["function"]["arguments"] == '{"a": 1}'
    with pytest.raises(InvalidField) as caught:
        to_chat_messages([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9"}]}], None)
    assert caught.value.param == "messages[0].content[0].tool_use_id"
    builder = BlockBuilder()
    events = builder.thinking("a") + builder.text("b") + builder.finish()
    assert [b["type"] for b in builder.blocks] == ["thinking", "text"]
    assert [kind for kind, _ in events].count("content_block_stop") == 2


def test_allow_list_matching():
    allowed = ["http://tools.internal:9000/", "http://exact.example/mcp"]
    assert url_allowed("http://tools.internal:9000/a/mcp", allowed)
    assert url_allowed("http://exact.example/mcp", allowed)
    assert not url_allowed("http://exact.example/mcp/other", allowed)
    assert not url_allowed("http://tools.internal:90001/", allowed)
    assert not url_allowed("http://anything", [])
