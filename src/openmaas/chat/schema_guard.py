"""Caller-supplied JSON schemas are data: checked at the door, validated without fetching.

Tool `parameters` and `response_format` schemas come from any API caller. `check_user_schema`
refuses, with 1214 naming the field, what could make the server reach outside the request:
references other than local `#...` fragments (`$ref`, `$dynamicRef`, `$recursiveRef`), `$id`,
an unknown `$schema`, and schemas too big or too deep; the meta-schema check (the costly part,
on the event loop) is cached by the schema's JSON. Model output is then validated
(`is_valid`) by a validator whose registry cannot retrieve anything (jsonschema ≥ 4.18
would otherwise `urlopen` an unknown reference), whose `pattern` runs on the `regex` module
under a timeout (a pathological pattern is a failed match, not a hung process), and which
checks the formats the grammar writes (date, time, date-time, email, uuid, ipv4, uri).
Callers on the event loop run validation in a thread with a time budget (`off_loop`).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]  # private, not in typeshed
from re import _parser as sre_parser  # type: ignore[attr-defined]  # private, not in typeshed
from typing import Any, TypeVar

import jsonschema
import referencing
import regex
from jsonschema import validators
from jsonschema.exceptions import SchemaError, ValidationError

from openmaas.engines.grammar_schema import FORMAT_PATTERNS
from openmaas.errors import InvalidField

MAX_SCHEMA_CHARS = 32 * 1024  # meta-schema validation costs ~50 ms per KiB here, on the loop
MAX_DEPTH = 32
MAX_PATTERN_CHARS = 1000
MAX_PATTERN_COST = 20_000  # atoms after expanding counts: `regex` compiles `(a{k}){n}` to k*n
REGEX_TIMEOUT_S = 0.05  # one pattern evaluation; a timeout counts as "does not match"
VALIDATION_BUDGET_S = 2.0  # one call's arguments, validated off the event loop
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")
DIALECTS = (
    "http://json-schema.org/draft-06/schema",
    "http://json-schema.org/draft-07/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "https://json-schema.org/draft/2020-12/schema",
)
DATA_KEYWORDS = ("enum", "const", "default", "examples")  # values, not schemas: sized, not checked
T = TypeVar("T")
_DEADLINE: ContextVar[float] = ContextVar("schema_validation_deadline", default=math.inf)


# --- at the door -------------------------------------------------------------------------------
def check_user_schema(schema: Any, field: str) -> int:
    """Refuse (1214 on `field`) a schema that is not self-contained or is too big; returns its
    size (about its length as JSON) so that callers can bound several schemas together."""
    if not isinstance(schema, dict):
        raise InvalidField(field, "must be a JSON Schema object")
    keywords: set[str] = set()
    size = _walk(schema, field, 0, keywords, data=False)
    if {"unevaluatedProperties", "patternProperties"} <= keywords:
        raise InvalidField(field, "unevaluatedProperties cannot be combined with patternProperties")
    if (problem := _schema_problem(json.dumps(schema, ensure_ascii=False))) is not None:
        raise InvalidField(field, f"invalid JSON Schema: {problem}")
    return size


@lru_cache(maxsize=512)
def _schema_problem(schema_json: str) -> str | None:
    """Meta-schema validation, cached: clients send the same tools with every request."""
    schema = json.loads(schema_json)
    try:
        _validator_class(schema).check_schema(schema, format_checker=_schema_formats())
    except SchemaError as exc:
        return exc.message
    return None


def _walk(node: Any, field: str, depth: int, keywords: set[str], data: bool) -> int:
    """Depth, size and keyword checks in one pass; returns the size seen (bounded)."""
    if depth > MAX_DEPTH:
        raise InvalidField(field, f"a schema may nest at most {MAX_DEPTH} levels")
    if isinstance(node, list):
        return 2 + sum(_walk(item, field, depth + 1, keywords, data) for item in node)
    if not isinstance(node, dict):
        return len(node) + 2 if isinstance(node, str) else 8
    if not data:
        _check_keywords(node, field)
        keywords.update(node)
    size = 2
    for key, value in node.items():
        size += len(key) + 4 + _walk(value, field, depth + 1, keywords, data or key in DATA_KEYWORDS)
        if size > MAX_SCHEMA_CHARS:
            raise InvalidField(field, f"a schema may have at most {MAX_SCHEMA_CHARS} characters")
    return size


def _check_keywords(node: dict[str, Any], field: str) -> None:
    for key in REFERENCES:
        value = node.get(key)
        if isinstance(value, str) and not value.startswith("#"):
            raise InvalidField(
                field,
                f"{key} {value[:200]!r}: only local references (#...) are allowed; a schema is never fetched",
            )
    if isinstance(node.get("$id"), str) and not node["$id"].startswith("#"):
        raise InvalidField(field, "$id is not allowed: schemas must be self-contained")
    dialect = node.get("$schema")
    if isinstance(dialect, str) and dialect.rstrip("#") not in DIALECTS:
        raise InvalidField(field, f"$schema must be one of {', '.join(DIALECTS)}")
    for pattern in _patterns(node):
        if len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidField(field, f"a pattern may have at most {MAX_PATTERN_CHARS} characters")
        if pattern_cost(pattern) > MAX_PATTERN_COST:
            raise InvalidField(
                field,
                f"pattern {pattern[:200]!r} repeats too much "
                f"(at most {MAX_PATTERN_COST} characters once counts are expanded)",
            )
        if _compiled(pattern) is None:
            raise InvalidField(field, f"pattern {pattern[:200]!r} is not a valid regular expression")


def _patterns(node: dict[str, Any]) -> Iterator[str]:
    if isinstance(node.get("pattern"), str):
        yield node["pattern"]
    if isinstance(node.get("patternProperties"), dict):
        yield from node["patternProperties"]


# --- validating model output -------------------------------------------------------------------
def is_valid(instance: Any, schema: dict[str, Any]) -> bool:
    """Does `instance` match `schema`? Anything that goes wrong while checking is a 'no', and
    so is running out of `VALIDATION_BUDGET_S` of regex time."""
    token = _DEADLINE.set(time.monotonic() + VALIDATION_BUDGET_S)
    try:
        return _validator(json.dumps(schema, sort_keys=True)).is_valid(instance)
    except Exception:  # noqa: BLE001 - a caller's schema must never turn into a 500
        return False
    finally:
        _DEADLINE.reset(token)


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    return _validator_class(schema)(schema, registry=referencing.Registry(), format_checker=_formats())


def _validator_class(schema: dict[str, Any]) -> Any:
    return _safe_class(validators.validator_for(schema, default=jsonschema.Draft202012Validator))


@lru_cache(maxsize=8)
def _safe_class(base: Any) -> Any:
    """`base` with every regex evaluated by `search` (bounded) instead of `re.search`."""
    return validators.extend(
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )


@lru_cache(maxsize=1024)
def pattern_cost(pattern: str) -> int:
    """About how many atoms compiling `pattern` creates (the `regex` module expands counts:
    `(?:x{65535}){65535}` exhausts memory). Exact when Python's parser reads the pattern,
    else the product of every count in it."""
    try:
        return _cost(list(sre_parser.parse(pattern)))
    except RecursionError:
        return MAX_PATTERN_COST + 1
    except Exception:  # noqa: BLE001 - ECMA syntax Python's parser lacks: estimate instead
        counts = [int(high or low) for low, high in re.findall(r"\{(\d+)(?:,(\d*))?\}", pattern)]
        return len(pattern) * math.prod(max(c, 1) for c in counts)


def _cost(items: list[Any]) -> int:
    total = 0
    for op, arg in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, inner = arg
            total += max(low if high == sre.MAXREPEAT else high, 1) * _cost(list(inner))
        elif op is sre.SUBPATTERN:
            total += _cost(list(arg[3]))
        elif op is sre.BRANCH:
            total += sum(_cost(list(alternative)) for alternative in arg[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += _cost(list(arg[1]))
        elif op is sre.ATOMIC_GROUP:
            total += _cost(list(arg))
        elif op is sre.GROUPREF_EXISTS:
            total += _cost(list(arg[1])) + _cost(list(arg[2] or []))
        else:
            total += 1
        if total > MAX_PATTERN_COST:
            break
    return total


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    """The compiled pattern; None when it is not a regex or too costly to compile."""
    if len(pattern) > MAX_PATTERN_CHARS or pattern_cost(pattern) > MAX_PATTERN_COST:
        return None
    try:
        return regex.compile(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError):
        return None


def search(pattern: str, text: str) -> bool:
    """A bounded regex search: a pattern that takes too long does not match."""
    compiled = _compiled(pattern)
    left = _DEADLINE.get() - time.monotonic()
    if compiled is None or left <= 0:
        return False
    try:
        return compiled.search(text, timeout=min(REGEX_TIMEOUT_S, left)) is not None
    except TimeoutError:
        return False


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance[:80]!r} does not match {pattern[:80]!r}")


def _pattern_properties(
    validator: Any, patterns: dict, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, extra: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    extras = [k for k in instance if k not in known and not any(search(p, k) for p in patterns)]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif extra is False and extras:
        yield ValidationError(f"additional properties are not allowed ({', '.join(extras)[:200]})")


@lru_cache(maxsize=1)
def _schema_formats() -> jsonschema.FormatChecker:
    """For checking a schema itself: its patterns are read by the `regex` module (ECMA-like:
    `\\p{L}`, `(?<name>...)`), as validation will read them."""
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("regex")(lambda value: not isinstance(value, str) or _compiled(value) is not None)
    return checker


@lru_cache(maxsize=1)
def _formats() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, pattern in FORMAT_PATTERNS.items():
        checker.checks(name)(
            lambda value, pattern=pattern: not isinstance(value, str) or search(pattern, value)
        )
    return checker


# --- off the event loop ------------------------------------------------------------------------
async def off_loop(function: Callable[..., T], *args: Any, budget_s: float, on_timeout: Callable[[], T]) -> T:
    """Run CPU-bound schema work in a thread; past `budget_s` answer `on_timeout()` instead
    (the thread finishes on its own: every step in it is bounded)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(function, *args), budget_s)
    except TimeoutError:
        return on_timeout()
