"""The engine protocols and the value types that cross them.

A chat engine turns messages into a prepared prompt (rendered with the model's own
chat template and counted with its tokenizer), then streams `ReasoningDelta`s (a thinking
model's chain of thought, always before the answer), `TextDelta`s and exactly one final
`Finished`. Closing the stream early cancels generation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant | tool
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    reasoning_content: str | None = None  # an assistant turn's earlier thinking (kept history)
    # the content as parts (text and image_url dicts, OpenAI form) when it carries images;
    # `content` is then its text alone. Only vision models (upstream) receive the parts.
    parts: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class Thinking:
    """What a request asks of a thinking model."""

    enabled: bool | None = None  # None: the model's default
    effort: str | None = None  # reasoning_effort, passed on to upstreams that take it


@dataclass(frozen=True, slots=True)
class ThinkTags:
    """How a prepared prompt's output carries reasoning in its text (`<think>…</think>`)."""

    open: str = "<think>"
    close: str = "</think>"
    starts_inside: bool = False  # the prompt itself ends with the open tag
    show: bool = True  # False: thinking was switched off; reasoning that still comes is dropped


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 0.75
    top_p: float = 0.9
    greedy: bool = False
    stop: tuple[str, ...] = ()
    seed: int | None = None
    grammar: str | None = None  # GBNF the output must follow
    banned_texts: tuple[str, ...] = ()  # special tokens the model may not emit (e.g. "<tool_call>")
    adapter: str | None = None  # a LoRA adapter (GGUF) applied for this request (fine-tuned models)


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    text: str
    token_count: int
    tokens: tuple[int, ...] = field(default=(), repr=False)
    think: ThinkTags | None = None  # None: the output is all answer


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    tokens: int = 1  # tokens this delta carries (a held-back stop prefix may merge several)


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Chain of thought, streamed before any TextDelta of the same generation."""

    text: str
    tokens: int = 1


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str  # stop | length
    prompt_tokens: int
    completion_tokens: int  # reasoning tokens included
    reasoning_tokens: int = 0
    stop_sequence: str | None = None  # the request's stop string that ended it (engines that know)
    cached_tokens: int = 0  # prompt tokens served from a prefix cache (slot reuse, an upstream's count)


GenerationEvent = TextDelta | ReasoningDelta | Finished


class ChatEngine(Protocol):
    context_window: int

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def prepare(
        self,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None = None,
        thinking: Thinking | None = None,
    ) -> PreparedPrompt: ...

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, owner: str
    ) -> AsyncGenerator[GenerationEvent, None]:
        """Stream deltas then one Finished; `owner` (the account) drives fair queueing."""
        ...


def generation_stream(
    engine: ChatEngine, prompt: PreparedPrompt, params: SamplingParams, owner: str
) -> AsyncGenerator[GenerationEvent, None]:
    """`engine.generate(...)`: an async generator, so `aclosing` can close it early (which
    cancels the generation)."""
    return engine.generate(prompt, params, owner)
