"""A caller's JSON schema → a *grammar schema*: what llama.cpp's converter is given.

The converter handles a subset of JSON Schema and expands repetition counts textually, so
the caller's schema is rewritten first, at one of three levels:

- `EXACT`: local `$ref`s inlined (recursion cut after a few levels), `format`s that have a
  pattern (date, time, date-time, email, uuid, ipv4, uri) and translatable `pattern`s kept,
  small integer ranges spelt as enums, `type` lists as unions;
- `LOOSE`: as EXACT, but strings are any string (no pattern, no format);
- `ANY`: any value of the root's type.

Counts (`minLength`/`maxLength`/`minItems`/`maxItems`) above `MAX_COUNT` are loosened. What a
level leaves out, validation of the output enforces (chat/schema_guard.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from openmaas.engines.regex_gbnf import UnsupportedPattern, pattern_to_gbnf

EXACT, LOOSE, ANY = "exact", "loose", "any"
LEVELS = (EXACT, LOOSE, ANY)
MAX_COUNT = 64  # repetition counts above this are left to validation
MAX_ENUM_RANGE = 128  # integer ranges this small become enums
MAX_NODES = 4000  # a bigger grammar schema (after inlining references) is not built
MAX_REF_DEPTH = 3  # references nested deeper than this (recursion) become "any value"
ANY_VALUE = {"type": ["string", "number", "boolean", "object", "array", "null"]}
DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"
FORMAT_PATTERNS = {  # also what validation accepts for these formats
    "date": f"^{DATE}$",
    "time": f"^{TIME}$",
    "date-time": f"^{DATE}[T ]{TIME}$",
    "email": r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "ipv4": r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$",
    "uri": r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$",
}


class GrammarSchemaTooLarge(ValueError):
    """Inlining references made the schema too big for a grammar."""


def grammar_schema(schema: dict[str, Any], level: str) -> dict[str, Any]:
    if level == ANY:
        return loosest(schema)
    return _Rewriter(schema, exact=level == EXACT).node(schema, 0)


def loosest(schema: Any) -> dict[str, Any]:
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, str):
        return {"type": kind}
    if isinstance(schema, dict) and "properties" in schema:
        return {"type": "object"}
    return dict(ANY_VALUE)


class _Rewriter:
    def __init__(self, root: dict[str, Any], exact: bool) -> None:
        self.root, self.exact, self.nodes = root, exact, 0

    def node(self, schema: Any, ref_depth: int) -> dict[str, Any]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise GrammarSchemaTooLarge(f"more than {MAX_NODES} schema nodes")
        if not isinstance(schema, dict):
            return dict(ANY_VALUE)  # true/false schemas: left to validation
        if isinstance(schema.get("$ref"), str):
            return self._reference(schema["$ref"], ref_depth)
        if "$dynamicRef" in schema or "$recursiveRef" in schema:
            return dict(ANY_VALUE)
        for key in ("const", "enum"):
            if key in schema and (key == "const" or schema[key]):
                return {key: schema[key]}
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return {"anyOf": [self.node(s, ref_depth) for s in schema[key]]}
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            return self._all_of(schema, ref_depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            return {"anyOf": [self.node({**schema, "type": k}, ref_depth) for k in kind] or [ANY_VALUE]}
        return self._typed(schema, kind, ref_depth)

    def _typed(self, schema: dict[str, Any], kind: Any, ref_depth: int) -> dict[str, Any]:
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, ref_depth)
        if kind == "array" or (kind is None and ("items" in schema or "prefixItems" in schema)):
            return self._array(schema, ref_depth)
        if kind == "string" or (kind is None and ("pattern" in schema or "format" in schema)):
            return self._string(schema)
        if kind == "integer":
            return _integer(schema)
        if kind in ("number", "boolean", "null"):
            return {"type": kind}
        return dict(ANY_VALUE)

    def _reference(self, ref: str, ref_depth: int) -> dict[str, Any]:
        target = _pointer(self.root, ref)
        if target is None or ref_depth >= MAX_REF_DEPTH:
            return dict(ANY_VALUE)
        return self.node(target, ref_depth + 1)

    def _all_of(self, schema: dict[str, Any], ref_depth: int) -> dict[str, Any]:
        parts = [self.node(s, ref_depth) for s in schema["allOf"]]
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        if rest.get("properties") or rest.get("type"):
            parts.append(self.node(rest, ref_depth))
        objects = [p for p in parts if "properties" in p]
        if not objects:
            return parts[0]
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in objects:
            merged["properties"].update(part["properties"])
            merged["required"] += [r for r in part.get("required", []) if r not in merged["required"]]
        return merged

    def _object(self, schema: dict[str, Any], ref_depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                return {"type": "object", "additionalProperties": self.node(extra, ref_depth)}
            return {"type": "object"}
        out: dict[str, Any] = {
            "type": "object",
            "properties": {name: self.node(sub, ref_depth) for name, sub in properties.items()},
        }
        required = schema.get("required")
        if isinstance(required, list):
            for name in required:  # required but not described: any value, still written
                out["properties"].setdefault(name, dict(ANY_VALUE))
            out["required"] = list(required)
        return out

    def _array(self, schema: dict[str, Any], ref_depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        items, prefix = schema.get("items"), schema.get("prefixItems")
        if isinstance(prefix, list) and prefix and items is False:
            return {"type": "array", "prefixItems": [self.node(s, ref_depth) for s in prefix]}
        out["items"] = self.node(items, ref_depth) if isinstance(items, dict) else dict(ANY_VALUE)
        out.update(_counts(schema, "minItems", "maxItems"))
        return out

    def _string(self, schema: dict[str, Any]) -> dict[str, Any]:
        pattern = schema.get("pattern")
        if not isinstance(pattern, str):
            pattern = FORMAT_PATTERNS.get(str(schema.get("format")))
        if self.exact and pattern is not None and translatable(pattern):
            return {"type": "string", "pattern": pattern}
        return {"type": "string", **_counts(schema, "minLength", "maxLength")}


def translatable(pattern: str) -> bool:
    try:
        pattern_to_gbnf(pattern)
    except UnsupportedPattern:
        return False
    return True


def _counts(schema: dict[str, Any], low_key: str, high_key: str) -> dict[str, int]:
    out = {}
    low, high = schema.get(low_key), schema.get(high_key)
    if isinstance(low, int) and low > 0:
        out[low_key] = min(low, MAX_COUNT)
    if isinstance(high, int) and high <= MAX_COUNT and high >= out.get(low_key, 0):
        out[high_key] = high
    return out


def _integer(schema: dict[str, Any]) -> dict[str, Any]:
    low = _bound(schema, "minimum", "exclusiveMinimum", 1)
    high = _bound(schema, "maximum", "exclusiveMaximum", -1)
    if low is not None and high is not None and 0 <= high - low < MAX_ENUM_RANGE:
        return {"enum": list(range(low, high + 1))}
    if low is not None and low >= 0:  # counts, limits, ids: no minus sign (grammar.py)
        return {"type": "integer", "minimum": min(low, 1)}
    return {"type": "integer"}


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, step: int) -> int | None:
    """The tightest integer bound the schema gives on one side."""
    candidates = []
    value = schema.get(inclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        candidates.append(math.ceil(value) if step > 0 else math.floor(value))
    value = schema.get(exclusive)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        candidates.append(math.floor(value) + 1 if step > 0 else math.ceil(value) - 1)
    if not candidates:
        return None
    return max(candidates) if step > 0 else min(candidates)


def _pointer(root: dict[str, Any], ref: str) -> Any:
    """A local JSON pointer (`#`, `#/$defs/x`); None for anything else."""
    if not ref.startswith("#"):
        return None
    target: Any = root
    path = ref[1:]
    if path and not path.startswith("/"):
        return _anchor(root, path)
    for part in path.split("/")[1:]:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return target


def _anchor(node: Any, name: str, depth: int = 0) -> Any:
    """The subschema declaring `$anchor: name` (a `#name` reference)."""
    if depth > 64:
        return None
    if isinstance(node, dict):
        if node.get("$anchor") == name:
            return node
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        if (found := _anchor(child, name, depth + 1)) is not None:
            return found
    return None
