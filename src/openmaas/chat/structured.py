"""Structured output: `response_format` json_object or json_schema → a decoding grammar.

The grammar guarantees the output parses and follows the schema as far as a grammar can
express it (engines/grammar.py: a `pattern` llama.cpp cannot express, or a count above its
cap, is loosened rather than refused). The schema is checked at the door (schema_guard.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openmaas.chat.schema_guard import check_user_schema
from openmaas.engines.grammar import JSON_OBJECT_SCHEMA, json_schema_grammar
from openmaas.errors import InvalidField


@dataclass(frozen=True)
class OutputFormat:
    kind: str  # text | json_object | json_schema
    schema: dict[str, Any] | None = None

    def grammar(self, loose: bool = False) -> str | None:
        """The decoding grammar (CPU-bound on a new schema: run it off the event loop);
        `loose` is any JSON object, the cheap fallback when time runs out."""
        if self.kind == "text":
            return None
        return json_schema_grammar(JSON_OBJECT_SCHEMA if loose else self.schema or JSON_OBJECT_SCHEMA)


TEXT = OutputFormat("text")


def parse_response_format(raw: dict[str, Any] | None) -> OutputFormat:
    if not raw or raw.get("type") in (None, "text"):
        return TEXT
    kind = raw.get("type")
    if kind == "json_object":
        return OutputFormat("json_object")
    if kind != "json_schema":
        raise InvalidField("response_format.type", "text, json_object or json_schema")
    spec = raw.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    check_user_schema(schema, "response_format.json_schema.schema")
    return OutputFormat("json_schema", schema)
