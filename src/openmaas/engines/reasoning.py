"""Splitting a model's `<think>…</think>` output into reasoning and answer, incrementally.

Thinking models (Qwen3, DeepSeek-R1 distills, GLM-Z1) write their chain of thought between
tags in the text they generate. `ThinkSplitter` takes the output piece by piece (token
pieces split a tag anywhere: `<th` + `ink>`), holds back only what might still be a tag,
and says which text is reasoning and which is answer. `ReasoningOutput` puts a splitter
in front of the answer's stop matcher (stop strings apply to the answer only) and turns
pieces into engine events with their token counts; the fake and llama.cpp engines and
the upstream engine (for servers without a reasoning parser) share it.

The answer path is the hot one (every token of a plain answer goes through it): once
the answer has begun a piece is handed on unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from openmaas.engines.base import (
    ChatMessage,
    GenerationEvent,
    ReasoningDelta,
    TextDelta,
    Thinking,
    ThinkTags,
)
from openmaas.engines.stops import StopMatcher

BEFORE, REASONING, ANSWER = 0, 1, 2
WHITESPACE = " \t\r\n"


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """`feed(piece)` → (reasoning text, answer text) now safe to emit; `flush()` at the end.

    Leading whitespace of the reasoning and of the answer is dropped (models write
    `<think>\\n…\\n</think>\\n\\n answer`), and so is whitespace just before the close tag.
    Only an open tag at the very start (after whitespace) opens reasoning: a `<think>` in
    the middle of an answer is answer text.
    """

    __slots__ = ("open_tag", "close_tag", "state", "opened", "_held", "answer_started", "_reasoning_started")

    def __init__(
        self, open_tag: str = "<think>", close_tag: str = "</think>", starts_inside: bool = False
    ) -> None:
        self.open_tag, self.close_tag = open_tag, close_tag
        self.state = REASONING if starts_inside else BEFORE
        self.opened = starts_inside  # reasoning has begun (the open tag was seen or prefilled)
        self._held = ""
        self.answer_started = False
        self._reasoning_started = False

    @property
    def in_answer(self) -> bool:
        return self.state == ANSWER

    def feed(self, piece: str) -> tuple[str, str]:
        if self.state == ANSWER:
            if self.answer_started:
                return "", piece
            return "", self._answer(piece)
        if self.state == BEFORE:
            return self._before(piece)
        return self._reasoning(piece)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self.state == REASONING:
            return held.lstrip(WHITESPACE).rstrip(WHITESPACE), ""
        if self.state == BEFORE:
            self.state = ANSWER
            return "", held.lstrip(WHITESPACE)
        return "", ""

    def _before(self, piece: str) -> tuple[str, str]:
        buffer = (self._held + piece).lstrip(WHITESPACE)
        if buffer.startswith(self.open_tag):
            self._held, self.state, self.opened = "", REASONING, True
            return self._reasoning(buffer[len(self.open_tag) :])
        if self.open_tag.startswith(buffer):  # still could be the tag (or only whitespace)
            self._held = buffer
            return "", ""
        self._held, self.state = "", ANSWER
        return "", self._answer(buffer)

    def _reasoning(self, piece: str) -> tuple[str, str]:
        buffer = self._held + piece
        if not self._reasoning_started:
            buffer = buffer.lstrip(WHITESPACE)
            self._reasoning_started = bool(buffer)
        end = buffer.find(self.close_tag)
        if end >= 0:
            self._held, self.state = "", ANSWER
            return buffer[:end].rstrip(WHITESPACE), self._answer(buffer[end + len(self.close_tag) :])
        keep = _partial_suffix(buffer, self.close_tag)
        safe = buffer[: len(buffer) - keep]
        trimmed = safe.rstrip(WHITESPACE)  # whitespace before the close tag is not reasoning
        self._held = buffer[len(trimmed) :]
        return trimmed, ""

    def _answer(self, text: str) -> str:
        if self.answer_started:
            return text
        text = text.lstrip(WHITESPACE)
        self.answer_started = bool(text)
        return text


class ReasoningOutput:
    """Pieces of generated text → `ReasoningDelta`s then `TextDelta`s, stop strings applied to
    the answer. Without `think` (a model that does not think) it is the stop matcher alone.

    Each event carries the tokens fed since the previous event; `reasoning_tokens` counts the
    tokens spent thinking (including the tags). With `think.show` false (thinking was switched
    off but the model thought anyway) the reasoning is dropped, its tokens still counted.
    """

    __slots__ = ("splitter", "stops", "show", "reasoning_tokens", "_unsent", "_undecided")

    def __init__(self, think: ThinkTags | None, stops: tuple[str, ...] = ()) -> None:
        self.splitter = (
            ThinkSplitter(think.open, think.close, think.starts_inside) if think is not None else None
        )
        self.show = think.show if think is not None else False
        self.stops = StopMatcher(stops)
        self.reasoning_tokens = 0
        self._unsent = 0
        self._undecided = 0  # tokens fed before it was known whether reasoning had begun

    @property
    def stopped(self) -> bool:
        return self.stops.stopped

    @property
    def stop_sequence(self) -> str | None:
        """The stop string that ended the answer, if one did."""
        return self.stops.matched

    @property
    def in_answer(self) -> bool:
        """True once the answer has begun (grammars apply from there)."""
        return self.splitter is None or self.splitter.state != REASONING

    def feed(self, piece: str, tokens: int = 1) -> list[GenerationEvent]:
        """One token's text (`tokens=0`: text that is no new token, e.g. a decoder's tail)."""
        self._unsent += tokens
        splitter = self.splitter
        if splitter is None or splitter.answer_started:
            return self._answer(piece)  # the hot path: a plain answer
        before = splitter.state
        reasoning, answer = splitter.feed(piece)
        if tokens:
            self._count(before, splitter.state)
        return self._events(reasoning, answer)

    def flush(self) -> list[GenerationEvent]:
        events: list[GenerationEvent] = []
        if self.splitter is not None and not self.stops.stopped:
            before = self.splitter.state
            reasoning, answer = self.splitter.flush()
            if before == BEFORE:
                self._undecided = 0
            events = self._events(reasoning, answer)
        if not self.stops.stopped and (tail := self.stops.flush()):
            events.append(self._emit_text(tail))
        return events

    def _count(self, before: int, after: int) -> None:
        if before == REASONING:
            self.reasoning_tokens += 1
        elif before == BEFORE and after == BEFORE:
            self._undecided += 1
        elif before == BEFORE:
            if self.splitter is not None and self.splitter.opened:  # the held-back tokens were the open tag
                self.reasoning_tokens += self._undecided + 1
            self._undecided = 0

    def _events(self, reasoning: str, answer: str) -> list[GenerationEvent]:
        events: list[GenerationEvent] = []
        if reasoning and self.show:
            events.append(ReasoningDelta(reasoning, self._unsent))
            self._unsent = 0
        if answer:
            events.extend(self._answer(answer))
        return events

    def _answer(self, text: str) -> list[GenerationEvent]:
        if self.stops.stopped:
            return []
        safe = self.stops.feed(text)
        return [self._emit_text(safe)] if safe else []

    def _emit_text(self, text: str) -> TextDelta:
        event = TextDelta(text, self._unsent)
        self._unsent = 0
        return event


def thinking_wanted(default: bool, request: Thinking | None) -> bool:
    """Whether a thinking model thinks for this request (its default unless the request says)."""
    return default if request is None or request.enabled is None else request.enabled


def without_reasoning(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages without kept reasoning (for models that do not think)."""
    if not any(m.reasoning_content for m in messages):
        return messages
    return [replace(m, reasoning_content=None) if m.reasoning_content else m for m in messages]


def with_no_think_switch(messages: list[ChatMessage], wanted: bool) -> list[ChatMessage]:
    """Qwen3's soft switch: `/think` or `/no_think` at the end of the last user message."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            switch = "/think" if wanted else "/no_think"
            content = f"{messages[i].content or ''}\n{switch}".lstrip("\n")
            return [*messages[:i], replace(messages[i], content=content), *messages[i + 1 :]]
    return messages


def think_tags_for(rendered: str, open_tag: str, close_tag: str, wanted: bool) -> tuple[str, ThinkTags]:
    """The prompt to generate from and how to split its output. A thinking request starts
    inside the reasoning: the open tag is appended when the template did not write it (the
    model would write it first anyway), so a grammar can apply from the close tag on."""
    inside = rendered.rstrip(WHITESPACE).endswith(open_tag)
    if wanted and not inside:
        rendered, inside = f"{rendered}{open_tag}\n", True
    return rendered, ThinkTags(open_tag, close_tag, starts_inside=inside, show=wanted)
