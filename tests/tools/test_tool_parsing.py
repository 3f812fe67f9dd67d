"""Tool validation, lenient parsing and the tool-call grammar."""

from __future__ import annotations

import json

import pytest

from openmaas.chat.structured import parse_response_format
from openmaas.chat.tools import (
    parse_choice,
    parse_function_tools,
    parse_tool_calls,
    tool_call_grammar,
    tool_call_verdict,
)
from openmaas.errors import InvalidField

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["q"],
        },
    },
}
TOOLS = parse_function_tools([WEATHER, SEARCH])


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
        '<tool_call>\n{"name": "get_weather", "parameters": {"city": "Paris"}}',
    ],
)
def test_lenient_parsing_accepts_tags_fences_and_bare_json(text):
    [call] = parse_tool_calls(text, TOOLS)
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',  # not a tool
        '<tool_call>\n{"name": "get_weather", "arguments": {"unit": "c"}}\n</tool_call>',  # city missing
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "x", "unit": "k"}}\n</tool_call>',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>',
        "The weather is nice.",
    ],
)
def test_parsing_rejects_calls_that_do_not_match_a_tool(text):
    assert parse_tool_calls(text, TOOLS) == []


def test_several_calls_in_one_turn():
    text = (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "A"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "search", "arguments": {"q": "B", "n": 3}}\n</tool_call>'
    )
    assert [c.name for c in parse_tool_calls(text, TOOLS)] == ["get_weather", "search"]


def test_verdict_waits_then_decides():
    assert tool_call_verdict("") is None
    assert tool_call_verdict("<tool") is None
    assert tool_call_verdict("<tool_call>\n{") is True
    assert tool_call_verdict('```json\n{"na') is None
    assert tool_call_verdict('{"name"') is True
    assert tool_call_verdict('{{"name"') is True  # a template's escaped braces, copied
    assert tool_call_verdict('[{"name"') is True  # several calls as one list
    assert tool_call_verdict("{{") is None
    assert tool_call_verdict("[1, 2]") is False
    assert tool_call_verdict("Sure, here") is False
    assert tool_call_verdict("```python\nprint") is False


@pytest.fixture(scope="module")
def vocab():
    """The real model's vocabulary: llama.cpp parses a grammar against it (LlamaGrammar only
    stores the string, so compiling through it would check nothing)."""
    from llama_cpp import Llama

    from tests.conftest import assembled_default_model

    llm = Llama(model_path=str(assembled_default_model()), vocab_only=True, verbose=False)
    yield llm._model.vocab
    llm.close()


def compiles(vocab, grammar: str) -> bool:
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if sampler:
        llama_cpp.llama_sampler_free(sampler)
    return bool(sampler)


def test_grammar_compiles_for_tools_and_forced_name(vocab):
    assert not compiles(vocab, 'root ::= "unterminated')  # the check can fail
    for forced in (None, "search"):
        grammar = tool_call_grammar(TOOLS, forced)
        assert grammar.startswith("root ::= block")
        assert compiles(vocab, grammar)
    assert '"\\"search\\""' not in tool_call_grammar(TOOLS, "get_weather")


def test_invalid_tools_name_the_field():
    bad_schema = {"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}
    cases = [
        ([bad_schema], "tools[0].function.parameters"),
        ([{"type": "function", "function": {"name": "bad name!"}}], "tools[0].function.name"),
        ([{"type": "function", "function": "x"}], "tools[0].function"),
        ([WEATHER, WEATHER], "tools"),
    ]
    for tools, field in cases:
        with pytest.raises(InvalidField) as caught:
            parse_function_tools(tools)
        assert caught.value.param == field


def test_tool_choice_forms():
    assert parse_choice(None, TOOLS) == "auto"
    assert parse_choice("required", TOOLS) == "required"
    assert parse_choice({"type": "function", "function": {"name": "search"}}, TOOLS) == "search"
    with pytest.raises(InvalidField):
        parse_choice("weather_now", TOOLS)
    with pytest.raises(InvalidField):
        parse_choice({"type": "function"}, TOOLS)


def test_response_format_grammar(vocab):
    assert parse_response_format(None).grammar() is None
    assert compiles(vocab, parse_response_format({"type": "json_object"}).grammar())
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    fmt = parse_response_format({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert compiles(vocab, fmt.grammar())
    with pytest.raises(InvalidField):
        parse_response_format({"type": "json_schema", "json_schema": {"schema": {"type": 5}}})
    with pytest.raises(InvalidField):
        parse_response_format({"type": "yaml"})


def test_doubled_braces_and_lists_still_parse():
    doubled = '{{"name": "get_weather", "arguments": {"city": "Paris"}}}'
    assert [(c.name, json.loads(c.arguments)) for c in parse_tool_calls(doubled, TOOLS)] == [
        ("get_weather", {"city": "Paris"})
    ]
    listed = (
        '[{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
        '{"name": "search", "arguments": {"q": "x"}}]'
    )
    assert [c.name for c in parse_tool_calls(listed, TOOLS)] == ["get_weather", "search"]
