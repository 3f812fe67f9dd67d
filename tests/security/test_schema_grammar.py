"""Finding 22 of the 2026-12 security review (grammar blow-up) and the trust-boundary issue's
HTTP 500 "invalid decoding grammar" on patterned tool schemas.

llama.cpp's Python converter expanded `minLength`/`maxItems` counts textually (a 10⁶ count
gave a grammar of megabytes, nested a million parentheses deep) and copied regex escapes
such as `\\d` into GBNF literals, which llama.cpp's parser refuses: a `YYYY-MM-DD` or `HH:MM`
pattern answered 500 with the real model. Now every grammar is small, and llama.cpp's own
parser accepts it (checked before use, degraded to a looser grammar when not).
"""

from __future__ import annotations

import time

import pytest

from openmaas.chat.structured import parse_response_format
from openmaas.chat.tools import parse_function_tools, tool_call_grammar

DATE = r"^\d{4}-\d{2}-\d{2}$"
HH_MM = r"^([01]\d|2[0-3]):[0-5]\d$"


def llama_accepts(grammar: str, vocab=None) -> bool:
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if sampler:
        llama_cpp.llama_sampler_free(sampler)
    return bool(sampler)


def tools_with(properties: dict, required: list[str] | None = None):
    parameters = {"type": "object", "properties": properties, "required": required or list(properties)}
    tool = {"type": "function", "function": {"name": "book", "parameters": parameters}}
    return parse_function_tools([tool])


def output_with(schema: dict):
    return parse_response_format({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})


def test_the_check_can_fail():
    assert not llama_accepts('root ::= "\\d"')  # the escape the converter used to emit


@pytest.mark.parametrize(
    "properties",
    [
        {"date": {"type": "string", "pattern": DATE}},
        {"time": {"type": "string", "pattern": HH_MM}},
        {"date": {"type": "string", "pattern": DATE}, "time": {"type": "string", "pattern": HH_MM}},
        {"phone": {"type": "string", "pattern": r"^(?:\+?86)?1[3-9]\d{9}$"}},
        {"code": {"type": "string", "pattern": r"[A-Z]{3}\d+"}},  # unanchored
        {"quote": {"type": "string", "pattern": r'^"[^"\\]*"$'}},  # quotes inside the JSON string
        {"word": {"type": "string", "pattern": r"^\w+(?=x)$"}},  # look-ahead: left to validation
    ],
)
def test_patterned_tool_schemas_give_a_grammar_llama_cpp_accepts(properties):
    grammar = tool_call_grammar(tools_with(properties))
    assert grammar.startswith("root ::= block")
    assert llama_accepts(grammar)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "maxLength": 1_000_000},
        {"type": "string", "minLength": 1_000_000},
        {"type": "array", "items": {"type": "integer"}, "maxItems": 1_000_000},
        {"type": "array", "items": {"type": "integer"}, "minItems": 5000, "maxItems": 10**12},
        {"type": "string", "pattern": r"^a{5000}$"},
        {"type": "string", "pattern": r"^(a{1,100}){1,100}$"},
        {"type": "string", "pattern": r"^((a{20}){20}){20}$"},
    ],
)
def test_huge_counts_do_not_blow_up_the_grammar(schema):
    started = time.monotonic()
    grammar = output_with({"type": "object", "properties": {"v": schema}, "required": ["v"]}).grammar()
    assert time.monotonic() - started < 2.0
    assert len(grammar) < 20_000
    assert llama_accepts(grammar)


@pytest.mark.parametrize("fmt", ["date", "time", "date-time", "email", "uuid", "ipv4", "uri", "hostname"])
def test_formats_give_a_grammar(fmt):
    grammar = tool_call_grammar(tools_with({"v": {"type": "string", "format": fmt}}))
    assert llama_accepts(grammar)
    if fmt == "date":  # common formats are enforced inside the grammar
        assert '"-"' in grammar


def test_everything_real_tools_use_at_once():
    properties = {
        "date": {"type": "string", "format": "date"},
        "at": {"type": "string", "pattern": HH_MM},
        "city": {"type": "string", "minLength": 1, "maxLength": 40},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "kind": {"const": "trip"},
        "guests": {"type": "integer", "minimum": 1, "maximum": 12},
        "budget": {"type": "number", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "contact": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "phone": {"type": ["string", "null"]},
            },
            "required": ["email"],
        },
        "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "room": {"oneOf": [{"$ref": "#/$defs/room"}, {"type": "string"}]},
    }
    tools = parse_function_tools(
        [
            {
                "type": "function",
                "function": {
                    "name": "book",
                    "parameters": {
                        "type": "object",
                        "properties": properties,
                        "required": ["date", "city"],
                        "$defs": {"room": {"type": "object", "properties": {"beds": {"type": "integer"}}}},
                    },
                },
            }
        ]
    )
    grammar = tool_call_grammar(tools)
    assert llama_accepts(grammar)
    assert '"1" | "2"' in grammar  # the small integer range is in the grammar


def test_recursive_and_boolean_schemas_degrade_instead_of_failing():
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/node"}, "any": True, "none": {}},
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
    }
    assert llama_accepts(output_with(schema).grammar())
    assert llama_accepts(
        tool_call_grammar(
            parse_function_tools([{"type": "function", "function": {"name": "t", "parameters": schema}}])
        )
    )
