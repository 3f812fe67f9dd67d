"""The embedded engine: llama.cpp (llama-cpp-python's C bindings) on GGUF weights.

All compute happens on one dedicated inference thread started with the engine: once two
OS threads have called into llama.cpp every later call is ~55% slower here (OpenMP
thread teams). On that thread a continuous-batching scheduler (llama_scheduler.py)
decodes up to `parallel` requests together. Requests wait in a fair (round-robin per
account) queue; tokens travel back to the event loop through `call_soon_threadsafe`, so
generation never blocks it. Tokenisation for prompt counting uses a separate vocab-only
model, which does no ggml compute.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncGenerator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openmaas.catalog import variants, weights
from openmaas.concurrency import run_in_threadpool
from openmaas.config import ModelConfig, Settings, ThinkingConfig
from openmaas.engines.base import (
    ChatMessage,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    Thinking,
    ThinkTags,
)
from openmaas.engines.chat_template import ChatTemplate
from openmaas.engines.fair_queue import FairQueue
from openmaas.engines.reasoning import (
    think_tags_for,
    thinking_wanted,
    with_no_think_switch,
    without_reasoning,
)
from openmaas.errors import InternalFailure

log = logging.getLogger(__name__)
END = object()  # the last item a generation's output queue receives
# Prompts longer than this (characters) are rendered and tokenized in a worker thread: a
# long conversation's template render and tokenization would otherwise hold the event loop
# for milliseconds; short ones are cheaper inline than a thread hop.
OFF_LOOP_PROMPT_CHARS = 16_384


def resolve_model_path(model: ModelConfig, settings: Settings) -> Path:
    """The model's weights as shipped (what fine-tuning starts from)."""
    if model.path is not None:
        return model.path.expanduser()
    if model.package is None:
        raise ValueError(f"model {model.name}: set `path` or `package`")
    package = weights.package_for(model.package)
    return weights.assembled_path(settings.models_dir, package)


def resolve_serving_path(model: ModelConfig, settings: Settings) -> Path:
    """The file to serve: a packaged model's chosen variant when it is there and verified,
    else the packaged file (start-up logs why)."""
    if model.path is not None or model.package is None:
        return resolve_model_path(model, settings)
    package = weights.package_for(model.package)
    return variants.serving_choice(settings.models_dir, package, model.variant)[0]


@dataclass
class _Generation:
    prompt: PreparedPrompt
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.out.put_nowait, item)


class LlamaCppEngine:
    def __init__(
        self,
        model_path: Path,
        context_window: int,
        threads: int,
        parallel: int = 4,
        batch_size: int = 512,
        thinking: ThinkingConfig | None = None,
        measure_widths: bool = True,
        draft: str | None = None,
        draft_tokens: int = 4,
        draft_always: bool = False,
        prefill_step_ms: float | None = 250.0,
    ) -> None:
        self.model_path = model_path
        # speculative decoding for a lone stream: "lookup" or a draft GGUF sharing the vocabulary
        self._draft, self._draft_tokens, self._draft_always = draft, draft_tokens, draft_always
        self.speculator: Any = None  # llama_speculate.Speculator, once loaded with a draft
        self._measure_widths = measure_widths  # False: every running decode in every step
        # while others decode, a step prefills what fits in this long (None: a whole batch)
        self._prefill_step_ms = prefill_step_ms
        self.step_costs: Any = None  # decode_width.StepCosts, once loaded
        self.thinking = thinking
        self.context_window = context_window
        self._threads = threads
        self._slots = parallel
        self._batch_size = batch_size
        self._queue: FairQueue[_Generation] = FairQueue()
        self._forgets: queue.SimpleQueue[tuple[str, Future[bool]]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._tokenizer: Any = None
        self._template: ChatTemplate | None = None

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.model_path.is_file():
            raise InternalFailure(
                f"model weights not found at {self.model_path}; run `openmaas models assemble`"
            )
        loaded: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._inference_thread, args=(loaded,), name=f"llama-{self.model_path.stem}", daemon=True
        )
        self._thread.start()
        await asyncio.wrap_future(loaded)
        await run_in_threadpool(self._load_tokenizer)

    async def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await run_in_threadpool(self._thread.join, 30)

    def _load_tokenizer(self) -> None:
        import llama_cpp

        self._tokenizer = llama_cpp.Llama(model_path=str(self.model_path), vocab_only=True, verbose=False)
        meta = self._tokenizer.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise InternalFailure(f"{self.model_path.name} carries no chat template")
        self._template = ChatTemplate(template, *self._special_tokens())

    def _special_tokens(self) -> tuple[str, str]:
        tok = self._tokenizer

        def text(token_id: int) -> str:
            return tok.detokenize([token_id], special=True).decode() if token_id >= 0 else ""

        return text(tok.token_bos()), text(tok.token_eos())

    def forget_adapter(self, path: str | Path) -> Future[bool]:
        """Free a LoRA adapter (its fine-tuned model was deleted) on the inference thread, as
        soon as no running request decodes with it. The future: whether it was loaded."""
        done: Future[bool] = Future()
        self._forgets.put((str(path), done))
        return done

    def pending_requests(self) -> int:
        """Requests waiting for a batch slot (the queue-depth gauge)."""
        return len(self._queue)

    # requests ----------------------------------------------------------------------------
    async def prepare(
        self,
        messages: list[ChatMessage],
        tools: list[dict[str, Any]] | None = None,
        thinking: Thinking | None = None,
    ) -> PreparedPrompt:
        assert self._template is not None, "engine not started"
        size = sum(len(m.content or "") + len(m.reasoning_content or "") for m in messages)
        if size + len(str(tools or "")) > OFF_LOOP_PROMPT_CHARS:
            return await run_in_threadpool(self._prepare, messages, tools, thinking)
        return self._prepare(messages, tools, thinking)

    def _prepare(
        self, messages: list[ChatMessage], tools: list[dict[str, Any]] | None, thinking: Thinking | None
    ) -> PreparedPrompt:
        text, think = self._render(messages, tools, thinking)
        tokens = self._tokenizer.tokenize(text.encode(), True, True)
        return PreparedPrompt(text=text, token_count=len(tokens), tokens=tuple(tokens), think=think)

    def _render(
        self, messages: list[ChatMessage], tools: list[dict[str, Any]] | None, thinking: Thinking | None
    ) -> tuple[str, ThinkTags | None]:
        """The prompt text, with the model's thinking switch applied (a model that does not
        think renders as always; `<think>` it may write stays answer text)."""
        template, config = self._template, self.thinking
        assert template is not None, "engine not started"
        if config is None:  # kept reasoning means nothing to a model that does not think
            return template.render(without_reasoning(messages), tools), None
        wanted = thinking_wanted(config.default, thinking)
        kwargs: dict[str, Any] = {}
        if config.switch == "enable_thinking":
            kwargs["enable_thinking"] = wanted
        elif config.switch == "no_think":
            messages = with_no_think_switch(messages, wanted)
        text = template.render(messages, tools, **kwargs)
        return think_tags_for(text, config.open_tag, config.close_tag, wanted)

    async def generate(
        self, prompt: PreparedPrompt, params: SamplingParams, owner: str
    ) -> AsyncGenerator[GenerationEvent, None]:
        job = _Generation(prompt, params, asyncio.get_running_loop(), asyncio.Queue())
        self._queue.put(owner, job)
        try:
            while (item := await job.out.get()) is not END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled.set()  # a client that went away stops the decode loop

    # the inference thread ----------------------------------------------------------------
    def _inference_thread(self, loaded: Future) -> None:
        try:
            from openmaas.engines.llama_runtime import Batch, load_runtime
            from openmaas.engines.llama_scheduler import Scheduler

            runtime = load_runtime(
                str(self.model_path), self.context_window, self._slots, self._threads, self._batch_size
            )
        except BaseException as exc:
            loaded.set_exception(exc)
            return
        try:
            costs = self.step_costs = self._step_costs(runtime, Batch)
            speculator = self.speculator = self._speculator(runtime)
        except BaseException as exc:
            runtime.close()
            loaded.set_exception(exc)
            return
        loaded.set_result(None)
        try:
            Scheduler(runtime, self._queue, self._banned_ids, self._forgets, costs, speculator).run(
                self._stopping
            )
        finally:
            runtime.close()

    def _speculator(self, runtime: Any) -> Any:
        if self._draft is None:
            return None
        from openmaas.engines.llama_runtime import Batch
        from openmaas.engines.llama_speculate import Speculator, load_drafter, measure_policy

        drafter = load_drafter(self._draft, runtime, self.context_window, self._threads)
        if drafter is None:
            return None
        batch = Batch(self._draft_tokens + 1)
        try:
            policy = measure_policy(runtime, batch, drafter, self._draft_tokens)
        finally:
            batch.free()
        policy.always = self._draft_always  # benches, tests: every round drafts its full length
        speculator = Speculator(runtime, drafter, policy, self.context_window)
        if not policy.always and not policy.can_pay():
            log.warning(
                "speculative decoding off for %s: even with every draft kept it would be slower "
                "than plain decoding on this machine (%s)",
                self.model_path.name,
                policy.describe(),
            )
            speculator.close()
            return None
        return speculator

    def _step_costs(self, runtime: Any, batch_type: Any) -> Any:
        """Decode step cost by width (engines/decode_width.py), measured unless turned off."""
        from openmaas.engines.decode_width import StepCosts, measure_step_costs, prefill_chunk

        if not self._measure_widths or runtime.slots == 1:
            return StepCosts.uniform(runtime.slots)
        batch = batch_type(max(runtime.slots, min(128, runtime.n_batch)))
        try:
            costs = measure_step_costs(runtime, batch)
            if self._prefill_step_ms is None:
                return costs
            chunk = prefill_chunk(runtime, batch, self._prefill_step_ms / 1000)
            return replace(costs, prefill_chunk=chunk, prefill_seconds=self._prefill_step_ms / 1000)
        finally:
            batch.free()

    def _banned_ids(self, texts: tuple[str, ...]) -> list[int]:
        """Token ids of special tokens given as text (only single-token texts can be banned)."""
        return [ids[0] for t in texts if len(ids := self._tokenizer.tokenize(t.encode(), False, True)) == 1]
