"""The chat service: model resolution, context checks, admission, the money path, generation.

`ChatService.open_run` does everything that can fail before a byte is streamed — unknown
model (1211), prompt over the window (1261), limits (1302/1303), funds (1113) — and the
returned `ChatRun` then streams events. However the run ends (finished, failed, closed
early by a client that went away, or never started) it reports exactly one outcome: the
recorder settles or releases the hold and writes the usage row, and the limiter slot is
given back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from openmaas.auth.principal import Principal
from openmaas.billing.service import BillingService, Hold
from openmaas.billing.usage import UsageEvent, UsageRecorder
from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.chat.generation import Generation
from openmaas.chat.ids import new_request_id
from openmaas.chat.tools import ToolCall, check_tool_messages
from openmaas.chat.types import ChatRequest, ChatResult, SamplingOptions, ToolCallsEvent, Usage
from openmaas.engines.base import Finished, GenerationEvent, PreparedPrompt, SamplingParams, TextDelta
from openmaas.errors import InvalidField, PlatformError, PromptTooLong
from openmaas.limits.base import Admission, Limiter, Ticket
from openmaas.observability.metrics import Metrics

DEFAULT_TEMPERATURE = 0.75
DEFAULT_TOP_P = 0.9


def to_sampling_params(options: SamplingOptions, max_tokens: int) -> SamplingParams:
    temperature = DEFAULT_TEMPERATURE if options.temperature is None else options.temperature
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=max(temperature, 0.0),
        top_p=DEFAULT_TOP_P if options.top_p is None else min(max(options.top_p, 0.01), 1.0),
        greedy=not options.do_sample or temperature <= 0.0,
        stop=options.stop,
        seed=options.seed,
    )


@dataclass
class RunContext:
    """What a run needs to report its outcome."""

    principal: Principal
    endpoint: str
    recorder: UsageRecorder
    limiter: Limiter
    metrics: Metrics | None = None
    hold: Hold | None = None
    ticket: Ticket | None = None


@dataclass
class ChatRun:
    """One admitted generation; iterate `events()` once, or call `abandon()`."""

    request_id: str
    model: str
    created: int
    entry: CatalogEntry
    prompt: PreparedPrompt
    params: SamplingParams
    context: RunContext
    request: ChatRequest
    started: bool = field(default=False)
    _reported: bool = field(default=False, repr=False)

    async def events(self) -> AsyncIterator[GenerationEvent]:
        self.started = True
        began = time.perf_counter()
        completion, status, code = 0, "cancelled", None
        generation = Generation(self.entry.engine, self.prompt, self.params,
                                self.context.principal.account_id, self.request)
        first_token_at: float | None = None
        try:
            async with aclosing(generation.events()) as events:
                async for event in events:
                    if first_token_at is None and not isinstance(event, Finished):
                        first_token_at = time.perf_counter()
                        self._observe_ttft(first_token_at - began)
                    if isinstance(event, Finished):
                        completion, status = event.completion_tokens, "success"
                        # settle on the engine's final prompt count (an upstream's own usage)
                        self.prompt = replace(self.prompt, token_count=event.prompt_tokens)
                    elif isinstance(event, TextDelta):
                        completion += event.tokens
                    yield event
        except PlatformError as exc:
            status, code = "error", exc.code
            raise
        except Exception:
            status, code = "error", "500"
            raise
        finally:
            self._report(status, code, completion, time.perf_counter() - began)
            self._observe_outcome(status, completion, first_token_at)

    def _observe_ttft(self, seconds: float) -> None:
        if self.context.metrics is not None:
            self.context.metrics.ttft.labels(self.model).observe(seconds)

    def _observe_outcome(self, status: str, completion: int, first_token_at: float | None) -> None:
        metrics = self.context.metrics
        if metrics is None:
            return
        metrics.generations.labels(self.model, status).inc()
        metrics.tokens_in.labels(self.model).inc(self.prompt.token_count)
        metrics.tokens_out.labels(self.model).inc(completion)
        if first_token_at is not None and completion > 1:
            decode_seconds = time.perf_counter() - first_token_at
            if decode_seconds > 0:
                metrics.decode_rate.labels(self.model).set((completion - 1) / decode_seconds)

    def abandon(self) -> None:
        """The client left before the stream began: release everything, charge nothing."""
        if not self.started:
            self._report("cancelled", None, 0, 0.0, charge=False)

    def _report(self, status: str, code: str | None, completion: int, seconds: float,
                charge: bool = True) -> None:
        if self._reported:
            return
        self._reported = True
        ctx = self.context
        ctx.limiter.release(ctx.ticket, self.prompt.token_count + completion)
        ctx.recorder.record(UsageEvent(
            account_id=ctx.principal.account_id, api_key_id=ctx.principal.api_key_id,
            request_id=self.request_id, endpoint=ctx.endpoint, model=self.model,
            prompt_tokens=self.prompt.token_count if charge else 0, completion_tokens=completion,
            latency_ms=int(seconds * 1000), status=status, error_code=code,
            reservation_id=ctx.hold.reservation_id if ctx.hold else None,
            lease=ctx.hold.lease if ctx.hold else None,
            charge=charge and status != "error"))

    async def collect(self) -> ChatResult:
        parts: list[str] = []
        calls: list[ToolCall] | None = None
        finish = Finished("stop", self.prompt.token_count, 0)
        async for event in self.events():
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, ToolCallsEvent):
                calls = event.calls
            else:
                finish = event
        return ChatResult(request_id=self.request_id, model=self.model, content="".join(parts),
                          finish_reason=finish.reason, created=self.created,
                          usage=Usage(finish.prompt_tokens, finish.completion_tokens), tool_calls=calls,
                          web_search=self.request.web_search)


@dataclass(frozen=True)
class _Checked:
    entry: CatalogEntry
    prompt: PreparedPrompt
    max_tokens: int


class ChatService:
    def __init__(self, catalog: Catalog, recorder: UsageRecorder, billing: BillingService,
                 limiter: Limiter, metrics: Metrics | None = None) -> None:
        self._catalog = catalog
        self._recorder = recorder
        self._billing = billing
        self._limiter = limiter
        self._metrics = metrics

    async def validate(self, request: ChatRequest, account_id: str | None = None) -> None:
        """Every check that needs no funds or slots (used before queueing async work)."""
        await self._check(request, account_id)

    async def open_run(self, principal: Principal, request: ChatRequest,
                       endpoint: str = "chat", price_percent: int = 100) -> ChatRun:
        checked = await self._check(request, principal.account_id)
        request_id = request.request_id or new_request_id()
        context = RunContext(principal, endpoint, self._recorder, self._limiter, self._metrics)
        bound = checked.prompt.token_count + checked.max_tokens
        context.ticket = await self._limiter.admit(Admission(principal, checked.entry.name, bound))
        try:
            context.hold = await self._hold(principal, request, request_id, checked, price_percent)
        except BaseException:
            self._limiter.release(context.ticket, 0)
            raise
        max_tokens = context.hold.max_tokens if context.hold else checked.max_tokens
        return ChatRun(request_id=request_id, model=request.model, created=int(time.time()),
                       entry=checked.entry, prompt=checked.prompt,
                       params=to_sampling_params(request.sampling, max_tokens), context=context,
                       request=request)

    async def complete(self, principal: Principal, request: ChatRequest,
                       endpoint: str = "chat", price_percent: int = 100) -> ChatResult:
        run = await self.open_run(principal, request, endpoint, price_percent)
        return await run.collect()

    async def _hold(self, principal: Principal, request: ChatRequest, request_id: str, checked: _Checked,
                    price_percent: int) -> Hold | None:
        """On this process's funds lease when it can (a request id of our own making: one a
        client chose must be checked against the database for reuse, 1231), else exactly."""
        price = self._billing.price_of(request.model, checked.entry.name).scaled(price_percent)
        if price.free or not self._billing.config.enabled:
            return None
        if request.request_id is None:
            hold = await self._recorder.lease_hold_soon(principal.account_id, request.model, price,
                                                        checked.prompt.token_count, checked.max_tokens)
            if hold is not None:
                self._count_hold("lease")
                return hold
        self._count_hold("exact")
        return await self._recorder.hold_exactly(
            principal.account_id, self._billing.reserve, principal.account_id, principal.api_key_id,
            request_id, request.model, checked.entry.name, checked.prompt.token_count, checked.max_tokens,
            request.sampling.max_tokens is None, price_percent)

    def _count_hold(self, path: str) -> None:
        if self._metrics is not None:
            self._metrics.holds.labels(path).inc()

    async def _check(self, request: ChatRequest, account_id: str | None = None) -> _Checked:
        entry = self._catalog.resolve(request.model, account_id)  # the account's fine-tuned models too
        _check_messages(request)
        prompt = await entry.engine.prepare(request.messages, _template_tools(request))
        window = entry.config.context_window
        if prompt.token_count >= window:
            raise PromptTooLong(prompt.token_count, window)
        room = min(window - prompt.token_count, entry.config.max_output_tokens)
        wanted = request.sampling.max_tokens
        return _Checked(entry, prompt, room if wanted is None else min(wanted, room))


def _check_messages(request: ChatRequest) -> None:
    if not request.messages:
        raise InvalidField("messages", "must contain at least one message")
    if all(m.role in ("system", "assistant") for m in request.messages):
        raise InvalidField("messages", "must not consist only of system or assistant messages")
    check_tool_messages(request.messages)


def _template_tools(request: ChatRequest) -> list[dict] | None:
    tools = request.tools
    if not tools or not tools.functions or tools.choice == "none":
        return None
    return [f.template_form() for f in tools.functions]
