"""One batch line replayed as the request it describes, answered in its surface's wire shape.

A line's `url` picks the surface: `/v4/...` validates its body as the Zhipu request and
answers like `/api/paas/v4/...`; `/v1/...` does the same for the OpenAI surface. Chat and
embeddings go through their services (the one money path) at the batch price. Every
failure becomes the line's error body; a rate-limited line is handed back for a retry.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from openmaas.api.chat.routes import with_tool_context
from openmaas.api.chat.schemas import OpenAIChatBody, ZhipuChatBody
from openmaas.api.chat.wire import OpenAIWire, ZhipuWire
from openmaas.api.embeddings import EmbeddingsBody, embeddings_body
from openmaas.api.errors import error_body, validation_to_platform_error
from openmaas.auth.principal import Principal
from openmaas.batch.types import (
    KIND,
    PRICE_PERCENT,
    USAGE_ENDPOINT,
    BatchRequest,
    LineOutcome,
)
from openmaas.chat.types import ChatRequest
from openmaas.errors import InternalFailure, PlatformError, RateLimited
from openmaas.jobs.worker import Handler
from openmaas.services import Services

log = logging.getLogger(__name__)


def batch_job_handlers(services: Services) -> dict[str, Handler]:
    """For `make_worker`: the batch job kind and its handler."""
    return {KIND: services.batches.runner(WireLineExecutor(services)).run_job}


def failure(exc: PlatformError, openai: bool) -> LineOutcome:
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    return LineOutcome(exc.http_status, error_body(exc, openai), retry_after=retry_after)


class WireLineExecutor:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def execute(self, principal: Principal, request: BatchRequest) -> LineOutcome:
        openai = request.url.startswith("/v1/")
        try:
            if request.url.endswith("/embeddings"):
                return await self._embed(principal, request)
            return await self._chat(principal, request, openai)
        except ValidationError as exc:
            return failure(validation_to_platform_error(RequestValidationError(exc.errors())), openai)
        except PlatformError as exc:
            return failure(exc, openai)
        except Exception:
            log.exception("batch line %s failed", request.custom_id)
            return failure(InternalFailure(), openai)

    async def _chat(self, principal: Principal, request: BatchRequest, openai: bool) -> LineOutcome:
        body = (OpenAIChatBody if openai else ZhipuChatBody).model_validate(request.body)
        chat = await self._with_tools(principal, body)
        if request.request_id and not chat.request_id:
            chat = replace(chat, request_id=request.request_id)
        result = await self._services.chat.complete(
            principal, chat, endpoint=USAGE_ENDPOINT, price_percent=PRICE_PERCENT, resume=request.resumed
        )
        wire = OpenAIWire() if openai else ZhipuWire()
        return LineOutcome(
            200,
            wire.completion(result),
            result.request_id,
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
        )

    async def _with_tools(self, principal: Principal, body: ZhipuChatBody | OpenAIChatBody) -> ChatRequest:
        """The retrieval and web_search tools, as on the synchronous chat endpoint."""
        return await with_tool_context(self._services, principal, body)

    async def _embed(self, principal: Principal, request: BatchRequest) -> LineOutcome:
        body = EmbeddingsBody.model_validate(request.body)
        embed = body.to_request()
        if request.request_id and not embed.request_id:
            embed = replace(embed, request_id=request.request_id)
        result = await self._services.embeddings.create(
            principal, embed, endpoint=USAGE_ENDPOINT, price_percent=PRICE_PERCENT, resume=request.resumed
        )
        return LineOutcome(
            200, embeddings_body(result, body.encoding_format), result.request_id, result.prompt_tokens
        )
