"""Token counts of a chat request, from the model's own chat template and tokenizer.

A chat model renders the messages (and function tools) with its template and counts the
result with its tokenizer (`engine.prepare`: llama.cpp, or an upstream's /tokenize); an
embedding model counts each message's text with its own tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.catalog.registry import Catalog
from openmaas.chat.tools import parse_function_tools
from openmaas.concurrency import run_in_threadpool
from openmaas.embeddings.service import EmbeddingCatalog
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField, ModelNotFound
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import TOKENIZER


@dataclass(frozen=True)
class TokenCount:
    request_id: str
    model: str
    prompt_tokens: int


class TokenizerService:
    def __init__(
        self, catalog: Catalog, embeddings: EmbeddingCatalog, meter: ToolMeter, max_messages: int
    ) -> None:
        self._catalog = catalog
        self._embeddings = embeddings
        self._meter = meter
        self._max_messages = max_messages

    async def count(
        self,
        principal: Principal,
        model: str,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None,
        request_id: str | None = None,
    ) -> TokenCount:
        if not messages:
            raise InvalidField("messages", "must contain at least one message")
        if len(messages) > self._max_messages:
            raise InvalidField("messages", f"at most {self._max_messages} messages")
        async with self._meter.metered(principal, TOKENIZER, 1, "tokenizer", request_id) as meter:
            tokens = await self._count(principal, model, messages, tools)
        return TokenCount(meter.request_id, model, tokens)

    async def _count(
        self,
        principal: Principal,
        model: str,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None,
    ) -> int:
        try:
            entry = self._catalog.resolve(model, principal.account_id)
        except ModelNotFound:
            return await self._count_embedding(model, messages)
        functions = await run_in_threadpool(parse_function_tools, tools) if tools else ()
        template_tools = [f.template_form() for f in functions] or None
        prompt = await entry.engine.prepare(messages, template_tools)
        return prompt.token_count

    async def _count_embedding(self, model: str, messages: list[ChatMessage]) -> int:
        embedding = self._embeddings.resolve(model)  # ModelNotFound (1211) when neither knows it
        await embedding.batcher.ready()
        texts = [m.content or "" for m in messages]
        engine = embedding.batcher.engine
        return await run_in_threadpool(lambda: sum(engine.count_tokens(t, "query") for t in texts))
