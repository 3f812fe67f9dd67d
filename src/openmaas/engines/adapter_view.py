"""A fine-tuned model as an engine: its base model's engine with a LoRA adapter per request.

No second model, thread or context: the base engine's inference thread applies the
adapter named in `SamplingParams.adapter` (llama.cpp switches adapters between batches,
llama_scheduler.py). Engines without adapter support (the fake engine) ignore it. The
base engine's lifecycle belongs to the app, so start/close here do nothing; `unload`
frees the adapter on the base engine when the fine-tuned model is deleted.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace
from pathlib import Path
from typing import Any

from openmaas.engines.base import (
    ChatEngine,
    ChatMessage,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    Thinking,
)


class AdapterEngine:
    def __init__(self, base: ChatEngine, adapter: Path) -> None:
        self.base = base
        self.adapter = adapter
        self.context_window = base.context_window

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def unload(self) -> None:
        """Free the adapter in the base engine (a no-op for engines that load no adapters)."""
        forget = getattr(self.base, "forget_adapter", None)
        if forget is not None:
            forget(self.adapter)

    async def prepare(
        self,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None = None,
        thinking: Thinking | None = None,
    ) -> PreparedPrompt:
        return await self.base.prepare(messages, tools, thinking=thinking)

    def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, owner: str
    ) -> AsyncGenerator[GenerationEvent, None]:
        return self.base.generate(prompt, replace(params, adapter=str(self.adapter)), owner)
