"""The chat service: model resolution, context checks, generation and usage records.

`ChatService.open_run` does every check that can fail before a byte is streamed
(unknown model → 1211, prompt over the window → 1261); the returned `ChatRun` then
streams events and records exactly one usage row however it ends (finished, failed,
or closed early by a client that went away).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from openmaas.auth.principal import Principal
from openmaas.billing.usage import UsageEvent, UsageRecorder
from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.chat.ids import new_request_id
from openmaas.chat.types import ChatRequest, ChatResult, SamplingOptions, Usage
from openmaas.engines.base import (
    Finished,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
)
from openmaas.errors import InvalidField, PlatformError, PromptTooLong

DEFAULT_TEMPERATURE = 0.75
DEFAULT_TOP_P = 0.9


def to_sampling_params(options: SamplingOptions, max_tokens: int) -> SamplingParams:
    temperature = DEFAULT_TEMPERATURE if options.temperature is None else options.temperature
    greedy = not options.do_sample or temperature <= 0.0
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=max(temperature, 0.0),
        top_p=DEFAULT_TOP_P if options.top_p is None else min(max(options.top_p, 0.01), 1.0),
        greedy=greedy,
        stop=options.stop,
        seed=options.seed,
    )


@dataclass
class ChatRun:
    """One admitted generation; iterate `events()` exactly once."""

    request_id: str
    model: str
    created: int
    entry: CatalogEntry
    prompt: PreparedPrompt
    params: SamplingParams
    principal: Principal
    endpoint: str
    recorder: UsageRecorder

    async def events(self) -> AsyncIterator[GenerationEvent]:
        started = time.perf_counter()
        completion_tokens, status, error_code = 0, "cancelled", None
        try:
            async for event in self.entry.engine.generate(self.prompt, self.params,
                                                          owner=self.principal.account_id):
                if isinstance(event, Finished):
                    completion_tokens, status = event.completion_tokens, "success"
                elif isinstance(event, TextDelta):
                    completion_tokens += 1  # running estimate; Finished gives the exact count
                yield event
        except PlatformError as exc:
            status, error_code = "error", exc.code
            raise
        except Exception:
            status, error_code = "error", "500"
            raise
        finally:
            self.recorder.record(UsageEvent(
                account_id=self.principal.account_id, api_key_id=self.principal.api_key_id,
                request_id=self.request_id, endpoint=self.endpoint, model=self.model,
                prompt_tokens=self.prompt.token_count, completion_tokens=completion_tokens,
                latency_ms=int((time.perf_counter() - started) * 1000), status=status,
                error_code=error_code))

    async def collect(self) -> ChatResult:
        parts: list[str] = []
        finish = Finished("stop", self.prompt.token_count, 0)
        async for event in self.events():
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                finish = event
        return ChatResult(request_id=self.request_id, model=self.model, content="".join(parts),
                          finish_reason=finish.reason, created=self.created,
                          usage=Usage(finish.prompt_tokens, finish.completion_tokens))


class ChatService:
    def __init__(self, catalog: Catalog, recorder: UsageRecorder) -> None:
        self._catalog = catalog
        self._recorder = recorder

    async def open_run(self, principal: Principal, request: ChatRequest,
                       endpoint: str = "chat") -> ChatRun:
        entry = self._catalog.resolve(request.model)
        _check_messages(request)
        prompt = await entry.engine.prepare(request.messages)
        window = entry.config.context_window
        if prompt.token_count >= window:
            raise PromptTooLong(prompt.token_count, window)
        room = min(window - prompt.token_count, entry.config.max_output_tokens)
        max_tokens = room if request.sampling.max_tokens is None else min(request.sampling.max_tokens, room)
        return ChatRun(request_id=request.request_id or new_request_id(), model=request.model,
                       created=int(time.time()), entry=entry, prompt=prompt,
                       params=to_sampling_params(request.sampling, max_tokens),
                       principal=principal, endpoint=endpoint, recorder=self._recorder)

    async def complete(self, principal: Principal, request: ChatRequest,
                       endpoint: str = "chat") -> ChatResult:
        run = await self.open_run(principal, request, endpoint)
        return await run.collect()


def _check_messages(request: ChatRequest) -> None:
    if not request.messages:
        raise InvalidField("messages", "must contain at least one message")
    if all(m.role in ("system", "assistant") for m in request.messages):
        raise InvalidField("messages", "must not consist only of system or assistant messages")
