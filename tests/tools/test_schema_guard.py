"""The door for callers' JSON schemas, validation of model output, and pattern → grammar."""

from __future__ import annotations

import pytest

from openmaas.chat.schema_guard import MAX_DEPTH, check_user_schema, is_valid
from openmaas.engines.grammar_schema import EXACT, LOOSE, grammar_schema
from openmaas.engines.regex_gbnf import UnsupportedPattern, pattern_to_gbnf
from openmaas.errors import InvalidField

FIELD = "tools[0].function.parameters"


def refused(schema) -> str:
    with pytest.raises(InvalidField) as caught:
        check_user_schema(schema, FIELD)
    assert caught.value.param == FIELD
    return str(caught.value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}},
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "definitions": {"x": {"type": "integer"}},
            "properties": {"x": {"$ref": "#/definitions/x"}},
        },
        {"type": "object", "properties": {"id": {"type": "string"}, "$ref": {"type": "string"}}},
        {"type": "object", "properties": {"link": {"type": "string", "enum": [{"$ref": "http://x"}]}}},
        {"type": "string", "pattern": r"^\p{L}+$"},  # ECMA/Unicode classes: the regex module reads them
    ],
)
def test_ordinary_schemas_pass(schema):
    check_user_schema(schema, FIELD)


def test_size_depth_and_pattern_limits():
    deep: dict = {"type": "object"}
    node = deep
    for _ in range(MAX_DEPTH + 1):
        node["properties"] = {"x": {"type": "object"}}
        node = node["properties"]["x"]
    assert "nest" in refused(deep)
    wide = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(1000)},
    }
    assert "characters" in refused(wide)
    assert "repeats too much" in refused({"type": "string", "pattern": "(?:x{65535}){65535}"})
    assert "not a valid regular expression" in refused({"type": "string", "pattern": "(unclosed"})
    assert "$schema" in refused({"$schema": "https://evil.example/schema", "type": "object"})
    assert "patternProperties" in refused({"patternProperties": {"a": {}}, "unevaluatedProperties": False})


def test_formats_are_checked_as_the_grammar_writes_them():
    schema = {
        "type": "object",
        "properties": {f: {"type": "string", "format": f} for f in ("date", "time", "email", "uuid")},
    }
    good = {
        "date": "2026-12-07",
        "time": "14:30:00",
        "email": "a.b@example.com",
        "uuid": "123e4567-e89b-12d3-a456-426614174000",
    }
    assert is_valid(good, schema)
    for key, bad in {"date": "tomorrow", "time": "2pm", "email": "nobody", "uuid": "42"}.items():
        assert not is_valid(good | {key: bad}, schema), key


@pytest.mark.parametrize(
    "pattern,expected",
    [
        (r"^\d{4}-\d{2}-\d{2}$", '(([0-9]){4} "-" ([0-9]){2} "-" ([0-9]){2})'),
        (r"^([01]\d|2[0-3]):[0-5]\d$", '((([01] [0-9] | "2" [0-3])) ":" [0-5] [0-9])'),
        (r'^a"b$', r'("a" "\\\"" "b")'),  # a quote inside the JSON string is written escaped
        ("^a$|^b$", '(("a" | "b"))'),
    ],
)
def test_pattern_translation(pattern, expected):
    assert pattern_to_gbnf(pattern) == expected


def test_unanchored_patterns_allow_text_around_and_counts_are_capped():
    assert pattern_to_gbnf("[A-Z]{3}").startswith('([^"\\\\\\x00-\\x1F]* ([A-Z]){3}')
    assert "{64,}" in pattern_to_gbnf("^a{1000}$")


@pytest.mark.parametrize("pattern", [r"(?=a)b", r"(a)\1", r"\bword", "(?i)abc", "^a|b"])
def test_untranslatable_patterns_are_refused_for_the_grammar(pattern):
    with pytest.raises(UnsupportedPattern):
        pattern_to_gbnf(pattern)


def test_grammar_schema_levels():
    schema = {
        "type": "object",
        "properties": {
            "d": {"type": "string", "format": "date"},
            "w": {"type": "string", "pattern": r"(?=x)x"},
            "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 4},
            "s": {"type": "string", "maxLength": 10**9, "minLength": 10**6},
        },
    }
    exact = grammar_schema(schema, EXACT)["properties"]
    assert "pattern" in exact["d"] and "pattern" not in exact["w"]
    assert exact["n"] == {"enum": [1, 2, 3]}
    assert exact["s"] == {"type": "string", "minLength": 64}
    assert "pattern" not in grammar_schema(schema, LOOSE)["properties"]["d"]


def test_grammar_keeps_the_callers_property_order():
    from openmaas.engines.grammar import json_schema_grammar

    schema = {
        "type": "object",
        "properties": {"zeta": {"type": "string"}, "alpha": {"type": "string"}},
        "required": ["zeta", "alpha"],
    }
    root = next(line for line in json_schema_grammar(schema).splitlines() if line.startswith("root ::="))
    assert root.index("zeta") < root.index("alpha")


def test_non_negative_integers_have_no_minus_sign_in_the_grammar():
    from openmaas.engines.grammar import gbnf_parses, json_schema_grammar

    schema = {
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
        "required": ["limit", "missing"],
    }
    grammar = json_schema_grammar(schema)
    assert gbnf_parses(grammar)
    assert "limit ::= [1-9] [0-9]{0,15} space" in grammar
    assert 'offset ::= ("0" | [1-9] [0-9]{0,15}) space' in grammar
    assert '"\\"missing\\""' in grammar  # required without a schema: still written
