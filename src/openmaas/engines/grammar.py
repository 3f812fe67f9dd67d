"""JSON Schema → GBNF, through llama.cpp's own converter, checked by llama.cpp's own parser.

A caller's schema is first rewritten into a grammar schema (grammar_schema.py) at the
tightest level whose grammar llama.cpp accepts: EXACT (patterns and formats in the grammar),
then LOOSE (plain strings), then ANY. So no schema ends in an "invalid decoding grammar"
error; what a looser grammar lets through is caught by validating the output afterwards.
Results are cached by the schema's JSON. The work is CPU-bound: callers on the
event loop run it in a thread (chat/generation.py).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from openmaas.engines.grammar_schema import LEVELS, GrammarSchemaTooLarge, grammar_schema
from openmaas.engines.regex_gbnf import pattern_to_gbnf

JSON_OBJECT_SCHEMA = {"type": "object"}
MAX_GRAMMAR_CHARS = 256 * 1024
ROOT_RULE = re.compile(r"^root ::=", re.M)


class GrammarError(ValueError):
    """The converter or llama.cpp's parser refused a grammar."""


def canonical(schema: Any) -> str:
    """The schema as a cache key. Key order is kept: properties are generated in the order
    the caller wrote them, which is the order the model reads best."""
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def json_schema_grammar(schema: dict[str, Any], root_name: str = "root") -> str:
    """The tightest grammar for `schema` that llama.cpp accepts."""
    return schema_to_gbnf(best_grammar_schema(schema), root_name)


def best_grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return json.loads(_best_grammar_schema(canonical(schema)))


@lru_cache(maxsize=256)
def _best_grammar_schema(schema_json: str) -> str:
    schema = json.loads(schema_json)
    for level in LEVELS:
        try:
            candidate = grammar_schema(schema, level)
            if gbnf_parses(schema_to_gbnf(candidate)):
                return canonical(candidate)
        except (GrammarError, GrammarSchemaTooLarge):
            continue
    return canonical(JSON_OBJECT_SCHEMA)


def schema_to_gbnf(schema: dict[str, Any], root_name: str = "root") -> str:
    """GBNF for an already rewritten (grammar) schema; GrammarError when the converter fails."""
    converter = _converter_class()(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        converter.visit(schema, "")
        grammar = converter.format_grammar()
    except Exception as exc:  # noqa: BLE001 - the converter raises plain errors on what it cannot do
        raise GrammarError(f"cannot be turned into a grammar: {exc}") from exc
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise GrammarError("the grammar would be too large")
    return grammar if root_name == "root" else ROOT_RULE.sub(f"{root_name} ::=", grammar, count=1)


@lru_cache(maxsize=1)
def _converter_class() -> type:
    """llama.cpp's converter, with JSON-safe pattern translation (regex_gbnf.py)."""
    from llama_cpp.llama_grammar import RESERVED_NAMES, SchemaConverter

    class Converter(SchemaConverter):
        def visit(self, schema: dict[str, Any], name: str) -> str:
            if schema.get("type") == "integer" and schema.get("minimum") in (0, 1):
                digits = "[1-9] [0-9]{0,15}" if schema["minimum"] == 1 else '("0" | [1-9] [0-9]{0,15})'
                rule_name = name + "-" if name in RESERVED_NAMES else name or "root"
                return self._add_rule(rule_name, f"{digits} space")
            return super().visit(schema, name)

        def _visit_pattern(self, pattern: str, name: str) -> str:
            return self._add_rule(name, '"\\"" ' + pattern_to_gbnf(pattern) + ' "\\"" space')

    return Converter


def gbnf_parses(grammar: str) -> bool:
    """Does llama.cpp accept this grammar? (Its parser needs no model for that.)"""
    import llama_cpp

    if len(grammar) > MAX_GRAMMAR_CHARS:
        return False
    sampler = llama_cpp.llama_sampler_init_grammar(None, grammar.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True
