"""Structured output: `response_format` json_object or json_schema → a decoding grammar.

The grammar guarantees the output parses (and matches the schema); the service still
validates it, so a generation cut short by max_tokens is reported, not passed off as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from openmaas.engines.grammar import JSON_OBJECT_SCHEMA, json_schema_grammar
from openmaas.errors import InvalidField


@dataclass(frozen=True)
class OutputFormat:
    kind: str  # text | json_object | json_schema
    schema: dict[str, Any] | None = None

    def grammar(self) -> str | None:
        if self.kind == "text":
            return None
        return json_schema_grammar(self.schema or JSON_OBJECT_SCHEMA)


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
    if not isinstance(schema, dict):
        raise InvalidField("response_format.json_schema.schema", "must be a JSON Schema object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidField("response_format.json_schema.schema", exc.message) from exc
    return OutputFormat("json_schema", schema)
