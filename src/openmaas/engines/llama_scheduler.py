"""Continuous batching on the inference thread.

Up to `slots` requests decode together in one `llama_decode` per step: each has its own
sequence id (its own KV cache), sampler chain (temperature, top-p, grammar, banned
tokens, seed), stop strings and cancellation flag. New requests join between steps —
their prompts are prefilled in chunks alongside the running decodes — and finished ones
leave. A slot keeps the KV of its last request, so a follow-up turn that shares the
prefix (a multi-turn chat) prefills only what is new. A LoRA adapter applies to the
whole context, so a batch is homogeneous in adapter: a request for another adapter
waits for the running ones to drain. An adapter whose fine-tuned model was deleted is
freed between steps once no running request uses it (`forget_adapter`).

A thinking model's output goes through a `ReasoningOutput` (engines/reasoning.py): its
`<think>` part becomes reasoning deltas; stop strings and the grammar apply to the answer
only — while the model reasons it samples from a chain without the grammar, and the
grammar's chain sees its first token after the close tag.
"""

from __future__ import annotations

import codecs
import queue
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import llama_cpp as C
import numpy as np

from openmaas.engines.base import Finished, PreparedPrompt, SamplingParams
from openmaas.engines.decode_width import PrefillPacer, StepCosts
from openmaas.engines.fair_queue import FairQueue
from openmaas.engines.llama_runtime import Adapters, Batch, Pieces, Runtime, build_sampler
from openmaas.engines.llama_speculate import Speculator, common_prefix
from openmaas.engines.llamacpp import END
from openmaas.engines.reasoning import ReasoningOutput
from openmaas.errors import InternalFailure


class Job(Protocol):
    prompt: PreparedPrompt
    params: SamplingParams
    cancelled: threading.Event

    def emit(self, item: Any) -> None: ...


@dataclass
class Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV this sequence holds
    adapter: str | None = None
    busy: bool = False


@dataclass
class Sequence:
    job: Job
    slot: Slot
    feed: list[int]  # tokens to put into the KV cache next (prompt rest, then the last sample)
    sampler: Any
    output: ReasoningOutput
    thinking_sampler: Any = None  # the chain without the grammar, used until the answer begins
    banned: list[int] = field(default_factory=list)  # token ids the sampler may not pick
    seed: int = 0
    _rng: np.random.Generator | None = None
    utf8: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))
    produced: int = 0
    logits_at: int | None = None
    cached: int = 0  # prompt tokens whose KV the slot already held (reused, not prefilled)
    last_step: int = -1  # the step that last decoded it (the longest waiting goes first)

    @property
    def rng(self) -> np.random.Generator:
        """Speculative sampling's random source (seeded like the sampler chain)."""
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    def current_sampler(self) -> Any:
        if self.thinking_sampler is not None and not self.output.in_answer:
            return self.thinking_sampler
        return self.sampler


def stepping(active: list[Sequence], costs: StepCosts) -> list[Sequence]:
    """What the next step carries: every prefill, and as many decodes as the measured best
    width, longest-waiting first (a decode left out now goes first next step)."""
    decodes = [s for s in active if len(s.feed) == 1]
    width = costs.best_width(len(decodes))
    if width >= len(decodes):
        return active
    chosen = sorted(decodes, key=lambda s: (s.last_step, s.slot.seq_id))[:width]
    return [s for s in active if len(s.feed) != 1] + chosen


Forget = tuple[str, Future]  # an adapter path to free; the future gets whether it was loaded


def fill_order(active: list[Sequence]) -> list[Sequence]:
    """Running decodes before prompt chunks, each group in sequence-id order. With a KV cache
    per sequence, llama.cpp splits a batch whose tokens are out of sequence-id order into
    more micro-batches, i.e. more passes over the weights: once prefix reuse had handed
    requests slots out of arrival order, an 8-sequence step took 145 ms instead of 67."""
    return sorted(active, key=lambda s: (len(s.feed) > 1, s.slot.seq_id))


class Scheduler:
    def __init__(
        self,
        runtime: Runtime,
        jobs: FairQueue,
        banned_ids,
        forgets: queue.SimpleQueue[Forget],
        costs: StepCosts | None = None,
        speculator: Speculator | None = None,
    ) -> None:
        self._rt = runtime
        self._queue = jobs
        self._banned_ids = banned_ids  # texts -> token ids
        self._forgets = forgets  # adapters to free, from any thread
        self._forgetting: list[Forget] = []
        self._slots = [Slot(i) for i in range(runtime.slots)]
        self._active: list[Sequence] = []
        self._batch = Batch(runtime.n_batch)
        self._costs = costs or StepCosts.uniform(runtime.slots)
        self._steps = 0
        self._pieces = Pieces(runtime.vocab)
        self._adapters = Adapters(runtime)
        self._speculator = speculator  # drafts for a lone decoding stream (llama_speculate.py)
        self._prompt_turn = False  # decodes and prompt chunks alternate (_split_decodes_and_prompts)
        self._pacer = None
        if self._costs.prefill_chunk is not None:
            self._pacer = PrefillPacer(self._costs.prefill_seconds, self._costs.prefill_chunk)
        self._paced_tokens = 0  # prompt tokens of the current step, when it is a paced prompt step

    def run(self, stopping: threading.Event) -> None:
        try:
            while not stopping.is_set():
                self._forget_unused()
                self._admit()
                if self._active:
                    self._step()
        finally:
            for seq in list(self._active):
                self._drop(seq, InternalFailure("the engine is shutting down"))
            self._forget_unused()
            self._batch.free()
            self._adapters.free()
            if self._speculator is not None:
                self._speculator.close()

    # admission -----------------------------------------------------------------------------
    def _admit(self) -> None:
        wait = 0.2 if not self._active else 0
        while any(not s.busy for s in self._slots):
            job = self._queue.get(timeout=wait, accept=self._fits_adapter)
            wait = 0
            if job is None:
                return
            if job.cancelled.is_set():
                job.emit(END)
                continue
            try:
                self._start(job)
            except Exception as exc:  # a bad grammar or adapter fails this request only
                job.emit(exc if isinstance(exc, InternalFailure) else InternalFailure(str(exc)))
                job.emit(END)

    def _fits_adapter(self, job: Job) -> bool:
        return not self._active or job.params.adapter == self._adapters.current

    def _start(self, job: Job) -> None:
        if not self._active:
            self._adapters.use(job.params.adapter)
        prompt = list(job.prompt.tokens)
        slot = max(
            (s for s in self._slots if not s.busy),
            key=lambda s: common_prefix(s.cached, prompt) if s.adapter == job.params.adapter else -1,
        )
        keep = common_prefix(slot.cached, prompt) if slot.adapter == job.params.adapter else 0
        keep = min(keep, len(prompt) - 1)  # the last prompt token must be decoded for logits
        C.llama_memory_seq_rm(self._rt.memory, slot.seq_id, keep, -1)
        slot.cached, slot.adapter, slot.busy = prompt[:keep], job.params.adapter, True
        params = job.params
        seed = params.seed if params.seed is not None else random.getrandbits(31)
        banned = self._banned_ids(params.banned_texts)
        sampler = build_sampler(self._rt, params, seed, banned)
        output = ReasoningOutput(job.prompt.think, params.stop)
        thinking = None
        if params.grammar and not output.in_answer:
            thinking = build_sampler(self._rt, replace(params, grammar=None), seed, banned)
        self._active.append(
            Sequence(job, slot, prompt[keep:], sampler, output, thinking, banned, seed, cached=keep)
        )

    def _forget_unused(self) -> None:
        """Free adapters asked to be forgotten, except the one the running batch decodes with."""
        while not self._forgets.empty():  # checked every step: no exception on the common path
            self._forgetting.append(self._forgets.get_nowait())
        if not self._forgetting:
            return
        in_use = self._adapters.current if self._active else None
        waiting = []
        for path, done in self._forgetting:
            if path == in_use:
                waiting.append((path, done))
                continue
            for slot in self._slots:  # KV computed with the adapter is no prefix to reuse
                if slot.adapter == path:
                    slot.cached, slot.adapter = [], None
            done.set_result(self._adapters.forget(path))
        self._forgetting = waiting

    # one decode step -------------------------------------------------------------------------
    def _step(self) -> None:
        for seq in [s for s in self._active if s.job.cancelled.is_set()]:
            self._drop(seq, None)
        if not self._active or self._speculate():
            return
        lone = self._speculator is not None and len(self._active) == 1 and len(self._active[0].feed) == 1
        self._fill_batch()
        began = time.perf_counter()
        if self._batch.decode(self._rt) != 0:
            for seq in list(self._active):
                self._drop(seq, InternalFailure("llama.cpp could not decode the batch"))
            return
        if self._pacer is not None and self._paced_tokens:
            self._pacer.observe(self._paced_tokens, time.perf_counter() - began)
        if lone and self._speculator is not None:  # a plain step the drafts must beat
            self._speculator.policy.observe_time(1, time.perf_counter() - began, drafted=False)
        for seq in list(self._active):
            if seq.logits_at is not None:
                self._consume(seq, C.llama_sampler_sample(seq.current_sampler(), self._rt.ctx, seq.logits_at))

    def _speculate(self) -> bool:
        """A draft-and-verify round when one stream decodes alone without a grammar (a
        grammar's state cannot be rewound); False: nothing was drafted, decode plainly."""
        if self._speculator is None or len(self._active) != 1:
            return False
        seq = self._active[0]
        if len(seq.feed) != 1 or seq.job.params.grammar is not None:
            return False
        began = time.perf_counter()
        try:
            out = self._speculator.step(seq, self._batch, seq.job.params.max_tokens - seq.produced)
        except RuntimeError as exc:
            self._drop(seq, InternalFailure(str(exc)))
            return True
        if out is None:
            return False
        self._speculator.policy.observe_time(len(out), time.perf_counter() - began, drafted=True)
        self._steps += 1
        seq.last_step, seq.feed = self._steps, []
        for token in out:
            self._consume(seq, token)
            if seq not in self._active:  # finished: the rest of the draft is not output
                break
        return True

    def _fill_batch(self) -> None:
        """Running decodes (one token each, as many as pay on this CPU: `stepping`) and prompt
        chunks in the room left. While others decode, with a measured `prefill_chunk`, decode
        steps and prompt steps alternate instead (`_split_decodes_and_prompts`)."""
        batch, budget = self._batch, self._batch.capacity
        batch.clear()
        self._steps += 1
        for seq in self._active:
            seq.logits_at = None
        carried, budget = self._split_decodes_and_prompts(stepping(self._active, self._costs), budget)
        for seq in fill_order(carried):
            take = seq.feed[:budget]
            if len(seq.feed) == 1:
                seq.last_step = self._steps
            for i, token in enumerate(take):
                last = i == len(seq.feed) - 1
                index = batch.add(token, len(seq.slot.cached) + i, seq.slot.seq_id, last)
                if last:
                    seq.logits_at = index
            seq.slot.cached.extend(take)
            seq.feed = seq.feed[len(take) :]
            budget -= len(take)

    def _split_decodes_and_prompts(self, carried: list[Sequence], budget: int) -> tuple[list[Sequence], int]:
        """A whole-batch prompt chunk beside running decodes stalls them for seconds (a
        512-token chunk of the packaged 1.5B: 3.1 s), and mixing a short chunk into their step
        costs more than the two steps apart (a decode of another sequence splits llama.cpp's
        batch: +60-80 ms here). So while streams decode, a step either decodes them or
        prefills prompt tokens that fit in the measured chunk, in turn: their gaps stay near
        one chunk's time, and the prompt keeps most of its prefill speed."""
        self._paced_tokens = 0
        decodes = [s for s in carried if len(s.feed) == 1]
        prompts = [s for s in carried if len(s.feed) != 1]
        if self._pacer is None or not decodes or not prompts:
            return carried, budget
        self._prompt_turn = not self._prompt_turn
        if not self._prompt_turn:
            return decodes, budget
        self._paced_tokens = min(budget, self._pacer.chunk, sum(len(s.feed) for s in prompts))
        return prompts, self._paced_tokens

    def _consume(self, seq: Sequence, token: int) -> None:
        if C.llama_vocab_is_eog(self._rt.vocab, token):
            self._finish(seq, "stop")
            return
        seq.produced += 1
        for event in seq.output.feed(seq.utf8.decode(self._pieces(token))):
            seq.job.emit(event)
        if seq.output.stopped:
            self._finish(seq, "stop")
        elif seq.produced >= seq.job.params.max_tokens:
            self._finish(seq, "length")
        else:
            seq.feed = [token]

    # leaving ---------------------------------------------------------------------------------
    def _finish(self, seq: Sequence, reason: str) -> None:
        output = seq.output
        if not output.stopped:
            if tail := seq.utf8.decode(b"", final=True):
                for event in output.feed(tail, 0):
                    seq.job.emit(event)
            for event in output.flush():
                seq.job.emit(event)
        seq.job.emit(
            Finished(
                reason,
                seq.job.prompt.token_count,
                seq.produced,
                output.reasoning_tokens,
                stop_sequence=output.stop_sequence,
                cached_tokens=seq.cached,
            )
        )
        self._release(seq)
        seq.job.emit(END)

    def _drop(self, seq: Sequence, error: Exception | None) -> None:
        if error is not None:
            seq.job.emit(error)
        self._release(seq)
        seq.job.emit(END)

    def _release(self, seq: Sequence) -> None:
        C.llama_sampler_free(seq.sampler)
        if seq.thinking_sampler is not None:
            C.llama_sampler_free(seq.thinking_sampler)
        seq.slot.busy = False
        self._active.remove(seq)
