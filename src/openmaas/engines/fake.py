"""A scriptable fake chat engine: chat, streaming, limits and billing testable without weights.

`FakeChatEngine.enqueue("text")` makes the next generation return that text; with nothing
queued it echoes the last user message. Tokens are words and punctuation marks.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from openmaas.engines.base import (
    ChatMessage,
    Finished,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
)
from openmaas.engines.stops import StopMatcher

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")


def fake_tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


class FakeChatEngine:
    def __init__(self, context_window: int = 8192, token_delay: float = 0.0) -> None:
        self.context_window = context_window
        self.token_delay = token_delay
        self._scripted: deque[str] = deque()
        self.generations = 0
        self.cancelled = 0
        self.prompts: list[PreparedPrompt] = []

    def enqueue(self, *texts: str) -> None:
        self._scripted.extend(texts)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def prepare(self, messages: list[ChatMessage],
                      tools: list[dict[str, Any]] | None = None) -> PreparedPrompt:
        text = "".join(f"<|{m.role}|>{m.content or ''}\n" for m in messages) + "<|assistant|>"
        return PreparedPrompt(text=text, token_count=len(fake_tokenize(text)))

    async def generate(self, prompt: PreparedPrompt, params: SamplingParams,
                       owner: str) -> AsyncIterator[GenerationEvent]:
        self.generations += 1
        self.prompts.append(prompt)
        pieces = fake_tokenize(self._next_text(prompt))
        stops = StopMatcher(params.stop)
        produced, reason = 0, "stop"
        try:
            for piece in pieces:
                if produced >= params.max_tokens:
                    reason = "length"
                    break
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                produced += 1
                if text := stops.feed(piece):
                    yield TextDelta(text)
                if stops.stopped:
                    break
            if tail := stops.flush():
                yield TextDelta(tail)
            yield Finished(reason, prompt.token_count, produced)
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled += 1
            raise

    def _next_text(self, prompt: PreparedPrompt) -> str:
        if self._scripted:
            return self._scripted.popleft()
        last_user = prompt.text.rsplit("<|user|>", 1)[-1].split("\n", 1)[0]
        return f"Echo: {last_user}"

