"""JSON Schema → GBNF, through llama.cpp's own converter (a pure-Python module)."""

from __future__ import annotations

import json
from typing import Any

from openmaas.errors import InvalidField

JSON_OBJECT_SCHEMA = {"type": "object"}


def json_schema_grammar(schema: dict[str, Any], root_name: str = "root") -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises plain errors on unsupported schemas
        raise InvalidField("schema", f"cannot be turned into a grammar: {exc}") from exc
    if root_name != "root":
        grammar = grammar.replace("root ::=", f"{root_name} ::=", 1)
    return grammar
