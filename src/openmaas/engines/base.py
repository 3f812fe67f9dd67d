"""The engine protocols and the value types that cross them.

A chat engine turns messages into a prepared prompt (rendered with the model's own
chat template and counted with its tokenizer), then streams `TextDelta`s and exactly
one final `Finished`. Closing the stream early cancels generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system | user | assistant | tool
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None


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


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    tokens: int = 1  # tokens this delta carries (a held-back stop prefix may merge several)


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str  # stop | length
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finished


class ChatEngine(Protocol):
    context_window: int

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def prepare(self, messages: list[ChatMessage],
                      tools: list[dict[str, Any]] | None = None) -> PreparedPrompt: ...

    def generate(self, prompt: PreparedPrompt, params: SamplingParams,
                 owner: str) -> AsyncIterator[GenerationEvent]:
        """Stream deltas then one Finished; `owner` (the account) drives fair queueing."""
        ...
