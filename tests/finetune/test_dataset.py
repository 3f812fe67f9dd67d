"""Chat JSONL validation: every error names its line; good lines are normalised once."""

from __future__ import annotations

import io

import pytest

from openmaas.finetune.dataset import dump_examples, load_examples, parse_dataset
from openmaas.finetune.errors import DatasetInvalid
from tests.finetune.conftest import chat_example, jsonl

GOOD = chat_example("hi", "hello")


def parse(data: bytes, limit: int = 100):
    return parse_dataset(io.BytesIO(data), "training_file", limit)


def rejected(data: bytes) -> DatasetInvalid:
    with pytest.raises(DatasetInvalid) as caught:
        parse(data)
    assert caught.value.code == "1214" and caught.value.http_status == 400
    return caught.value


def test_good_lines_parse_and_round_trip():
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
        ],
    }
    with_tools = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris?"},
            call,
            {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
            {"role": "assistant", "content": "Sunny."},
        ],
        "tools": tools,
    }
    examples = parse(jsonl([GOOD, b"", with_tools]))
    assert [e.line for e in examples] == [1, 3]
    assert examples[1].messages[2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}],
    }
    assert examples[1].tools == tools
    assert load_examples(dump_examples(examples)) == examples


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"prompt": "x", "completion": "y"}', "`messages` must be a non-empty list"),
        (b'{"messages": []}', "non-empty list"),
        (
            b'{"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}',
            "messages[0].role 'bot' is not one of system, user, assistant, tool",
        ),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "at least one assistant message"),
        (
            b'{"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}',
            "last message must be the assistant",
        ),
        (
            b'{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}',
            "messages[0].content must be a string",
        ),
        (
            b'{"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "y"}]}',
            "messages[0].content is empty",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x", "mood": 1}, '
            b'{"role": "assistant", "content": "y"}]}',
            "unknown keys ['mood']",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"},'
            b' {"role": "assistant", "content": "y"}]}',
            "system message may only come first",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls":'
            b' [{"function": {"name": "f", "arguments": "{oops"}}]}]}',
            "arguments is not valid JSON",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],'
            b' "tools": [{"type": "function"}]}',
            "tools[0] must be",
        ),
    ],
)
def test_bad_line_is_rejected_with_its_line_number(line, reason):
    error = rejected(jsonl([GOOD, GOOD, line, GOOD]))
    assert error.line == 3
    assert reason in error.message and "line 3" in error.message


def test_empty_and_blank_files_are_rejected():
    for data in (b"", b"\n\n  \n"):
        error = rejected(data)
        assert "empty" in error.message and error.line is None


def test_bad_utf8_names_the_line():
    assert rejected(jsonl([GOOD, b'{"messages": "\xff"}'])).line == 2


def test_too_many_examples():
    with pytest.raises(DatasetInvalid, match="more than 2 examples"):
        parse(jsonl([GOOD] * 3), limit=2)
