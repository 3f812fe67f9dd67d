"""A scriptable fake chat engine: chat, streaming, limits and billing testable without weights.

`FakeChatEngine.enqueue("text")` makes the next generation return that text; with nothing
queued it echoes the last user message. Tokens are words and punctuation marks, so a
scripted `<think>…</think>` arrives split across tokens (`<`, `think`, `>`), as tags do from
a real model. Given a `ThinkingConfig` the engine is a thinking model: its output is split
into reasoning and answer by the same code as llama.cpp's (engines/reasoning.py).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from openmaas.config import ThinkingConfig
from openmaas.engines.base import (
    ChatMessage,
    Finished,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    Thinking,
    ThinkTags,
)
from openmaas.engines.reasoning import ReasoningOutput, without_reasoning

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")


def fake_tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


class FakeChatEngine:
    def __init__(
        self,
        context_window: int = 8192,
        token_delay: float = 0.0,
        thinking: ThinkingConfig | None = None,
        prefix_cache: bool = False,
    ) -> None:
        self.context_window = context_window
        # like one llama.cpp slot: the previous prompt's tokens, a common prefix reported cached
        self.prefix_cache = prefix_cache
        self._cached: list[str] = []
        self.token_delay = token_delay
        self.thinking = thinking
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

    async def prepare(
        self,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None = None,
        thinking: Thinking | None = None,
    ) -> PreparedPrompt:
        if self.thinking is None:
            messages = without_reasoning(messages)
        text = "".join(_render(m) for m in messages) + "<|assistant|>"
        think = None
        if self.thinking is not None:
            wanted = thinking.enabled if thinking and thinking.enabled is not None else self.thinking.default
            think = ThinkTags(self.thinking.open_tag, self.thinking.close_tag, show=wanted)
            text += "" if wanted else "/no_think"
        return PreparedPrompt(text=text, token_count=len(fake_tokenize(text)), think=think)

    async def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, owner: str
    ) -> AsyncGenerator[GenerationEvent, None]:
        self.generations += 1
        self.prompts.append(prompt)
        cached = self._reuse_prefix(prompt)
        pieces = fake_tokenize(self._next_text(prompt))
        output = ReasoningOutput(prompt.think, params.stop)
        produced, reason = 0, "stop"
        try:
            for piece in pieces:
                if produced >= params.max_tokens:
                    reason = "length"
                    break
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                produced += 1
                for event in output.feed(piece):
                    yield event
                if output.stopped:
                    break
            for event in output.flush():
                yield event
            yield Finished(
                reason,
                prompt.token_count,
                produced,
                output.reasoning_tokens,
                stop_sequence=output.stop_sequence,
                cached_tokens=cached,
            )
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled += 1
            raise

    def _reuse_prefix(self, prompt: PreparedPrompt) -> int:
        """Prompt tokens shared with the previous prompt (at most all but the last, which a
        real engine decodes again for its logits); 0 unless `prefix_cache`."""
        if not self.prefix_cache:
            return 0
        tokens = fake_tokenize(prompt.text)
        shared = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            shared += 1
        self._cached = tokens
        return min(shared, max(len(tokens) - 1, 0))

    def _next_text(self, prompt: PreparedPrompt) -> str:
        """The next scripted text, else an echo of the last user message."""
        if self._scripted:
            return self._scripted.popleft()
        last_user = prompt.text.rsplit("<|user|>", 1)[-1].split("\n", 1)[0]
        return f"Echo: {last_user}"


def _render(message: ChatMessage) -> str:
    """The fake's prompt format; kept reasoning and image parts show, so tests can see them."""
    reasoning = f"<think>{message.reasoning_content}</think>" if message.reasoning_content else ""
    images = "".join(
        f"<|image:{p['image_url']['url'][:32]}|>" for p in message.parts or () if p.get("type") == "image_url"
    )
    return f"<|{message.role}|>{reasoning}{images}{message.content or ''}\n"
