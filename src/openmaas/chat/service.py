"""The chat service: model resolution, context checks, admission, the money path, generation.

`ChatService.open_run` does everything that can fail before a byte is streamed — unknown
model (1211), prompt over the window (1261), limits (1302/1303), funds (1113) — and the
returned `ChatRun` then streams events. However the run ends (finished, failed, closed
early by a client that went away, or never started) it reports exactly one outcome to the
meter (billing/meter.py), which settles or releases the hold and writes the usage row, and
the limiter slot is given back. While it streams, the tokens delivered so far are told to
the meter, which a restart after a crash charges.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import date

from openmaas.auth.principal import Principal
from openmaas.billing.meter import Bound, Meter, Metered
from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.chat.generation import Event, Generation
from openmaas.chat.moderation_gate import AnswerGate, ChatModeration
from openmaas.chat.prompting import prepare_request
from openmaas.chat.tools import ToolCall, check_tool_messages
from openmaas.chat.types import ChatRequest, ChatResult, SamplingOptions, ToolCallsEvent, Usage
from openmaas.engines.base import (
    Finished,
    PreparedPrompt,
    ReasoningDelta,
    SamplingParams,
    TextDelta,
)
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
    limiter: Limiter
    metrics: Metrics | None = None
    metered: Metered | None = None
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
    gate: AnswerGate | None = None  # sensitive_word_check: the answer checked as it streams
    started: bool = field(default=False)
    _reported: bool = field(default=False, repr=False)

    async def events(self) -> AsyncGenerator[Event, None]:
        self.started = True
        began = time.perf_counter()
        completion, status, code = 0, "cancelled", None
        cached = reasoning = 0
        metered = self.context.metered
        generation = Generation(
            self.entry.engine, self.prompt, self.params, self.context.principal.account_id, self.request
        )
        first_token_at: float | None = None
        source = generation.events() if self.gate is None else self.gate.guard(generation.events())
        try:
            async with aclosing(source) as events:
                async for event in events:
                    if first_token_at is None and not isinstance(event, Finished):
                        first_token_at = time.perf_counter()
                        self._observe_ttft(first_token_at - began)
                    if isinstance(event, Finished):
                        # every generation computed is billed (a tool-call retry's first answer too)
                        completion = event.completion_tokens + generation.discarded_tokens
                        status = "success"
                        # settle on the engine's final prompt count (an upstream's own usage)
                        self.prompt = replace(self.prompt, token_count=event.prompt_tokens)
                        cached = event.cached_tokens
                        reasoning = event.reasoning_tokens
                    elif isinstance(event, TextDelta | ReasoningDelta):
                        completion += event.tokens
                        if metered is not None:  # delivered so far: charged after a crash
                            metered.progress(self.prompt.token_count, completion)
                    yield event
        except PlatformError as exc:
            status, code = "error", exc.code
            raise
        except Exception:
            status, code = "error", "500"
            raise
        finally:
            self._report(status, code, completion, cached, reasoning)
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
            self._report("cancelled", None, 0, charge=False)

    def _report(
        self,
        status: str,
        code: str | None,
        completion: int,
        cached: int = 0,
        reasoning: int = 0,
        charge: bool = True,
    ) -> None:
        if self._reported:
            return
        self._reported = True
        ctx = self.context
        ctx.limiter.release(ctx.ticket, self.prompt.token_count + completion)
        if ctx.metered is not None:
            ctx.metered.record(
                self.prompt.token_count,
                completion,
                cached_tokens=cached,
                reasoning_tokens=reasoning,
                status=status,
                error_code=code,
                charge=charge and status != "error",
            )

    async def collect(self) -> ChatResult:
        return await collect_result(
            self.events(),
            request_id=self.request_id,
            model=self.model,
            created=self.created,
            web_search=self.request.web_search,
            prompt_tokens=self.prompt.token_count,
        )


async def collect_result(
    events: AsyncIterator[Event],
    *,
    request_id: str,
    model: str,
    created: int,
    web_search: tuple[dict, ...],
    prompt_tokens: int = 0,
) -> ChatResult:
    """A run's events as one non-streamed answer: text, reasoning, tool calls, usage."""
    parts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] | None = None
    finish = Finished("stop", prompt_tokens, 0)
    async for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, ToolCallsEvent):
            calls = event.calls
        elif isinstance(event, Finished):
            finish = event
    return ChatResult(
        request_id=request_id,
        model=model,
        content="".join(parts),
        finish_reason=finish.reason,
        created=created,
        usage=Usage(
            finish.prompt_tokens, finish.completion_tokens, finish.reasoning_tokens, finish.cached_tokens
        ),
        tool_calls=calls,
        web_search=web_search,
        reasoning_content="".join(reasoning) if reasoning else None,
    )


@dataclass(frozen=True)
class PromptFit:
    """A prompt's size against what its model leaves for it (`ChatService.measure`)."""

    tokens: int
    budget: int  # the context window less the completion allowance

    @property
    def fits(self) -> bool:
        return self.tokens <= self.budget


@dataclass(frozen=True)
class _Checked:
    entry: CatalogEntry
    prompt: PreparedPrompt
    max_tokens: int


class ChatService:
    def __init__(
        self,
        catalog: Catalog,
        meter: Meter,
        limiter: Limiter,
        metrics: Metrics | None = None,
        moderation: ChatModeration | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._catalog = catalog
        self._moderation = moderation
        self._today = today  # the date tool calls resolve "tomorrow" against (chat.prompting)
        self._meter = meter
        self._limiter = limiter
        self._metrics = metrics

    async def validate(self, request: ChatRequest, account_id: str | None = None) -> None:
        """Every check that needs no funds or slots (used before queueing async work)."""
        await self._check(prepare_request(request, self._today()), account_id)

    async def open_run(
        self,
        principal: Principal,
        request: ChatRequest,
        endpoint: str = "chat",
        price_percent: int = 100,
        resume: bool = False,
    ) -> ChatRun:
        """`resume`: a durable job's request run again after a crash (`Meter.open`)."""
        request = prepare_request(request, self._today())
        checked = await self._check(request, principal.account_id)
        context = RunContext(principal, endpoint, self._limiter, self._metrics)
        bound = checked.prompt.token_count + checked.max_tokens
        context.ticket = await self._limiter.admit(Admission(principal, checked.entry.name, bound))
        try:
            context.metered = await self._meter.open(
                principal,
                request.model,
                checked.entry.name,
                Bound(checked.prompt.token_count, checked.max_tokens, request.sampling.max_tokens is None),
                endpoint=endpoint,
                request_id=request.request_id,
                price_percent=price_percent,
                resume=resume,
            )
        except BaseException:
            self._limiter.release(context.ticket, 0)
            raise
        max_tokens = context.metered.max_tokens
        request_id = context.metered.request_id
        return ChatRun(
            request_id=request_id,
            model=request.model,
            created=int(time.time()),
            entry=checked.entry,
            prompt=checked.prompt,
            params=to_sampling_params(request.sampling, max_tokens),
            context=context,
            request=request,
            gate=self._answer_gate(request, checked.prompt),
        )

    async def measure(self, request: ChatRequest, account_id: str | None = None) -> PromptFit:
        """The prompt's tokens as `open_run` would count them, against the window less the
        completion allowance (the request's max tokens, else the model's output cap; at most
        half the window, so a long answer cap never leaves no room for history)."""
        request = prepare_request(request, self._today())
        entry = self._catalog.resolve(request.model, account_id)
        prompt = await entry.engine.prepare(
            request.messages, _template_tools(request), thinking=request.thinking
        )
        window, cap = entry.config.context_window, entry.config.max_output_tokens
        allowance = min(request.sampling.max_tokens or cap, cap, window // 2)
        return PromptFit(prompt.token_count, window - allowance)

    def _answer_gate(self, request: ChatRequest, prompt: PreparedPrompt) -> AnswerGate | None:
        if self._moderation is None:
            return None
        return self._moderation.answer_gate(request, prompt.token_count)

    async def complete(
        self,
        principal: Principal,
        request: ChatRequest,
        endpoint: str = "chat",
        price_percent: int = 100,
        resume: bool = False,
    ) -> ChatResult:
        run = await self.open_run(principal, request, endpoint, price_percent, resume)
        return await run.collect()

    async def _check(self, request: ChatRequest, account_id: str | None = None) -> _Checked:
        entry = self._catalog.resolve(request.model, account_id)  # the account's fine-tuned models too
        _check_messages(request)
        _check_images(request, entry)
        if self._moderation is not None:  # a blocked prompt: 1301 before any hold (nothing charged)
            self._moderation.check_prompt(request)
        prompt = await entry.engine.prepare(
            request.messages, _template_tools(request), thinking=request.thinking
        )
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


def _check_images(request: ChatRequest, entry: CatalogEntry) -> None:
    """Image parts go only to vision models; for any other the first one is named."""
    if entry.config.vision:
        return
    for i, message in enumerate(request.messages):
        for j, part in enumerate(message.parts or ()):
            if part.get("type") == "image_url":
                raise InvalidField(
                    f"messages[{i}].content[{j}]",
                    f"model {request.model!r} takes no images (text parts only)",
                )


def _template_tools(request: ChatRequest) -> list[dict] | None:
    tools = request.tools
    if not tools or not tools.functions or tools.choice == "none":
        return None
    return [f.template_form() for f in tools.functions]
