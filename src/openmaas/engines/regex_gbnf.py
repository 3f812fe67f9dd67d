"""A JSON-schema `pattern` → a GBNF expression for the body of a JSON string.

llama.cpp's Python converter copies regex escapes such as `\\d` into GBNF literals, which
llama.cpp's parser then refuses ("unknown escape"), and it emits the pattern's characters
raw, so a `"` or `\\` in the pattern would end the JSON string. Here the pattern is parsed by
Python's own regex parser and rebuilt over JSON-string characters: classes are spelt as GBNF
ranges, `"` and `\\` are emitted in their escaped JSON form, control characters are left
out. The result may be stricter than the pattern (ASCII `\\w`, no control characters), never
something the pattern rejects, except where repetition counts are capped: the caller
validates the output against the real pattern afterwards.

Anything without a faithful translation (look-arounds, back-references, word boundaries,
inline flags) raises `UnsupportedPattern`; the caller then leaves the pattern to validation.
"""

from __future__ import annotations

from re import _constants as sre  # type: ignore[attr-defined]  # private, not in typeshed
from re import _parser as sre_parser  # type: ignore[attr-defined]  # private, not in typeshed
from typing import Any

MAX_REPEAT = 64  # repetition counts above this are loosened (validation enforces them)
JSON_CHAR = r'[^"\\\x00-\x1F]'  # a character a JSON string holds unescaped
EMPTY = '""'
ESCAPED = {'"': r'"\\\""', "\\": r'"\\\\"'}  # GBNF literals of their JSON escapes
UNESCAPED_EXCLUDED = '"\\'
START = (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
END = (sre.AT_END, sre.AT_END_STRING)
WORD_RANGES = [(48, 57), (65, 90), (95, 95), (97, 122)]


class UnsupportedPattern(ValueError):
    """The pattern has no faithful GBNF translation."""


def pattern_to_gbnf(pattern: str) -> str:
    """GBNF for the characters between the quotes of a JSON string matching `pattern`."""
    try:
        parsed = sre_parser.parse(pattern)
    except Exception as exc:  # ECMA-only syntax, or not a regex at all
        raise UnsupportedPattern(str(exc)) from exc
    if parsed.state.flags & (sre.SRE_FLAG_IGNORECASE | sre.SRE_FLAG_MULTILINE | sre.SRE_FLAG_VERBOSE):
        raise UnsupportedPattern("inline flags")
    items, starts = _strip_anchor(list(parsed), START, first=True)
    items, ends = _strip_anchor(items, END, first=False)
    prefix = "" if starts else f"{JSON_CHAR}* "
    suffix = "" if ends else f" {JSON_CHAR}*"
    return f"({prefix}{_sequence(items) or EMPTY}{suffix})"


def _strip_anchor(items: list[Any], anchors: tuple, first: bool) -> tuple[list[Any], bool]:
    """Drop `^` (or `$`) from the edge of the pattern, also inside edge groups and branches.
    Returns the rest and whether the pattern was anchored there; half-anchored is refused."""
    if not items:
        return items, False
    at = 0 if first else len(items) - 1
    op, arg = items[at]
    rest = items[1:] if first else items[:-1]
    if op is sre.AT and arg in anchors:
        return rest, True
    if op is sre.BRANCH:
        stripped = [_strip_anchor(list(alt), anchors, first) for alt in arg[1]]
        if len({anchored for _, anchored in stripped}) > 1:
            raise UnsupportedPattern("anchors in some alternatives only")
        replaced = (sre.BRANCH, (arg[0], [alt for alt, _ in stripped]))
        return _put(rest, replaced, first), stripped[0][1]
    if op is sre.SUBPATTERN and not (arg[1] or arg[2]):
        inner, anchored = _strip_anchor(list(arg[3]), anchors, first)
        return _put(rest, (sre.SUBPATTERN, (*arg[:3], inner)), first), anchored
    return items, False


def _put(rest: list[Any], item: Any, first: bool) -> list[Any]:
    return [item, *rest] if first else [*rest, item]


def _sequence(items: list[Any]) -> str:
    return " ".join(_item(op, arg) for op, arg in items)


def _item(op: Any, arg: Any) -> str:
    if op is sre.LITERAL:
        return _literal(chr(arg))
    if op is sre.NOT_LITERAL:
        return _negated([(arg, arg)])
    if op is sre.ANY:
        return JSON_CHAR
    if op is sre.IN:
        return _char_set(arg)
    if op is sre.BRANCH:
        return "(" + " | ".join(_sequence(list(alt)) or EMPTY for alt in arg[1]) + ")"
    if op is sre.SUBPATTERN:
        _, add_flags, del_flags, inner = arg
        if add_flags or del_flags:
            raise UnsupportedPattern("inline flags")
        return "(" + (_sequence(list(inner)) or EMPTY) + ")"
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        low, high, inner = arg
        return _repeat("(" + (_sequence(list(inner)) or EMPTY) + ")", low, high)
    raise UnsupportedPattern(f"{op} is not supported in a grammar")


def _literal(char: str) -> str:
    if char in ESCAPED:
        return ESCAPED[char]
    if ord(char) < 0x20:
        raise UnsupportedPattern("control characters")
    return '"' + char + '"'


def _repeat(item: str, low: int, high: int) -> str:
    unbounded = high == sre.MAXREPEAT or high > MAX_REPEAT
    low = min(low, MAX_REPEAT)
    if unbounded:
        return {0: f"{item}*", 1: f"{item}+"}.get(low, f"{item}{{{low},}}")
    if (low, high) == (0, 1):
        return f"{item}?"
    return f"{item}{{{low}}}" if low == high else f"{item}{{{low},{high}}}"


# --- character classes ----------------------------------------------------------------------
def _char_set(items: list[Any]) -> str:
    negate = bool(items) and items[0][0] is sre.NEGATE
    ranges: list[tuple[int, int]] = []
    for op, arg in items[1:] if negate else items:
        ranges.extend(_ranges(op, arg, negate))
    return _negated(ranges) if negate else _positive(ranges)


def _ranges(op: Any, arg: Any, negate: bool) -> list[tuple[int, int]]:
    if op is sre.LITERAL:
        return [(arg, arg)]
    if op is sre.RANGE:
        return [arg]
    if op is sre.CATEGORY:
        if arg is sre.CATEGORY_DIGIT:
            return [(48, 57)]
        if arg is sre.CATEGORY_WORD:
            return list(WORD_RANGES)
        if arg is sre.CATEGORY_SPACE:
            return [(32, 32)] if not negate else [(9, 13), (32, 32)]
    raise UnsupportedPattern(f"{op} {arg} inside a character class")


def _positive(ranges: list[tuple[int, int]]) -> str:
    """Allowed characters: plain ones in a GBNF class, `"` and `\\` as their JSON escapes."""
    alternatives, plain = [], []
    for low, high in ranges:
        for char in UNESCAPED_EXCLUDED:
            if low <= ord(char) <= high and ESCAPED[char] not in alternatives:
                alternatives.append(ESCAPED[char])
        plain.extend(_split_out(max(low, 0x20), high))
    if plain:
        alternatives.insert(0, "[" + "".join(_class_range(r) for r in plain) + "]")
    if not alternatives:
        raise UnsupportedPattern("a character class with no JSON-string character")
    return alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")"


def _negated(ranges: list[tuple[int, int]]) -> str:
    excluded = "".join(_class_range(r) for r in ranges if r[1] >= 0x20)
    return "[^" + excluded + r'"\\\x00-\x1F]'


def _split_out(low: int, high: int) -> list[tuple[int, int]]:
    """[low, high] less the characters that need escaping in JSON."""
    pieces, start = [], low
    for char in sorted(ord(c) for c in UNESCAPED_EXCLUDED):
        if start <= char <= high:
            if start < char:
                pieces.append((start, char - 1))
            start = char + 1
    if start <= high:
        pieces.append((start, high))
    return pieces


def _class_range(bounds: tuple[int, int]) -> str:
    low, high = bounds
    return _class_char(low) if low == high else f"{_class_char(low)}-{_class_char(high)}"


def _class_char(code: int) -> str:
    if 0x20 <= code <= 0x7E and code not in (0x5B, 0x5C, 0x5D, 0x5E, 0x2D, 0x22):
        return chr(code)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"
